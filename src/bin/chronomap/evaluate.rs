//! `chronomap evaluate` (being built; see the issue tracker).

/// Options of `chronomap evaluate`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap evaluate`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap evaluate` is not available in this build yet")
}
