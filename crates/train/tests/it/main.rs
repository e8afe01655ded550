//! Integration tests of chronomap-train on real files: the tiny synthetic world (64 x 64 px,
//! 2 years x 3 dates) written by `chronomap_data::testkit`; and the HTML report as headless
//! Chromium renders it (`report.rs`).

mod collection;
mod memory;
mod procedural;
mod report;
mod world;
