//! integration tests

mod geo_cli;
