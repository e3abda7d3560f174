//! A relying party's logo made safe to show: decoded here, in Rust, within fixed bounds, and
//! re-encoded as a PNG of exactly [`LOGO_SIDE`] × [`LOGO_SIDE`] pixels. The web view only ever
//! decodes images this module wrote, so a hostile image (a 48 KB PNG that claims 20000 × 20000
//! pixels, a decoder exploit aimed at WebKit) never reaches it.
//!
//! Invariants:
//! - only PNG, JPEG, GIF and WebP are read, chosen by their signature (never by a declared type);
//!   SVG and everything else are refused;
//! - an image whose header claims more than [`MAX_SOURCE_SIDE`] pixels on a side is refused
//!   before any pixel is decoded, and the decoder may not allocate more than [`MAX_DECODE_BYTES`];
//! - the output is always a [`LOGO_SIDE`]-pixel square PNG (the image fitted inside it, centred
//!   on a transparent background), so what is cached and shown has one fixed size.
//!
//! This file depends on `image` and `std` only: the fuzz target `logo_image` compiles it on its
//! own (see `fuzz/fuzz_targets/logo_image.rs`).

use std::fmt;
use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, RgbaImage};

/// The side of every logo handed to a user interface, in pixels (shown at 40–56 CSS pixels,
/// so sharp at twice that).
pub const LOGO_SIDE: u32 = 128;
/// The largest width or height of an image accepted as a logo.
pub const MAX_SOURCE_SIDE: u32 = 2048;
/// The most the decoder may allocate for one logo (a 2048 × 2048 RGBA image is 16 MiB).
pub const MAX_DECODE_BYTES: u64 = 32 * 1024 * 1024;

/// Why an image was not made into a logo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PictureError {
    /// Not a PNG, JPEG, GIF or WebP image by its first bytes.
    NotAnImage,
    /// The header claims more pixels than a logo may have.
    TooManyPixels {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
    },
    /// The image could not be decoded (truncated, corrupt, or beyond the decoder's limits).
    Undecodable(String),
}

impl fmt::Display for PictureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PictureError::NotAnImage => f.write_str("not a PNG, JPEG, GIF or WebP image"),
            PictureError::TooManyPixels { width, height } => write!(
                f,
                "the image claims {width}×{height} pixels (at most {MAX_SOURCE_SIDE} on a side)"
            ),
            PictureError::Undecodable(detail) => write!(f, "the image cannot be decoded: {detail}"),
        }
    }
}

impl std::error::Error for PictureError {}

/// The accepted format of `bytes`, from its signature, with its MIME type.
pub fn sniff(bytes: &[u8]) -> Option<(ImageFormat, &'static str)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some((ImageFormat::Png, "image/png"))
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some((ImageFormat::Jpeg, "image/jpeg"))
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some((ImageFormat::Gif, "image/gif"))
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some((ImageFormat::WebP, "image/webp"))
    } else {
        None
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_SIDE);
    limits.max_image_height = Some(MAX_SOURCE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn reader(bytes: &[u8], format: ImageFormat) -> ImageReader<Cursor<&[u8]>> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    reader
}

/// The width and height an image's header claims, read without decoding any pixel.
///
/// # Errors
/// [`PictureError::NotAnImage`], or [`PictureError::Undecodable`] for a broken header.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), PictureError> {
    let (format, _) = sniff(bytes).ok_or(PictureError::NotAnImage)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Reading a header must not be refused for the size it claims: that is for the caller.
    reader.no_limits();
    reader
        .into_dimensions()
        .map_err(|e| PictureError::Undecodable(e.to_string()))
}

/// Decodes `bytes` within the bounds above and re-encodes it as a [`LOGO_SIDE`]-pixel square PNG.
///
/// # Errors
/// A [`PictureError`]; nothing larger than the bounds is ever allocated.
pub fn normalize(bytes: &[u8]) -> Result<Vec<u8>, PictureError> {
    let (format, _) = sniff(bytes).ok_or(PictureError::NotAnImage)?;
    let (width, height) = dimensions(bytes)?;
    if width == 0 || height == 0 || width > MAX_SOURCE_SIDE || height > MAX_SOURCE_SIDE {
        return Err(PictureError::TooManyPixels { width, height });
    }
    let decoded = reader(bytes, format)
        .decode()
        .map_err(|e| PictureError::Undecodable(e.to_string()))?;
    encode(&fit(&decoded))
}

/// `image` fitted inside a transparent [`LOGO_SIDE`] square, centred.
fn fit(image: &DynamicImage) -> RgbaImage {
    let scaled = image
        .resize(LOGO_SIDE, LOGO_SIDE, image::imageops::FilterType::Triangle)
        .to_rgba8();
    let mut canvas = RgbaImage::new(LOGO_SIDE, LOGO_SIDE);
    let x = (LOGO_SIDE - scaled.width().min(LOGO_SIDE)) / 2;
    let y = (LOGO_SIDE - scaled.height().min(LOGO_SIDE)) / 2;
    image::imageops::replace(&mut canvas, &scaled, i64::from(x), i64::from(y));
    canvas
}

fn encode(image: &RgbaImage) -> Result<Vec<u8>, PictureError> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|e| PictureError::Undecodable(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbaImage::from_pixel(width, height, image::Rgba([200, 16, 46, 255]));
        encode(&image).unwrap()
    }

    fn as_image(bytes: &[u8]) -> RgbaImage {
        image::load_from_memory_with_format(bytes, ImageFormat::Png)
            .unwrap()
            .to_rgba8()
    }

    #[test]
    fn every_logo_comes_out_as_a_square_png_of_the_fixed_side() {
        for (w, h) in [(1, 1), (96, 96), (300, 100), (100, 300), (2048, 2048)] {
            let out = normalize(&png(w, h)).unwrap();
            assert_eq!(sniff(&out).map(|s| s.1), Some("image/png"), "{w}x{h}");
            let image = as_image(&out);
            assert_eq!(
                image.dimensions(),
                (LOGO_SIDE, LOGO_SIDE),
                "a {w}x{h} logo becomes {LOGO_SIDE}x{LOGO_SIDE}"
            );
        }
        let wide = as_image(&normalize(&png(300, 100)).unwrap());
        assert_eq!(
            wide.get_pixel(0, 0).0[3],
            0,
            "a wide logo is centred on transparency, not stretched"
        );
        assert_eq!(wide.get_pixel(64, 64).0, [200, 16, 46, 255]);
    }

    #[test]
    fn other_formats_are_read_by_their_signature() {
        let source =
            DynamicImage::ImageRgba8(RgbaImage::from_pixel(40, 20, image::Rgba([1, 2, 3, 255])));
        for format in [ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP] {
            let mut bytes = Vec::new();
            let image = if format == ImageFormat::Jpeg {
                DynamicImage::ImageRgb8(source.to_rgb8())
            } else {
                source.clone()
            };
            image
                .write_to(&mut Cursor::new(&mut bytes), format)
                .unwrap();
            let out = normalize(&bytes).unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(as_image(&out).dimensions(), (LOGO_SIDE, LOGO_SIDE));
        }
    }

    #[test]
    fn a_dimension_bomb_is_refused_from_its_header() {
        // A real PNG of 20000 x 20000 one-bit pixels: under 100 KB, 400 million pixels. Refused
        // on its header alone (no pixel is decoded, nothing is allocated for them).
        let bomb = assent_testkit::dimension_bomb(20_000);
        assert!(bomb.len() < 128 * 1024, "{} bytes", bomb.len());
        assert_eq!(dimensions(&bomb), Ok((20_000, 20_000)));
        assert_eq!(
            normalize(&bomb),
            Err(PictureError::TooManyPixels {
                width: 20_000,
                height: 20_000
            })
        );
        assert!(matches!(
            normalize(&png(MAX_SOURCE_SIDE + 1, 1)),
            Err(PictureError::TooManyPixels { .. })
        ));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(
            normalize(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            Err(PictureError::NotAnImage)
        );
        assert_eq!(normalize(b""), Err(PictureError::NotAnImage));
        assert!(matches!(
            normalize(b"\x89PNG\r\n\x1a\ntruncated"),
            Err(PictureError::Undecodable(_))
        ));
        let mut cut = png(50, 50);
        cut.truncate(cut.len() / 2);
        assert!(matches!(normalize(&cut), Err(PictureError::Undecodable(_))));
    }
}
