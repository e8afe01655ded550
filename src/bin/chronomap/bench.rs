//! `chronomap bench` (being built; see the issue tracker).

/// Options of `chronomap bench`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap bench`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap bench` is not available in this build yet")
}
