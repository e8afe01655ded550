//! Hostile and broken files through the commands a user runs (issue 10): each command fails
//! with a typed error that names the file, exits with status 1 (never a signal, never a
//! panic's 101), and leaves no output behind.

use std::path::Path;

use crate::cli::{chronomap, ok, s, tiny_train_args, tiny_world};

/// The 170-byte classic TIFF a user hit: 10^6 x 10^6 u8 pixels declared in one uncompressed
/// strip holding 1 byte (`chronomap info` used to abort allocating 10^12 bytes).
fn giant_header() -> Vec<u8> {
    // tag, type (3 SHORT, 4 LONG), value; 9 entries, sorted; data right after the IFD
    let data_at = 8 + 2 + 9 * 12 + 4;
    let entries: [(u16, u16, u32); 9] = [
        (256, 4, 1_000_000), // ImageWidth
        (257, 4, 1_000_000), // ImageLength
        (258, 3, 8),         // BitsPerSample
        (259, 3, 1),         // Compression: none
        (262, 3, 1),         // Photometric: min-is-black
        (273, 4, data_at),   // StripOffsets
        (277, 3, 1),         // SamplesPerPixel
        (278, 4, 1_000_000), // RowsPerStrip
        (279, 4, 1),         // StripByteCounts: 1 byte
    ];
    let mut b = b"II*\0".to_vec();
    b.extend_from_slice(&8u32.to_le_bytes());
    b.extend_from_slice(&9u16.to_le_bytes());
    for (tag, t, v) in entries {
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&t.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        if t == 3 {
            b.extend_from_slice(&(v as u16).to_le_bytes());
            b.extend_from_slice(&[0, 0]);
        } else {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    b.extend_from_slice(&0u32.to_le_bytes());
    b.push(7);
    b.resize(170, 0);
    b
}

/// Runs `chronomap ARGS`, which must fail cleanly (exit status 1) with a message naming
/// `file` and containing `needle`; returns its standard error.
fn fails_naming(args: &[&str], file: &str, needle: &str) -> String {
    let out = chronomap(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "chronomap {args:?}: {:?}\n{err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(file), "the error does not name {file}:\n{err}");
    assert!(err.contains(needle), "no {needle:?} in:\n{err}");
    err
}

#[test]
fn hostile_files_give_typed_errors_from_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.tif");
    std::fs::write(&huge, giant_header()).unwrap();
    let err = fails_naming(&["info", s(&huge)], "huge.tif", "need 1000000000000 bytes");
    eprintln!("info huge.tif:\n{err}");
    let osm = dir.path().join("a.osm");
    std::fs::write(&osm, "<osm version='0.6'></osm>").unwrap();
    let labels = dir.path().join("labels.tif");
    fails_naming(
        &[
            "rasterize",
            s(&osm),
            "--like",
            s(&huge),
            "--out",
            s(&labels),
        ],
        "huge.tif",
        "need 1000000000000 bytes",
    );
    assert!(!labels.exists());

    // a series with a hostile date and one with a truncated download
    let manifest = tiny_world(dir.path(), 3);
    let world = manifest.parent().unwrap();
    let run = dir.path().join("run");
    ok(&tiny_train_args(&manifest, &run, 1)
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>());
    let mut images: Vec<_> = std::fs::read_dir(world)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.starts_with("S2_2020") && !n.contains("cloud")
        })
        .collect();
    images.sort();
    let victim = images.last().unwrap().clone();
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    let original = std::fs::read(&victim).unwrap();
    for (what, bytes, needle) in [
        ("giant header", giant_header(), "need 1000000000000 bytes"),
        // chronomap's writer puts the IFD last, so half the file lacks it
        (
            "truncated",
            original[..original.len() / 2].to_vec(),
            "truncated: IFD",
        ),
    ] {
        std::fs::write(&victim, &bytes).unwrap();
        let train_out = dir.path().join(format!("train-{}", what.replace(' ', "-")));
        let err = fails_naming(
            &tiny_train_args(&manifest, &train_out, 1)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            &name,
            needle,
        );
        eprintln!("train with a {what} date:\n{err}");
        let out = dir.path().join(format!("maps-{}", what.replace(' ', "-")));
        let err = fails_naming(
            &[
                "predict",
                "--model",
                s(&run.join("best")),
                "--data",
                s(&manifest),
                "--out",
                s(&out),
                "--dates",
                "2020",
                "--device",
                "flex",
            ],
            &name,
            needle,
        );
        eprintln!("predict with a {what} date:\n{err}");
        assert!(no_files(&out), "predict left files in {out:?}");
    }
    std::fs::write(&victim, &original).unwrap();
}

/// Whether `dir` is absent or holds no file (folders may remain).
fn no_files(dir: &Path) -> bool {
    walk(dir).is_empty()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let p = e.path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}
