//! integration tests

mod bench_cli;
mod geo_cli;
mod wgpu;
