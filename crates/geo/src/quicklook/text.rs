//! Text on RGB8 images with the public-domain 8x8 bitmap font of `font8x8` (basic Latin and
//! Latin-1, so OSM names like "Sénégal" render).

use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};

fn glyph(c: char) -> [u8; 8] {
    let u = c as u32;
    if u < 128 {
        BASIC_LEGACY[u as usize]
    } else if (0xA0..0x100).contains(&u) {
        LATIN_LEGACY[(u - 0xA0) as usize]
    } else {
        BASIC_LEGACY['?' as usize]
    }
}

/// Width in pixels of `text` at `scale` (8 px per character per scale unit).
pub fn text_width(text: &str, scale: usize) -> usize {
    text.chars().count() * 8 * scale
}

/// Draws `text` with its top-left corner at `at = (x, y)` on an RGB8 image of `size =
/// (width, height)` (`rgb`: `[height, width, 3]`), clipped to the image.
pub fn draw_text(
    rgb: &mut [u8],
    size: (usize, usize),
    at: (usize, usize),
    text: &str,
    color: [u8; 3],
    scale: usize,
) {
    let ((width, height), (x, y)) = (size, at);
    let scale = scale.max(1);
    for (i, c) in text.chars().enumerate() {
        let g = glyph(c);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..8 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + (i * 8 + col) * scale + dx;
                        let py = y + row * scale + dy;
                        if px < width && py < height {
                            let o = (py * width + px) * 3;
                            rgb[o..o + 3].copy_from_slice(&color);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_have_ink_and_spaces_do_not() {
        let (w, h) = (16, 8);
        let mut rgb = vec![0u8; w * h * 3];
        draw_text(&mut rgb, (w, h), (0, 0), "A ", [255, 255, 255], 1);
        let ink = |x0: usize, x1: usize| {
            (0..h)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| rgb[(y * w + x) * 3] == 255)
                .count()
        };
        assert!(ink(0, 8) > 10, "A");
        assert_eq!(ink(8, 16), 0, "space");
        assert_eq!(text_width("abc", 2), 48);
    }
}
