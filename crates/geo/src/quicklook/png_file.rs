//! Atomic RGB8 PNG writing.

use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Writes an 8-bit RGB image (`rgb`: `[height, width, 3]`) as PNG, through a temporary file in
/// the same directory renamed into place.
///
/// # Errors
/// [`Error::DataLength`] if `rgb.len() != width * height * 3`; [`Error::InvalidSpec`] for a
/// zero or > 2^31 size; [`Error::Io`] / [`Error::Png`] when writing fails (nothing is left
/// at `path`).
///
/// # Examples
/// ```
/// let dir = tempfile::tempdir()?;
/// chronomap_geo::quicklook::write_rgb_png(dir.path().join("red.png"), 2, 1, &[255, 0, 0, 255, 0, 0])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_rgb_png(
    path: impl AsRef<Path>,
    width: usize,
    height: usize,
    rgb: &[u8],
) -> Result<()> {
    let path = path.as_ref();
    if width == 0 || height == 0 || width > i32::MAX as usize || height > i32::MAX as usize {
        return Err(Error::InvalidSpec {
            problem: "PNG width and height must be 1..2^31",
        });
    }
    if rgb.len() != width * height * 3 {
        return Err(Error::DataLength {
            expected: width * height * 3,
            actual: rgb.len(),
        });
    }
    let mut tmp = crate::atomic_file::temp_next_to(path).map_err(|e| Error::io(path, e))?;
    {
        let png_err = |source| Error::Png {
            path: path.to_path_buf(),
            source,
        };
        let mut enc = png::Encoder::new(
            BufWriter::new(tmp.as_file_mut()),
            width as u32,
            height as u32,
        );
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc.write_header().map_err(png_err)?;
        w.write_image_data(rgb).map_err(png_err)?;
        w.finish().map_err(png_err)?;
    }
    tmp.as_file_mut().flush().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_with_the_png_decoder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.png");
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
        write_rgb_png(&p, 4, 3, &rgb).unwrap();
        let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&p).unwrap()));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (4, 3));
        assert_eq!(&buf[..info.buffer_size()], &rgb[..]);
        assert!(matches!(
            write_rgb_png(&p, 4, 3, &rgb[1..]),
            Err(Error::DataLength { .. })
        ));
    }
}
