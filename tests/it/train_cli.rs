//! `chronomap train`, `predict`, `update`, `evaluate`, `change` run as a user runs them, on a
//! tiny synthetic world.

use crate::cli::{fails, ok, s, tiny_train_args, tiny_world};

use chronomap::geo::{
    GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, write_geotiff,
};

#[test]
fn train_predict_update_evaluate_change() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let manifest = tiny_world(d, 5);
    let world = d.join("world");
    let run = d.join("run");
    let train_args = tiny_train_args(&manifest, &run, 1);
    let train: Vec<&str> = train_args.iter().map(String::as_str).collect();
    ok(&train);
    assert!(run.join("best/model.json").is_file() && run.join("curves.png").is_file());
    // A second run in the same folder is refused unless resumed or overwritten.
    let err = fails(&train);
    assert!(err.contains("--resume") && err.contains("run"), "{err}");

    // Whole 2020 series at once, and 2020 minus its last date + a streaming update.
    let all = d.join("all");
    ok(&[
        "predict",
        "--model",
        s(&run),
        "--data",
        s(&manifest),
        "--out",
        s(&all),
        "--dates",
        "2020",
        "--device",
        "flex",
        "--window",
        "32",
    ]);
    let dates: Vec<String> = std::fs::read_dir(&all)
        .expect("maps")
        .filter_map(|e| {
            let n = e.ok()?.file_name().to_string_lossy().into_owned();
            n.strip_suffix("_fused.tif").map(str::to_string)
        })
        .collect();
    let mut dates = dates;
    dates.sort();
    assert_eq!(dates.len(), 3, "{dates:?}");
    let head = format!("{},{}", dates[0], dates[1]);
    let state = d.join("state");
    ok(&[
        "predict",
        "--model",
        s(&run),
        "--data",
        s(&manifest),
        "--out",
        s(&d.join("head")),
        "--dates",
        &head,
        "--device",
        "flex",
        "--window",
        "32",
        "--state-out",
        s(&state),
        "--no-png",
    ]);
    let upd = d.join("upd");
    let out = ok(&[
        "update",
        "--model",
        s(&run),
        "--state",
        s(&state),
        "--data",
        s(&manifest),
        "--out",
        s(&upd),
        "--device",
        "flex",
    ]);
    assert!(out.contains(&dates[2]), "{out}");
    let name = format!("{}_fused.tif", dates[2]);
    let a = GeoTiffReader::open(all.join(&name))
        .expect("batch map")
        .read_all()
        .expect("read");
    let b = GeoTiffReader::open(upd.join(&name))
        .expect("updated map")
        .read_all()
        .expect("read");
    assert_eq!(
        a, b,
        "streaming update differs from the whole-series prediction"
    );
    // class and probability maps are Cloud-Optimized GeoTIFFs (GDAL's ghost area after the
    // 8-byte header)
    let mut tifs = 0;
    for entry in std::fs::read_dir(&all).expect("maps") {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "tif") {
            let head = std::fs::read(&p).expect("map");
            assert!(
                head[8..].starts_with(b"GDAL_STRUCTURAL_METADATA_SIZE="),
                "{} is not a COG",
                p.display()
            );
            tifs += 1;
        }
    }
    assert!(tifs >= 2, "no maps in {}", all.display());

    // Evaluate the fused map against the 2020 labels.
    let labels = world.join("labels_2020.tif");
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "evaluate",
        "--pred",
        s(&all.join(&name)),
        "--labels",
        s(&labels),
        "--model",
        s(&run),
        "--json",
    ]))
    .expect("json");
    assert!(
        json["metrics"]["overall_accuracy"].as_f64().is_some(),
        "{json}"
    );
    assert_eq!(
        json["metrics"]["per_class"].as_array().map(Vec::len),
        Some(5)
    );

    // A map on another grid: the error names both files.
    let other = d.join("shifted.tif");
    let spec = RasterSpec::new(64, 64, 1, SampleType::U8)
        .with_geotransform(GeoTransform::north_up(0.0, 0.0, 10.0))
        .with_epsg(32628);
    write_geotiff(&other, &spec, RasterData::U8(&[0u8; 64 * 64])).expect("write");
    let err = fails(&["evaluate", "--pred", s(&other), "--labels", s(&labels)]);
    assert!(
        err.contains("shifted.tif") && err.contains("labels_2020.tif"),
        "{err}"
    );

    // Change map 2016 -> 2020 from the fused maps of the last dates.
    let y16 = d.join("y16");
    ok(&[
        "predict",
        "--model",
        s(&run),
        "--data",
        s(&manifest),
        "--out",
        s(&y16),
        "--dates",
        "2016",
        "--maps",
        "last",
        "--device",
        "flex",
        "--no-png",
    ]);
    let before = std::fs::read_dir(&y16)
        .expect("maps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("_fused.tif"))
        .expect("2016 fused map");
    let change = d.join("change.tif");
    let out = ok(&[
        "change",
        "--before",
        s(&before),
        "--after",
        s(&all.join(&name)),
        "--out",
        s(&change),
        "--model",
        s(&run),
    ]);
    assert!(out.contains("hectares"), "{out}");
    for ext in ["tif", "csv", "png"] {
        assert!(change.with_extension(ext).is_file(), "change.{ext} missing");
    }
    // the change map is a Cloud-Optimized GeoTIFF too
    let head = std::fs::read(&change).expect("change map");
    assert!(head[8..].starts_with(b"GDAL_STRUCTURAL_METADATA_SIZE="));
}

/// `train --devices flex,flex`: data-parallel over two replicas (the CPU has one device, so
/// both are Flex; the split and gradient sum are what a multi-GPU node runs, and
/// `parallel::tests::data_parallel_step_equals_the_full_batch_step` proves them equal to the
/// full-batch step). A device index that does not exist is refused before any work.
#[test]
fn train_data_parallel_over_two_devices() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let manifest = tiny_world(d, 9);
    let run = d.join("run");
    let mut args = tiny_train_args(&manifest, &run, 1);
    args.extend(["--devices".to_string(), "flex,flex".to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = crate::cli::chronomap(&argv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("data-parallel over 2 devices"), "{err}");
    assert!(run.join("best/model.json").is_file());

    let mut args = tiny_train_args(&manifest, &d.join("run2"), 1);
    args.extend(["--devices".to_string(), "flex,flex:1".to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = fails(&argv);
    assert!(err.contains("flex:1"), "{err}");
}
