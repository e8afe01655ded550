//! integration tests

mod bench_cli;
mod cli;
mod crash;
mod geo_cli;
mod hostile;
mod train_cli;
mod wgpu;
