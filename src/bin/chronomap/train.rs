//! `chronomap train` (being built; see the issue tracker).

/// Options of `chronomap train`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap train`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap train` is not available in this build yet")
}
