//! Coordinate reference systems by EPSG code (being extended: transforms come next).

/// Whether `code` is a geographic (longitude/latitude) CRS.
pub fn is_geographic_epsg(code: u32) -> bool {
    matches!(code, 4326 | 4258 | 4269 | 4267 | 4171 | 4283 | 4674)
}

/// Name of a known EPSG code, as GDAL cites it in GeoTIFF keys.
pub fn epsg_name(code: u32) -> Option<String> {
    match code {
        4326 => Some("WGS 84".into()),
        3857 => Some("WGS 84 / Pseudo-Mercator".into()),
        32601..=32660 => Some(format!("WGS 84 / UTM zone {}N", code - 32600)),
        32701..=32760 => Some(format!("WGS 84 / UTM zone {}S", code - 32700)),
        _ => None,
    }
}
