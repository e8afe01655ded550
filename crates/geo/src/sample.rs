//! Rust types that raster samples are read into and written from.

use crate::sample_type::SampleType;

mod sealed {
    pub trait Sealed {}
}

/// A Rust numeric type that holds raster samples: `u8`, `i8`, `u16`, `i16`, `u32`, `i32`,
/// `f32`, `f64` (half floats are read into `f32` or `f64`). Sealed: the conversions are the
/// `as` casts between these types.
pub trait Sample:
    Copy + Default + PartialEq + PartialOrd + Send + Sync + std::fmt::Debug + sealed::Sealed + 'static
{
    /// The [`SampleType`] stored for this Rust type.
    const TYPE: SampleType;
    /// `v as Self`.
    fn from_f64(v: f64) -> Self;
    /// `self as f64`.
    fn to_f64(self) -> f64;
    #[doc(hidden)]
    fn from_u8(v: u8) -> Self;
    #[doc(hidden)]
    fn from_i8(v: i8) -> Self;
    #[doc(hidden)]
    fn from_u16(v: u16) -> Self;
    #[doc(hidden)]
    fn from_i16(v: i16) -> Self;
    #[doc(hidden)]
    fn from_u32(v: u32) -> Self;
    #[doc(hidden)]
    fn from_i32(v: i32) -> Self;
    #[doc(hidden)]
    fn from_f32(v: f32) -> Self;
    /// The value of IEEE half-precision bits (Float16 rasters).
    #[doc(hidden)]
    fn from_f16_bits(v: u16) -> Self {
        Self::from_f32(crate::sample_type::f16_to_f32(v))
    }
    /// Appends the little-endian bytes of `self`.
    #[doc(hidden)]
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! impl_sample {
    ($t:ty, $st:expr) => {
        impl sealed::Sealed for $t {}
        impl Sample for $t {
            const TYPE: SampleType = $st;
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_u8(v: u8) -> Self {
                v as $t
            }
            #[inline]
            fn from_i8(v: i8) -> Self {
                v as $t
            }
            #[inline]
            fn from_u16(v: u16) -> Self {
                v as $t
            }
            #[inline]
            fn from_i16(v: i16) -> Self {
                v as $t
            }
            #[inline]
            fn from_u32(v: u32) -> Self {
                v as $t
            }
            #[inline]
            fn from_i32(v: i32) -> Self {
                v as $t
            }
            #[inline]
            fn from_f32(v: f32) -> Self {
                v as $t
            }
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}

impl_sample!(u8, SampleType::U8);
impl_sample!(i8, SampleType::I8);
impl_sample!(u16, SampleType::U16);
impl_sample!(i16, SampleType::I16);
impl_sample!(u32, SampleType::U32);
impl_sample!(i32, SampleType::I32);
impl_sample!(f32, SampleType::F32);
impl_sample!(f64, SampleType::F64);
