//! integration tests

mod bench_cli;
mod cli;
mod collection_cli;
mod crash;
mod geo_cli;
mod hostile;
mod series_cli;
mod train_cli;
mod wgpu;
