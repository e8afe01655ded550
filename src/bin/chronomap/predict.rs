//! `chronomap predict` (being built; see the issue tracker).

/// Options of `chronomap predict`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap predict`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap predict` is not available in this build yet")
}
