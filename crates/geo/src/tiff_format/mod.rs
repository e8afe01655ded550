//! The TIFF container: parsing, chunk codecs, GeoTIFF keys and IFD writing. Private to the
//! crate; [`GeoTiffReader`](crate::GeoTiffReader) and [`GeoTiffWriter`](crate::GeoTiffWriter)
//! are the public faces.

pub(crate) mod codec;
pub(crate) mod geokeys;
pub(crate) mod ifd;
pub(crate) mod ifd_writer;
pub(crate) mod layout;
pub(crate) mod source;
pub(crate) mod tags;
