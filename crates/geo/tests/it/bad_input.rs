//! Bad input gives typed errors that name the file, never a panic or a huge allocation.

use std::path::Path;

use chronomap_geo::vector::{ReadOptions, read_vector};
use chronomap_geo::{
    ClassTable, Error, GeoTiffReader, RasterData, RasterSpec, RasterizeOptions, SampleType,
    TiffProblem, Unsupported, VectorProblem, Window, rasterize_to_geotiff, write_geotiff,
};

/// A little-endian classic TIFF: header, one IFD right after it (GDAL-style), then `data`.
/// `entries`: (tag, field type, values); values are written inline or after the IFD.
fn tiff(entries: &[(u16, u16, Vec<u64>)], data: &[u8]) -> Vec<u8> {
    let size = |t: u16| match t {
        3 => 2,
        4 => 4,
        _ => 1,
    };
    let ifd_len = 2 + entries.len() * 12 + 4;
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    let mut extra = Vec::new();
    let extra_at = 8 + ifd_len;
    let mut ifd = (entries.len() as u16).to_le_bytes().to_vec();
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|e| e.0);
    for (tag, t, values) in &sorted {
        ifd.extend_from_slice(&tag.to_le_bytes());
        ifd.extend_from_slice(&t.to_le_bytes());
        ifd.extend_from_slice(&(values.len() as u32).to_le_bytes());
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|&v| match size(*t) {
                2 => (v as u16).to_le_bytes().to_vec(),
                4 => (v as u32).to_le_bytes().to_vec(),
                _ => vec![v as u8],
            })
            .collect();
        if bytes.len() <= 4 {
            let mut b = bytes.clone();
            b.resize(4, 0);
            ifd.extend_from_slice(&b);
        } else {
            ifd.extend_from_slice(&((extra_at + extra.len()) as u32).to_le_bytes());
            extra.extend_from_slice(&bytes);
        }
    }
    ifd.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&ifd);
    out.extend_from_slice(&extra);
    out.extend_from_slice(data);
    out
}

/// Tags of a `w x h` u8 single-strip image whose data starts at `offset`.
fn strip_tags(
    w: u64,
    h: u64,
    offset: u64,
    count: u64,
    compression: u64,
) -> Vec<(u16, u16, Vec<u64>)> {
    vec![
        (256, 4, vec![w]),
        (257, 4, vec![h]),
        (258, 3, vec![8]),
        (259, 3, vec![compression]),
        (262, 3, vec![1]),
        (273, 4, vec![offset]),
        (277, 3, vec![1]),
        (278, 4, vec![h]),
        (279, 4, vec![count]),
    ]
}

fn open_err(bytes: Vec<u8>, dir: &Path, name: &str) -> Error {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    let e = GeoTiffReader::open(&p)
        .and_then(|r| r.read_all().map(|_| ()))
        .unwrap_err();
    assert!(
        e.to_string().contains(name),
        "error does not name the file: {e}"
    );
    e
}

#[test]
fn a_valid_hand_made_file_reads() {
    // the helper itself is right: a 4 x 2 uncompressed strip reads back
    let header_len = 8 + 2 + 9 * 12 + 4;
    let bytes = tiff(
        &strip_tags(4, 2, header_len as u64, 8, 1),
        &[1, 2, 3, 4, 5, 6, 7, 8],
    );
    let r = GeoTiffReader::from_bytes(bytes).unwrap();
    assert_eq!(
        r.read_window_u8(Window::full(4, 2), &[0]).unwrap(),
        vec![1, 2, 3, 4, 5, 6, 7, 8]
    );
}

#[test]
fn wrong_magic_truncated_and_ifd_past_end() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        open_err(b"GIF89a not a tiff".to_vec(), dir.path(), "gif.tif"),
        Error::Tiff {
            problem: TiffProblem::NotTiff { .. },
            ..
        }
    ));
    // Common non-TIFF downloads are named, with what to do about them.
    // JPEG 2000 is read (see gdal_jp2.rs): a file that only starts like one is an invalid
    // JPEG 2000 file, not "not a TIFF".
    for (bytes, name) in [
        (b"\x00\x00\x00\x0cjP  \r\n\x87\n".to_vec(), "B04.jp2"),
        (b"\xffO\xffQ\x00\x2f".to_vec(), "B04.j2k"),
    ] {
        let err = open_err(bytes, dir.path(), name);
        assert!(matches!(err, Error::Jp2 { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    for (bytes, name, says) in [
        (
            b"PK\x03\x04\x14\x00".to_vec(),
            "S2A_MSIL2A.zip",
            "ZIP archive",
        ),
        (b"\x1f\x8b\x08\x00".to_vec(), "LC08.tar.gz", "gzip archive"),
        (b"\x89HDF\r\n\x1a\n".to_vec(), "scene.nc", "HDF5 or NetCDF"),
        (
            b"{\"type\": \"FeatureCollection\"}".to_vec(),
            "roads.geojson",
            "text file",
        ),
    ] {
        let err = open_err(bytes, dir.path(), name);
        let msg = err.to_string()
            + &std::error::Error::source(&err).map_or(String::new(), |e| e.to_string());
        assert!(
            matches!(
                err,
                Error::Tiff {
                    problem: TiffProblem::NotTiff { .. },
                    ..
                }
            ),
            "{name}: {err:?}"
        );
        assert!(msg.contains(says), "{name}: {msg}");
    }
    let err = open_err(b"GIF89a not a tiff".to_vec(), dir.path(), "gif.tif");
    let msg = format!("{err} {err:?}");
    assert!(
        msg.contains("NotTiff") && !msg.contains("looks like"),
        "{msg}"
    );
    assert!(matches!(
        open_err(Vec::new(), dir.path(), "empty.tif"),
        Error::Tiff { .. }
    ));
    let mut past = b"II*\0".to_vec();
    past.extend_from_slice(&1_000_000u32.to_le_bytes());
    assert!(matches!(
        open_err(past, dir.path(), "past.tif"),
        Error::Tiff {
            problem: TiffProblem::Truncated {
                offset: 1_000_000,
                ..
            },
            ..
        }
    ));
    // chronomap writes its IFD last: truncation loses it
    let good = dir.path().join("good.tif");
    write_geotiff(
        &good,
        &RasterSpec::new(64, 64, 1, SampleType::U16),
        RasterData::U16(&[9; 4096]),
    )
    .unwrap();
    let bytes = std::fs::read(&good).unwrap();
    assert!(matches!(
        open_err(bytes[..bytes.len() / 2].to_vec(), dir.path(), "half.tif"),
        Error::Tiff {
            problem: TiffProblem::Truncated { .. },
            ..
        }
    ));
    // a GDAL-style file (IFD first) cut inside its pixel data: the strip is out of range
    let header_len = 8 + 2 + 9 * 12 + 4;
    let bytes = tiff(
        &strip_tags(100, 100, header_len as u64, 10_000, 1),
        &[7; 10_000],
    );
    assert!(matches!(
        open_err(bytes[..header_len + 5000].to_vec(), dir.path(), "cut.tif"),
        Error::Tiff {
            problem: TiffProblem::ChunkOutOfRange { index: 0, .. },
            ..
        }
    ));
}

#[test]
fn tile_offsets_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let tags = vec![
        (256, 4, vec![32]),
        (257, 4, vec![32]),
        (258, 3, vec![8]),
        (259, 3, vec![1]),
        (277, 3, vec![1]),
        (322, 4, vec![16]),
        (323, 4, vec![16]),
        (324, 4, vec![300, 556, 812, 4_000_000_000]),
        (325, 4, vec![256, 256, 256, 256]),
    ];
    let bytes = tiff(&tags, &vec![0; 1100]);
    match open_err(bytes, dir.path(), "tiles.tif") {
        Error::Tiff {
            problem:
                TiffProblem::ChunkOutOfRange {
                    kind: "tile",
                    index: 3,
                    ..
                },
            ..
        } => {}
        e => panic!("{e:?}"),
    }
}

#[test]
fn absurd_sizes_do_not_allocate() {
    // 10^6 x 10^6 pixels (1 TB) in one deflate strip of 100 bytes
    let header_len = 8 + 2 + 9 * 12 + 4;
    let bytes = tiff(
        &strip_tags(1_000_000, 1_000_000, header_len as u64, 100, 8),
        &[0x78; 100],
    );
    // refused when opened, by the compression-ratio bound (deflate cannot expand 100 bytes
    // into 10^12), before anything is allocated
    assert!(matches!(
        GeoTiffReader::from_bytes(bytes),
        Err(Error::Tiff {
            problem: TiffProblem::ChunkImplausible {
                compressed: 100,
                decoded: 1_000_000_000_000,
                ..
            },
            ..
        })
    ));
    // tiled: 15 M tiles of 256 px claimed, offsets array not in the file
    let tags = vec![
        (256, 4, vec![1_000_000]),
        (257, 4, vec![1_000_000]),
        (258, 3, vec![8]),
        (277, 3, vec![1]),
        (322, 4, vec![256]),
        (323, 4, vec![256]),
        (324, 4, vec![0; 2]),
        (325, 4, vec![0; 2]),
    ];
    assert!(matches!(
        GeoTiffReader::from_bytes(tiff(&tags, &[])),
        Err(Error::Tiff {
            problem: TiffProblem::ChunkCount {
                expected: 15_264_649,
                found: 2,
                ..
            },
            ..
        })
    ));
}

#[test]
fn unsupported_compression_and_sample_formats() {
    let dir = tempfile::tempdir().unwrap();
    let header_len = 8 + 2 + 9 * 12 + 4;
    for (code, name) in [
        (6u64, "old-style JPEG"),
        (34925, "LZMA"),
        (34887, "LERC"),
        (50001, "WebP"),
    ] {
        let bytes = tiff(&strip_tags(4, 4, header_len as u64, 16, code), &[0; 16]);
        match open_err(bytes, dir.path(), &format!("c{code}.tif")) {
            Error::Unsupported {
                what: Unsupported::Compression { code: c, name: n },
                ..
            } => {
                assert_eq!((u64::from(c), n), (code, name));
            }
            e => panic!("{e:?}"),
        }
    }
    // JPEG is read for 8-bit samples only
    let mut tags = strip_tags(4, 4, header_len as u64, 32, 7);
    tags.retain(|t| t.0 != 258);
    tags.push((258, 3, vec![16]));
    match open_err(tiff(&tags, &[0; 32]), dir.path(), "jpeg16.tif") {
        Error::Unsupported {
            what: Unsupported::Compression { code: 7, name },
            ..
        } => assert!(name.contains("8-bit"), "{name}"),
        e => panic!("16-bit JPEG: {e:?}"),
    }
    // Int64 (SampleFormat 2, 64 bits), 24-bit floats, 1-bit, complex
    for (format, bits) in [(2u64, 64u64), (3, 24), (1, 1), (5, 64)] {
        let mut tags = strip_tags(4, 4, header_len as u64 + 2, 16, 1);
        tags.retain(|t| t.0 != 258);
        tags.push((258, 3, vec![bits]));
        tags.push((339, 3, vec![format]));
        let bytes = tiff(&tags, &[0; 64]);
        match open_err(bytes, dir.path(), &format!("f{format}_{bits}.tif")) {
            Error::Unsupported {
                what: Unsupported::SampleFormat { .. },
                ..
            } => {}
            e => panic!("{format}/{bits}: {e:?}"),
        }
    }
}

#[test]
fn corrupt_jpeg_data_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let header_len = 8 + 2 + 9 * 12 + 4;
    let bytes = tiff(&strip_tags(16, 16, header_len as u64, 64, 7), &[0xAB; 64]);
    match open_err(bytes, dir.path(), "garbage_jpeg.tif") {
        Error::Tiff {
            path,
            problem: TiffProblem::Corrupt { codec: "JPEG", .. },
        } => assert!(path.ends_with("garbage_jpeg.tif")),
        e => panic!("{e:?}"),
    }
}

#[test]
fn corrupt_deflate_data_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let header_len = 8 + 2 + 9 * 12 + 4;
    let bytes = tiff(&strip_tags(16, 16, header_len as u64, 64, 8), &[0xAB; 64]);
    assert!(matches!(
        open_err(bytes, dir.path(), "garbage.tif"),
        Error::Tiff {
            problem: TiffProblem::Corrupt {
                codec: "deflate",
                ..
            },
            ..
        }
    ));
}

#[test]
fn reference_raster_without_georeferencing() {
    let dir = tempfile::tempdir().unwrap();
    let like = dir.path().join("plain.tif");
    write_geotiff(
        &like,
        &RasterSpec::new(8, 8, 1, SampleType::U8),
        RasterData::U8(&[0; 64]),
    )
    .unwrap();
    let geojson = dir.path().join("v.geojson");
    std::fs::write(&geojson, r#"{"type": "FeatureCollection", "features": []}"#).unwrap();
    let out = dir.path().join("labels.tif");
    let err = rasterize_to_geotiff(
        &[&geojson],
        &like,
        &out,
        &ClassTable::default(),
        &RasterizeOptions::default(),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingGeoreferencing {
                missing: "geotransform",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("plain.tif"));
    assert!(!out.exists());
}

#[test]
fn bad_vector_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8]); 5] = [
        ("broken.osm", b"<osm><node id='1' lat='1' lon='2'>"),
        (
            "latin1.osm",
            b"<osm><way id='1'><tag k='name' v='S\xe9n\xe9gal'/></way></osm>",
        ),
        (
            "feature.geojson",
            br#"{"type": "Feature", "properties": {}, "geometry": null}"#,
        ),
        ("notjson.geojson", b"<html>"),
        ("garbage.osm.pbf", b"\x00\x00\x00\x0dnot a pbf blob at all"),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let err = read_vector(&p, &ReadOptions::default()).expect_err(name);
        assert!(matches!(err, Error::Vector { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(name), "{name}: {err}");
    }
    let p = dir.path().join("labels.shp");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(
        read_vector(&p, &ReadOptions::default()),
        Err(Error::UnknownVectorFormat { .. })
    ));
    // strict mode: a relation whose ring does not close
    let p = dir.path().join("open.osm");
    std::fs::write(
        &p,
        br#"<osm><node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="1"/><node id="3" lat="1" lon="1"/>
        <way id="5"><nd ref="1"/><nd ref="2"/><nd ref="3"/></way>
        <relation id="9"><member type="way" ref="5" role="outer"/><tag k="type" v="multipolygon"/><tag k="natural" v="water"/></relation></osm>"#,
    )
    .unwrap();
    let strict = ReadOptions {
        strict: true,
        ..ReadOptions::default()
    };
    match read_vector(&p, &strict) {
        Err(Error::Vector {
            problem:
                VectorProblem::UnclosedRing {
                    what: "relation",
                    id: 9,
                },
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        read_vector(&p, &ReadOptions::default())
            .unwrap()
            .skipped
            .len(),
        1
    );
}

/// The file a user hit (issue 10): a 170-byte classic TIFF declaring 10^6 x 10^6 u8 pixels in
/// one uncompressed strip of 1 byte. `chronomap info` used to abort with "memory allocation
/// of 1000000000000 bytes failed" in `statistics`; now opening it fails, naming the file and
/// the strip. 10^12 = 10^6 x 10^6 x 1 byte, the strip's pixels.
#[test]
fn a_header_declaring_more_pixels_than_the_file_holds_fails_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let header_len = 8 + 2 + 9 * 12 + 4;
    let mut bytes = tiff(
        &strip_tags(1_000_000, 1_000_000, header_len as u64, 1, 1),
        &[7],
    );
    bytes.resize(170, 0);
    assert_eq!(bytes.len(), 170);
    let p = dir.path().join("huge.tif");
    std::fs::write(&p, &bytes).unwrap();
    let e = GeoTiffReader::open(&p).unwrap_err();
    let msg = format!("{e}: {}", std::error::Error::source(&e).unwrap());
    assert!(msg.contains("huge.tif"), "{msg}");
    assert!(
        matches!(
            e,
            Error::Tiff {
                problem: TiffProblem::ChunkTooSmall {
                    kind: "strip",
                    index: 0,
                    bytes: 1,
                    needs: 1_000_000_000_000,
                },
                ..
            }
        ),
        "{e:?}"
    );
    // an uncompressed tile table whose last tile is one byte short
    let tags = vec![
        (256, 4, vec![32]),
        (257, 4, vec![16]),
        (258, 3, vec![8]),
        (259, 3, vec![1]),
        (277, 3, vec![1]),
        (322, 4, vec![16]),
        (323, 4, vec![16]),
        (324, 4, vec![300, 556]),
        (325, 4, vec![256, 255]),
    ];
    assert!(matches!(
        GeoTiffReader::from_bytes(tiff(&tags, &vec![0; 900])),
        Err(Error::Tiff {
            problem: TiffProblem::ChunkTooSmall {
                kind: "tile",
                index: 1,
                bytes: 255,
                needs: 256,
            },
            ..
        })
    ));
}

/// A sparse header (every strip absent, GDAL's SPARSE_OK) may declare 10^6 x 10^6 pixels
/// legitimately: statistics count absent strips without reading or allocating them (10^12
/// zeros without nodata, none with nodata 0), in well under a second; rasterizing onto that
/// grid is refused with a typed error naming the reference raster.
#[test]
fn sparse_giant_header_statistics_and_rasterize_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let n = 1_000_000u64;
    let strips = 1000u64;
    let tags = |nodata: bool| {
        let mut t = vec![
            (256, 4, vec![n]),
            (257, 4, vec![n]),
            (258, 3, vec![8]),
            (259, 3, vec![1]),
            (262, 3, vec![1]),
            (273, 4, vec![0; strips as usize]),
            (277, 3, vec![1]),
            (278, 4, vec![n / strips]),
            (279, 4, vec![0; strips as usize]),
        ];
        if nodata {
            // GDAL_NODATA "0"
            t.push((42113, 2, vec![b'0' as u64, 0]));
        }
        t
    };
    let started = std::time::Instant::now();
    let r = GeoTiffReader::from_bytes(tiff(&tags(false), &[])).unwrap();
    let s = r.statistics(|_, _| {}).unwrap()[0];
    assert_eq!(
        (s.valid_count, s.min, s.max, s.mean),
        (n * n, 0.0, 0.0, 0.0)
    );
    let r = GeoTiffReader::from_bytes(tiff(&tags(true), &[])).unwrap();
    assert_eq!(r.info().nodata, Some(0.0));
    let s = r.statistics(|_, _| {}).unwrap()[0];
    assert_eq!(s.valid_count, 0);
    assert!(
        started.elapsed().as_secs_f64() < 5.0,
        "{:?}",
        started.elapsed()
    );
    // a full read is refused by the default read limit (10^12 bytes > 16 GiB), naming the file
    let p = dir.path().join("sparse.tif");
    std::fs::write(&p, tiff(&tags(false), &[])).unwrap();
    let e = GeoTiffReader::open(&p).unwrap().read_all().unwrap_err();
    assert!(matches!(e, Error::ReadTooLarge { .. }) && e.to_string().contains("sparse.tif"));
    // rasterizing onto a grid of that size: a typed error, not an abort
    let grid = chronomap_geo::Grid {
        width: n as usize,
        height: n as usize,
        geotransform: chronomap_geo::GeoTransform::north_up(0.0, 0.0, 10.0),
        epsg: Some(32628),
    };
    let e = chronomap_geo::rasterize(
        &[],
        32628,
        &ClassTable::default(),
        &grid,
        &RasterizeOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::GridTooLarge {
                bytes: 1_000_000_000_000,
                ..
            }
        ),
        "{e:?}"
    );
}

/// Inputs the fuzzer (`fuzz/fuzz_targets/tiff_reader.rs`, library defaults) found: a header
/// declaring thousands of 16-bit bands made `statistics` allocate a 512 KiB histogram per
/// band and thread (1.9 GB, over libFuzzer's 2 GiB limit with the rest; 12 s for the
/// slowest). Each now goes through what the fuzz target does in well under a second.
#[test]
fn fuzzer_found_inputs_stay_small_and_fast() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    for name in ["stats-many-bands.tif", "slow-unit.tif"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let started = std::time::Instant::now();
        if let Ok(r) = GeoTiffReader::from_bytes(bytes) {
            let _ = r.statistics(|_, _| {});
            let (w, h) = (r.info().width.min(64), r.info().height.min(64));
            let bands: Vec<usize> = (0..r.info().bands.min(4)).collect();
            let _ = r.read_window(Window::new(0, 0, w, h), &bands);
        }
        let t = started.elapsed().as_secs_f64();
        assert!(t < 2.0, "{name}: {t:.2} s");
    }
}

/// JPEG 2000 inputs the fuzzer (`fuzz/fuzz_targets/jp2_reader.rs`) found:
/// - `jp2_codeblock_alloc_oom.jp2` (2284 bytes) declares a tile of 11 x 50,331,658 pixels x 3
///   components; OpenJPEG allocated code-block structures for the whole tile (more than 4 GB in
///   27 s). A tile that large must be backed by coded data: now a typed error at once.
/// - `jp2_tiled_window_off_first_tile_sub_overflow.jp2` (a valid 40 x 36 GDAL file with 32 x 32
///   tiles): a window that stops short of the last tile column overflowed a subtraction
///   (`then_some` evaluated its argument for tiles the window does not reach; a panic with
///   overflow checks on). The 1 x 1 read at (20, 18) that found it must give the pixel GDAL
///   gives: compared with our own full read of the file.
#[test]
fn fuzzer_found_jp2_inputs_are_typed_errors_or_right_answers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let bytes = std::fs::read(dir.join("jp2_codeblock_alloc_oom.jp2")).unwrap();
    let started = std::time::Instant::now();
    let r = GeoTiffReader::from_bytes(bytes).expect("the header itself is well-formed");
    let (w, h) = (r.info().width.min(64), r.info().height.min(64));
    let e = r.read_window(Window::new(0, 0, w, h), &[0]).unwrap_err();
    assert!(
        e.to_string().contains("JPEG 2000") && format!("{e:?}").contains("coded data"),
        "{e:?}"
    );
    assert!(started.elapsed().as_secs_f64() < 2.0);

    let bytes =
        std::fs::read(dir.join("jp2_tiled_window_off_first_tile_sub_overflow.jp2")).unwrap();
    let r = GeoTiffReader::from_bytes(bytes).unwrap();
    let (w, h) = (r.info().width, r.info().height);
    let all = r
        .read_window_as::<f64>(Window::new(0, 0, w, h), &[0])
        .unwrap();
    let one = r
        .read_window_as::<f64>(Window::new(20, 18, 1, 1), &[0])
        .unwrap();
    assert_eq!(one[0], all[18 * w + 20]);
}
