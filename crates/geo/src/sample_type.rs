//! The numeric type of raster samples.

/// Numeric type of the samples of a raster band (GDAL names in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SampleType {
    /// Unsigned 8-bit (`Byte`).
    U8,
    /// Unsigned 16-bit (`UInt16`): Sentinel-2, Landsat, SPOT/Pleiades.
    U16,
    /// Signed 16-bit (`Int16`).
    I16,
    /// Unsigned 32-bit (`UInt32`).
    U32,
    /// Signed 32-bit (`Int32`).
    I32,
    /// 32-bit IEEE float (`Float32`).
    F32,
    /// 64-bit IEEE float (`Float64`).
    F64,
}

impl SampleType {
    /// Bytes per sample.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(chronomap_geo::SampleType::U16.size_bytes(), 2);
    /// ```
    pub fn size_bytes(self) -> usize {
        match self {
            SampleType::U8 => 1,
            SampleType::U16 | SampleType::I16 => 2,
            SampleType::U32 | SampleType::I32 | SampleType::F32 => 4,
            SampleType::F64 => 8,
        }
    }

    /// The GDAL data type name (`Byte`, `UInt16`, ...), as printed by `gdalinfo`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(chronomap_geo::SampleType::F32.gdal_name(), "Float32");
    /// ```
    pub fn gdal_name(self) -> &'static str {
        match self {
            SampleType::U8 => "Byte",
            SampleType::U16 => "UInt16",
            SampleType::I16 => "Int16",
            SampleType::U32 => "UInt32",
            SampleType::I32 => "Int32",
            SampleType::F32 => "Float32",
            SampleType::F64 => "Float64",
        }
    }

    /// Whether the type is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, SampleType::F32 | SampleType::F64)
    }

    /// TIFF `SampleFormat` code (1 unsigned, 2 signed, 3 IEEE float).
    pub(crate) fn tiff_sample_format(self) -> u16 {
        match self {
            SampleType::U8 | SampleType::U16 | SampleType::U32 => 1,
            SampleType::I16 | SampleType::I32 => 2,
            SampleType::F32 | SampleType::F64 => 3,
        }
    }

    /// The type for a TIFF `SampleFormat` and `BitsPerSample`, if supported.
    pub(crate) fn from_tiff(format: u16, bits: u16) -> Option<Self> {
        match (format, bits) {
            (1, 8) => Some(SampleType::U8),
            (1, 16) => Some(SampleType::U16),
            (2, 16) => Some(SampleType::I16),
            (1, 32) => Some(SampleType::U32),
            (2, 32) => Some(SampleType::I32),
            (3, 32) => Some(SampleType::F32),
            (3, 64) => Some(SampleType::F64),
            _ => None,
        }
    }
}

impl std::fmt::Display for SampleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.gdal_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiff_codes_round_trip() {
        for t in [
            SampleType::U8,
            SampleType::U16,
            SampleType::I16,
            SampleType::U32,
            SampleType::I32,
            SampleType::F32,
            SampleType::F64,
        ] {
            let bits = (t.size_bytes() * 8) as u16;
            assert_eq!(SampleType::from_tiff(t.tiff_sample_format(), bits), Some(t));
        }
        assert_eq!(SampleType::from_tiff(2, 8), None, "Int8 is not supported");
        assert_eq!(
            SampleType::from_tiff(3, 16),
            None,
            "Float16 is not supported"
        );
    }
}
