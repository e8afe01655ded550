//! Running the `chronomap` binary from the integration tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `chronomap ARGS` and returns what it printed and its status.
pub fn chronomap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chronomap"))
        .args(args)
        .output()
        .expect("run chronomap")
}

/// Runs `chronomap ARGS`, which must succeed; returns its standard output.
pub fn ok(args: &[&str]) -> String {
    let out = chronomap(args);
    assert!(
        out.status.success(),
        "chronomap {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `chronomap ARGS`, which must fail; returns its standard error.
pub fn fails(args: &[&str]) -> String {
    let out = chronomap(args);
    assert!(!out.status.success(), "chronomap {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
