//! `chronomap bench` runs as a user runs it and writes the JSON that
//! `benches/pytorch/compare.py` reads.

use crate::cli::chronomap;

/// A tiny network (base 8, depth 2, hidden 4) on B=1, T=2, 32x32 and a 48x64 scene: every
/// workload runs once and the report holds the twin's field names.
#[test]
fn bench_writes_the_report_the_comparison_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.json");
    let out = chronomap(&[
        "bench",
        "--device",
        "cpu",
        "--tiny",
        "--size",
        "32",
        "--batch",
        "1",
        "--time",
        "2",
        "--scene",
        "48x64",
        "--overlap",
        "4",
        "--warmup",
        "0",
        "--iters",
        "1",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "chronomap bench failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["framework"], "chronomap");
    assert_eq!(
        (json["batch"].as_u64(), json["time"].as_u64()),
        (Some(1), Some(2))
    );
    // `net_gflop` of benches/pytorch/chronomap_torch.py with in_ch 4, classes 5, base 8,
    // depth 2, hidden 4, batch 1, time 2 at 32x32: 0.03137536.
    let gflop = json["gflop_forward"].as_f64().unwrap();
    assert!((gflop - 0.03137536).abs() < 1e-12, "{gflop}");
    let flex = &json["results"]["flex"];
    for w in ["eval_forward", "train_step", "scene"] {
        let r = &flex[w];
        let median = r["median_s"].as_f64().unwrap_or(0.0);
        assert!(median > 0.0, "{w}: {r}");
        assert_eq!(r["n"], 1, "{w}");
        assert!(r["min_s"].as_f64() <= Some(median) && r["max_s"].as_f64() >= Some(median));
        if cfg!(target_os = "linux") {
            assert!(r["peak_rss_mb"].as_f64().unwrap_or(0.0) > 1.0, "{w}: {r}");
        }
    }
    // Windows of 32 px with >= 4 px overlap: rows start at 0, 16 and columns at 0, 16, 32
    // (the PyTorch twin's planner gives the same 2 x 3 grid).
    let scene = &flex["scene"];
    assert_eq!(scene["windows"], 6);
    // Mpx/s = 48 * 64 * 2 / 1e6 / seconds.
    let mpx = scene["mpx_per_s"].as_f64().unwrap() * scene["median_s"].as_f64().unwrap();
    assert!((mpx - 48.0 * 64.0 * 2.0 / 1e6).abs() < 1e-9, "{mpx}");
}

#[test]
fn bench_rejects_a_size_the_network_cannot_take() {
    let out = chronomap(&["bench", "--device", "cpu", "--tiny", "--size", "30"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("size 30") && err.contains("multiple of 2^depth = 4"),
        "{err}"
    );
}

#[test]
fn bench_rejects_an_unknown_device() {
    let out = chronomap(&["bench", "--device", "tpu", "--tiny", "--size", "32"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"tpu\"") && err.contains("flex"), "{err}");
}
