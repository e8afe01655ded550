//! `chronomap info` (being built; see the issue tracker).

/// Options of `chronomap info`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap info`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap info` is not available in this build yet")
}
