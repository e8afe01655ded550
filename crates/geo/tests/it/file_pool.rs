//! The process-wide bound on open file handles: more readers than the bound read correctly,
//! the pool never holds more than the bound, and closed files are reopened on demand.

use chronomap_geo::{
    GeoTiffReader, GeoTransform, RasterData, RasterSpec, SampleType, Window, open_file_counts,
    set_max_open_files, write_geotiff,
};

#[test]
fn more_readers_than_the_bound_read_correctly() {
    let dir = tempfile::tempdir().unwrap();
    let n = 12;
    let mut readers = Vec::new();
    for i in 0..n {
        let path = dir.path().join(format!("r{i}.tif"));
        // pixel (r, c) of file i = 1000 i + 10 r + c
        let data: Vec<u16> = (0..16 * 16)
            .map(|k| (1000 * i + 10 * (k / 16) + k % 16) as u16)
            .collect();
        let spec = RasterSpec::new(16, 16, 1, SampleType::U16)
            .with_geotransform(GeoTransform::north_up(0.0, 160.0, 10.0))
            .with_epsg(32628);
        write_geotiff(&path, &spec, RasterData::U16(&data)).unwrap();
        readers.push(GeoTiffReader::open(&path).unwrap());
    }
    set_max_open_files(4);
    let (_, opened_before) = open_file_counts();
    for round in 0..2 {
        for (i, r) in readers.iter().enumerate() {
            r.clear_cache();
            let px = r.read_window_u16(Window::new(3, 5, 2, 1), &[0]).unwrap();
            assert_eq!(
                px,
                [(1000 * i + 53) as u16, (1000 * i + 54) as u16],
                "round {round}"
            );
            let (open, _) = open_file_counts();
            assert!(open <= 4, "{open} files open with a bound of 4");
        }
    }
    let (_, opened_after) = open_file_counts();
    // 24 reads of 12 files through 4 handles: files were closed and reopened.
    assert!(
        opened_after - opened_before >= 12,
        "{opened_before} -> {opened_after}"
    );
    set_max_open_files(chronomap_geo::DEFAULT_MAX_OPEN_FILES);
    drop(readers);
}
