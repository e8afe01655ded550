//! `chronomap rasterize` (being built; see the issue tracker).

/// Options of `chronomap rasterize`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `chronomap rasterize`.
pub fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`chronomap rasterize` is not available in this build yet")
}
