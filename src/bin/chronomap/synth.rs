//! `chronomap synth` (being built; see the issue tracker).

/// Options of `chronomap synth`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap synth`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap synth` is not available in this build yet")
}
