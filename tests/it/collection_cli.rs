//! `chronomap train`, `predict` and `evaluate` on a collection of synthetic cities, as a
//! user (or an array job) runs them: held-out city, sharded prediction in separate processes,
//! idempotent outputs, one broken city not stopping the others.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{ok, s};

/// Every file under `dir` (relative path -> bytes).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("under dir").to_path_buf();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    out
}

fn predict_args<'a>(run: &'a Path, data: &'a Path, out: &'a Path) -> Vec<&'a str> {
    vec![
        "predict",
        "--model",
        s(run),
        "--data",
        s(data),
        "--out",
        s(out),
        "--device",
        "flex",
        "--window",
        "32",
        "--no-png",
    ]
}

#[test]
fn collection_train_sharded_predict_evaluate() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let world = d.join("cities");
    ok(&["synth", "--out", s(&world), "--cities", "3", "--size", "64"]);
    let collection = world.join("collection.json");
    // Names in collection order: saint-louis, luanda, montreal (SYNTH_CITIES).
    let run = d.join("run");
    ok(&[
        "train",
        "--data",
        s(&collection),
        "--out",
        s(&run),
        "--held-out",
        "montreal",
        "--hold-out-dates",
        "last-of-each-year",
        "--residual",
        "--preset",
        "quick",
        "--device",
        "flex",
        "--epochs",
        "1",
        "--patch",
        "16",
        "--windows-per-epoch",
        "8",
    ]);
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).expect("config"))
            .expect("json");
    let roles: Vec<(&str, &str)> = config["data"]["series"]
        .as_array()
        .expect("series record")
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("saint-louis", "train"),
            ("luanda", "train"),
            ("montreal", "held_out")
        ]
    );
    assert_eq!(config["model"]["residual"], serde_json::json!(true));

    // One run over every city...
    let all = d.join("all");
    let stdout = ok(&predict_args(&run, &collection, &all));
    for city in ["saint-louis", "luanda", "montreal"] {
        assert!(
            all.join(city).join("chronomap-predict.json").is_file(),
            "{city}"
        );
        assert!(stdout.contains(city), "{stdout}");
    }
    // ... equals two shards run as separate processes, byte for byte. Sorted names are
    // luanda, montreal, saint-louis: shard 0/2 takes luanda and saint-louis, 1/2 montreal.
    let sharded = d.join("sharded");
    let mut a0 = predict_args(&run, &collection, &sharded);
    a0.extend(["--shard", "0/2", "--dry-run"]);
    let listed = ok(&a0);
    assert!(
        listed.contains("luanda to do") && listed.contains("saint-louis to do"),
        "{listed}"
    );
    assert!(!listed.contains("montreal"), "{listed}");
    a0.pop();
    ok(&a0);
    // Shard 1 from Slurm's variables (array 1-2: task 2 is shard 1).
    let out = Command::new(env!("CARGO_BIN_EXE_chronomap"))
        .args(predict_args(&run, &collection, &sharded))
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "2")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 1/2: 1 of 3 series"));
    let (one, two) = (tree(&all), tree(&sharded));
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        two.keys().collect::<Vec<_>>()
    );
    for (k, v) in &one {
        assert!(
            two[k] == *v,
            "{} differs between 1 run and 2 shards",
            k.display()
        );
    }

    // Idempotent: complete cities are skipped; a city missing a map is redone.
    let err = String::from_utf8_lossy(
        &Command::new(env!("CARGO_BIN_EXE_chronomap"))
            .args(&a0)
            .output()
            .expect("run")
            .stderr,
    )
    .into_owned();
    assert!(err.contains("luanda: complete, skipped"), "{err}");
    let gone = std::fs::read_dir(sharded.join("luanda"))
        .expect("maps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("_fused.tif"))
        .expect("a fused map");
    std::fs::remove_file(&gone).expect("rm");
    let out = Command::new(env!("CARGO_BIN_EXE_chronomap"))
        .args(&a0)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("luanda: complete"),
        "{err}"
    );
    assert!(err.contains("saint-louis: complete, skipped"), "{err}");
    assert_eq!(
        std::fs::read(&gone).expect("redone"),
        one[gone.strip_prefix(&sharded).unwrap()]
    );

    // Streaming over a collection: 2016 with one state per city, then update folds 2020 in.
    let states = d.join("states");
    let y2016 = d.join("y2016");
    let mut head = predict_args(&run, &collection, &y2016);
    head.extend(["--dates", "2016", "--state-out", s(&states)]);
    ok(&head);
    let upd = d.join("upd");
    let out = ok(&[
        "update",
        "--model",
        s(&run),
        "--state",
        s(&states),
        "--data",
        s(&collection),
        "--out",
        s(&upd),
        "--device",
        "flex",
        "--no-png",
    ]);
    for city in ["saint-louis", "luanda", "montreal"] {
        assert!(states.join(city).is_dir(), "{city}");
        let fused = std::fs::read_dir(upd.join(city))
            .expect("update maps")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with("_fused.tif"))
            })
            .count();
        assert!(fused >= 3, "{city}: {fused} fused maps of 2020");
    }
    assert_eq!(out.matches("state ").count(), 3, "{out}");

    // Scores per city and for the collection; the held-out city comes from the run's record.
    let table = ok(&[
        "evaluate",
        "--maps",
        s(&all),
        "--data",
        s(&collection),
        "--model",
        s(&run),
    ]);
    assert!(
        table.contains("montreal") && table.contains("held out"),
        "{table}"
    );
    assert!(
        table.contains("held-out series") && table.contains("date position 0"),
        "{table}"
    );
    let ev: serde_json::Value =
        serde_json::from_slice(&std::fs::read(all.join("evaluation.json")).expect("json"))
            .expect("json");
    let held: Vec<&str> = ev["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["held_out_series"] == serde_json::json!(true))
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(held, ["montreal"]);
    // The pooled held-out scores are montreal's own (one held-out series).
    let m = &ev["series"][2];
    assert_eq!(
        ev["held_out_series"]["pixel_pooled"]["fused"],
        m["fused"]["miou"]
    );
    let csv = std::fs::read_to_string(all.join("evaluation.csv")).expect("csv");
    assert!(csv.lines().count() > 3 && csv.starts_with("series,held_out_series,date"));
    // The confusion picture and the self-contained report next to them.
    let png = std::fs::read(all.join("confusion.png")).expect("confusion.png");
    assert!(png.starts_with(b"\x89PNG"));
    let html = std::fs::read_to_string(all.join("report.html")).expect("report.html");
    assert!(
        html.contains("montreal") && html.contains("data:image/png;base64,"),
        "report.html"
    );
    assert!(!html.contains("http://") && !html.contains("https://"));

    // One broken city: the others are mapped, the exit status says "fatal" (65).
    let broken = d.join("broken");
    copy_dir(&world, &broken);
    let victim = std::fs::read_dir(broken.join("luanda"))
        .expect("city")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "tif"))
        .find(|p| !p.to_string_lossy().contains("label"))
        .expect("an image");
    let bytes = std::fs::read(&victim).expect("read");
    // Keep the header and directory (written first), lose the pixel data.
    let cut = bytes.len() / 3;
    std::fs::write(&victim, &bytes[..cut]).expect("cut");
    let out_b = d.join("out_broken");
    let broken_c = broken.join("collection.json");
    let out = Command::new(env!("CARGO_BIN_EXE_chronomap"))
        .args(predict_args(&run, &broken_c, &out_b))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("luanda") && err.contains("fatal"), "{err}");
    assert!(
        out_b.join("saint-louis/chronomap-predict.json").is_file(),
        "{err}"
    );
    assert!(
        out_b.join("montreal/chronomap-predict.json").is_file(),
        "{err}"
    );
    assert!(
        !out_b.join("luanda/chronomap-predict.json").exists(),
        "{err}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read") {
        let p = e.expect("entry").path();
        let dst = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            std::fs::copy(&p, &dst).expect("copy");
        }
    }
}
