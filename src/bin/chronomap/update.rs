//! `chronomap update` (being built; see the issue tracker).

/// Options of `chronomap update`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap update`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap update` is not available in this build yet")
}
