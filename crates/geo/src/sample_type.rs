//! The numeric type of raster samples.

/// Numeric type of the samples of a raster band (GDAL names in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SampleType {
    /// Unsigned 8-bit (`Byte`).
    U8,
    /// Signed 8-bit (`Int8`; GDAL before 3.7: `Byte` with `PIXELTYPE=SIGNEDBYTE`).
    I8,
    /// Unsigned 16-bit (`UInt16`): Sentinel-2, Landsat, SPOT/Pleiades.
    U16,
    /// Signed 16-bit (`Int16`).
    I16,
    /// Unsigned 32-bit (`UInt32`).
    U32,
    /// Signed 32-bit (`Int32`).
    I32,
    /// 16-bit IEEE float (half precision; GDAL reads it as `Float32`). Read only, into `f32`
    /// or `f64`: no Rust sample type holds it, and chronomap never writes it.
    F16,
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
            SampleType::U8 | SampleType::I8 => 1,
            SampleType::U16 | SampleType::I16 | SampleType::F16 => 2,
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
            SampleType::I8 => "Int8",
            SampleType::U16 => "UInt16",
            SampleType::I16 => "Int16",
            SampleType::U32 => "UInt32",
            SampleType::I32 => "Int32",
            SampleType::F16 => "Float16",
            SampleType::F32 => "Float32",
            SampleType::F64 => "Float64",
        }
    }

    /// Whether the type is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, SampleType::F16 | SampleType::F32 | SampleType::F64)
    }

    /// TIFF `SampleFormat` code (1 unsigned, 2 signed, 3 IEEE float).
    pub(crate) fn tiff_sample_format(self) -> u16 {
        match self {
            SampleType::U8 | SampleType::U16 | SampleType::U32 => 1,
            SampleType::I8 | SampleType::I16 | SampleType::I32 => 2,
            SampleType::F16 | SampleType::F32 | SampleType::F64 => 3,
        }
    }

    /// The type for a TIFF `SampleFormat` and `BitsPerSample`, if supported.
    pub(crate) fn from_tiff(format: u16, bits: u16) -> Option<Self> {
        match (format, bits) {
            (1, 8) => Some(SampleType::U8),
            (2, 8) => Some(SampleType::I8),
            (3, 16) => Some(SampleType::F16),
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

/// The `f32` value of IEEE half-precision bits (exact: every half is an `f32`).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, _) => {
            // subnormal: shift the mantissa up to an implicit leading 1
            let (mut e, mut m) = (127 - 15 + 1, mant);
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

impl std::fmt::Display for SampleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.gdal_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every half value against its definition `(-1)^s 2^(e-15) (1 + m/1024)` (subnormals
    /// `(-1)^s 2^-14 m/1024`), computed in f64.
    #[test]
    fn half_floats_convert_exactly() {
        for h in 0..=u16::MAX {
            let (s, e, m) = (h >> 15, (h >> 10) & 0x1f, h & 0x3ff);
            let got = f16_to_f32(h);
            let sign = if s == 1 { -1.0 } else { 1.0 };
            if e == 0x1f {
                assert!(
                    if m == 0 {
                        got.is_infinite()
                    } else {
                        got.is_nan()
                    },
                    "{h:#x}"
                );
                continue;
            }
            let want = if e == 0 {
                sign * 2f64.powi(-14) * f64::from(m) / 1024.0
            } else {
                sign * 2f64.powi(i32::from(e) - 15) * (1.0 + f64::from(m) / 1024.0)
            };
            assert_eq!(f64::from(got), want, "{h:#x}");
            assert_eq!(got.is_sign_negative(), s == 1, "{h:#x} sign");
        }
    }

    #[test]
    fn tiff_codes_round_trip() {
        for t in [
            SampleType::U8,
            SampleType::I8,
            SampleType::F16,
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
        assert_eq!(SampleType::from_tiff(3, 24), None, "24-bit floats");
        assert_eq!(SampleType::from_tiff(2, 64), None, "Int64");
    }
}
