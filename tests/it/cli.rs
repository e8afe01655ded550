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

/// Writes the tiny synthetic world the CLI tests train on (64 x 64 px, 3 dates per year)
/// under `dir/world`; returns its manifest.
pub fn tiny_world(dir: &Path, seed: u64) -> std::path::PathBuf {
    let world = dir.join("world");
    ok(&[
        "synth",
        "--out",
        s(&world),
        "--size",
        "64",
        "--dates-per-year",
        "3",
        "--seed",
        &seed.to_string(),
    ]);
    world.join("manifest.json")
}

/// `chronomap train` arguments for a tiny run on `manifest` (quick preset, Flex, 16 px
/// patches, 8 windows per epoch, `epochs` per stage) into `out`.
pub fn tiny_train_args(manifest: &Path, out: &Path, epochs: usize) -> Vec<String> {
    [
        "train",
        "--data",
        s(manifest),
        "--out",
        s(out),
        "--preset",
        "quick",
        "--device",
        "flex",
        "--epochs",
        &epochs.to_string(),
        "--patch",
        "16",
        "--windows-per-epoch",
        "8",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}
