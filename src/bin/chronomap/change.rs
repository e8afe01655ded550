//! `chronomap change` (being built; see the issue tracker).

/// Options of `chronomap change`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap change`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap change` is not available in this build yet")
}
