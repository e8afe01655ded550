//! integration tests

mod geo_cli;
mod wgpu;
