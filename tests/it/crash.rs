//! Issue 10: `kill -9` at random points of `chronomap train` (also while a checkpoint is being
//! written) and of `chronomap predict` (also while a GeoTIFF is being written). After every
//! kill, nothing a reader would pick up is corrupt or half-written, and the next run removes
//! what the killed one left. Resuming (train) finishes with a loadable model; running again
//! (predict) gives outputs byte-identical to an uninterrupted run.
//!
//! Determinism checked here: with the same binary and the same thread count
//! (`RAYON_NUM_THREADS`), two uninterrupted training runs write byte-identical model files,
//! and so does a run killed again and again and resumed from its checkpoints.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{s, tiny_train_args, tiny_world};
use chronomap::geo::GeoTiffReader;
use chronomap::train::{latest_checkpoint, load_model_dir};

/// The thread count every process of these tests uses (results depend on it).
const THREADS: &str = "2";

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_chronomap"))
        .args(args)
        .env("RAYON_NUM_THREADS", THREADS)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chronomap")
}

/// Runs to completion; panics on failure.
fn run(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_chronomap"))
        .args(args)
        .env("RAYON_NUM_THREADS", THREADS)
        .output()
        .expect("run chronomap");
    assert!(
        out.status.success(),
        "chronomap {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a kill waits for.
enum Trigger {
    /// A fixed delay after the start.
    After(Duration),
    /// The first time `busy` sees a write in progress (polled every 200 us), or `limit`.
    Writing(Duration),
}

/// Starts `args` and SIGKILLs it on `trigger`; returns whether it was killed while still
/// running (`false`: it had already finished).
fn run_and_kill(args: &[&str], trigger: &Trigger, busy: &dyn Fn() -> bool) -> bool {
    let mut child = spawn(args);
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(
                status.success(),
                "chronomap {args:?} failed before the kill"
            );
            return false;
        }
        let fire = match trigger {
            Trigger::After(d) => start.elapsed() >= *d,
            Trigger::Writing(limit) => busy() || start.elapsed() >= *limit,
        };
        if fire {
            child.kill().expect("SIGKILL");
            let status = child.wait().expect("reap");
            return !status.success();
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Names in `dir` (recursively) that look like writes in progress.
fn temp_entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp") || name.ends_with(".tmp") || name.contains(".tmp-") {
            out.push(p.clone());
        }
        if p.is_dir() {
            out.extend(temp_entries(&p));
        }
    }
    out
}

fn argv(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn bytes(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every model folder of the run that a reader would use loads, and every JSON parses.
fn check_run_readable(run: &Path) {
    for sub in ["best", "last"] {
        let dir = run.join(sub);
        if dir.exists() || run.join(format!("{sub}.old")).exists() {
            load_model_dir(&dir, &chronomap::burn::prelude::Device::flex())
                .unwrap_or_else(|e| panic!("{sub}/ after a kill: {e}"));
        }
    }
    if let Some(ck) = latest_checkpoint(run).expect("list checkpoints") {
        load_model_dir(&ck, &chronomap::burn::prelude::Device::flex())
            .unwrap_or_else(|e| panic!("checkpoint {} after a kill: {e}", ck.display()));
        let state: serde_json::Value =
            serde_json::from_slice(&bytes(&ck.join("state.json"))).expect("state.json parses");
        assert!(state.is_object());
    }
    for name in ["config.json", "metrics.json", "normalization.json"] {
        let p = run.join(name);
        if p.exists() {
            serde_json::from_slice::<serde_json::Value>(&bytes(&p))
                .unwrap_or_else(|e| panic!("{name} after a kill: {e}"));
        }
    }
}

/// Every GeoTIFF under its final name opens and reads completely, every PNG decodes.
fn check_maps_readable(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // a temporary file: never read by chronomap or listed as an output
        }
        if name.ends_with(".tif") {
            let r = GeoTiffReader::open(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            r.read_all().unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.ends_with(".png") {
            // complete: the signature, and the IEND chunk (length 0, CRC AE426082) at the end
            let b = bytes(&p);
            assert!(
                b.starts_with(b"\x89PNG\r\n\x1a\n")
                    && b.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]),
                "{name} is not a complete PNG"
            );
        }
    }
}

/// Final outputs of a map folder: name -> bytes (temporary files excluded).
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("maps")
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                bytes(&e.path()),
            )
        })
        .collect();
    v.sort();
    v
}

/// Kill points spread over `total`, from a fixed seed (splitmix64), so a failure reproduces.
fn kill_delays(total: Duration, n: usize, seed: u64) -> Vec<Duration> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let u = (z ^ (z >> 31)) as f64 / u64::MAX as f64;
            total.mul_f64(0.05 + 0.9 * u)
        })
        .collect()
}

/// `random` kills at seeded delays spread over `total`, then 3 kills aimed at writes in
/// progress (see [`Trigger`]).
fn triggers(total: Duration, random: usize, seed: u64) -> Vec<Trigger> {
    let mut t: Vec<Trigger> = kill_delays(total, random, seed)
        .into_iter()
        .map(Trigger::After)
        .collect();
    t.extend((0..3).map(|_| Trigger::Writing(total)));
    t
}

/// Runs `args()` once per trigger, killing it then, and calls `check` after each run.
/// Returns the kills that hit a running process, and how many of them left a write in
/// progress behind (`busy` still true after the kill).
fn kill_repeatedly(
    triggers: &[Trigger],
    args: &dyn Fn() -> Vec<String>,
    busy: &dyn Fn() -> bool,
    check: &dyn Fn(),
) -> (usize, usize) {
    let (mut kills, mut during_writes) = (0, 0);
    for trig in triggers {
        if run_and_kill(&argv(&args()), trig, busy) {
            kills += 1;
            during_writes += usize::from(busy());
        }
        check();
    }
    (kills, during_writes)
}

#[test]
fn kill_9_during_train_and_predict_leaves_nothing_corrupt_and_resumes() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let manifest = tiny_world(d, 11);
    let train = |out: &Path, resume: bool| -> Vec<String> {
        let mut a = tiny_train_args(&manifest, out, 2);
        if resume {
            a.push("--resume".into());
        }
        a
    };

    // The reference: one uninterrupted run, timed; a second one proves it reproduces.
    let reference = d.join("ref");
    let t = Instant::now();
    run(&argv(&train(&reference, false)));
    let total = t.elapsed();
    let again = d.join("again");
    run(&argv(&train(&again, false)));
    for f in ["best/model.bpk", "last/model.bpk"] {
        assert!(
            bytes(&reference.join(f)) == bytes(&again.join(f)),
            "{f}: two uninterrupted runs differ (same machine, {THREADS} threads)"
        );
    }

    // Killed runs: random delays, then kills aimed at checkpoint writes.
    let cut = d.join("cut");
    let ck_busy = || {
        !temp_entries(&cut.join("checkpoints")).is_empty()
            || std::fs::read_dir(&cut).is_ok_and(|es| {
                es.flatten().any(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.contains(".tmp") || n.ends_with(".old")
                })
            })
    };
    let (kills, during_writes) = kill_repeatedly(
        &triggers(total, 5, 10),
        &|| train(&cut, latest_checkpoint(&cut).ok().flatten().is_some()),
        &ck_busy,
        &|| check_run_readable(&cut),
    );
    let resume = latest_checkpoint(&cut).expect("list").is_some();
    run(&argv(&train(&cut, resume)));
    eprintln!(
        "train: {kills} kills ({during_writes} with a write in progress), reference run {:.1} s",
        total.as_secs_f64()
    );
    assert!(
        kills >= 4,
        "only {kills} of the kills hit a running process"
    );
    let left = temp_entries(&cut);
    assert!(left.is_empty(), "left behind after the final run: {left:?}");
    // The resumed run ends where the uninterrupted one does, byte for byte: weights and the
    // batch norms' running statistics (these differed until checkpoints synced Burn's
    // pending running-state update before saving).
    for f in ["best/model.bpk", "last/model.bpk"] {
        assert!(
            bytes(&reference.join(f)) == bytes(&cut.join(f)),
            "{f}: the killed and resumed run differs from the uninterrupted one"
        );
    }
    load_model_dir(&cut.join("best"), &chronomap::burn::prelude::Device::flex())
        .expect("the resumed run's best model loads");

    // Prediction: kill during GeoTIFF writes, run again, compare with an uninterrupted run.
    let predict = |out: &Path| -> Vec<String> {
        [
            "predict",
            "--model",
            s(&reference),
            "--data",
            s(&manifest),
            "--out",
            s(out),
            "--dates",
            "2020",
            "--device",
            "flex",
            "--window",
            "32",
            "--probs",
            "all",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let maps_ref = d.join("maps_ref");
    let t = Instant::now();
    run(&argv(&predict(&maps_ref)));
    let total = t.elapsed();
    let maps = d.join("maps");
    let busy = || !temp_entries(&maps).is_empty();
    let (kills, during_writes) =
        kill_repeatedly(&triggers(total, 4, 20), &|| predict(&maps), &busy, &|| {
            check_maps_readable(&maps)
        });
    run(&argv(&predict(&maps)));
    eprintln!(
        "predict: {kills} kills ({during_writes} with a write in progress), reference run {:.2} s",
        total.as_secs_f64()
    );
    assert!(
        kills >= 3,
        "only {kills} of the kills hit a running process"
    );
    let left = temp_entries(&maps);
    assert!(left.is_empty(), "left behind after the final run: {left:?}");
    let (a, b) = (outputs(&maps_ref), outputs(&maps));
    assert_eq!(
        a.iter().map(|x| &x.0).collect::<Vec<_>>(),
        b.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name}: differs from the uninterrupted prediction");
    }
}
