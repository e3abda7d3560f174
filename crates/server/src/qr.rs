//! QR codes as PNG images in `data:` URLs, for `users.generate_qr`.
//!
//! A `data:` URL rather than a link to an image on the service: the backend API is for relying
//! parties' servers and is often not reachable from people's browsers; nothing has to be kept
//! (and expired, and shared between instances) for a later fetch; and the seed travels once, in
//! the answer that already carries it, instead of in a URL that proxies and browsers log.

use base64::Engine as _;
use zeroize::Zeroizing;

/// Quiet zone around the code, in modules (the QR specification asks for 4).
const QUIET_MODULES: usize = 4;
/// Smallest image side a caller may ask for, in pixels (two pixels per module for a typical
/// `otpauth://` URI, which cameras read off a screen).
pub const MIN_SIZE: u64 = 150;
/// Largest image side a caller may ask for, in pixels (a 1000 × 1000 grey image is 1 MB in
/// memory while it is encoded).
pub const MAX_SIZE: u64 = 1000;
/// The side when the caller does not say.
pub const DEFAULT_SIZE: u64 = 300;

/// Why no image was made.
#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The text does not fit in a QR code.
    #[error("the text is too long for a QR code")]
    TooLong,
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// The QR code of `text` (error correction M) as a grey PNG of about `size` pixels square
/// (a whole number of pixels per module, at least one, so the side is at most `size` unless the
/// code needs more), in a `data:image/png;base64,` URL. The pixels, the PNG and the URL are wiped
/// when dropped: they carry whatever `text` carries.
///
/// # Errors
/// [`QrError::TooLong`] when `text` does not fit; [`QrError::Png`] when encoding fails.
pub fn png_data_url(text: &str, size: u64) -> Result<Zeroizing<String>, QrError> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|_| QrError::TooLong)?;
    let modules = code.width();
    let dark = Zeroizing::new(
        code.to_colors()
            .into_iter()
            .map(|c| u8::from(c == qrcode::Color::Dark))
            .collect::<Vec<u8>>(),
    );
    let side_modules = modules + 2 * QUIET_MODULES;
    let scale = (usize::try_from(size).unwrap_or(usize::MAX) / side_modules).max(1);
    let side = side_modules * scale;
    let mut pixels = Zeroizing::new(vec![255u8; side * side]);
    for y in 0..modules {
        for x in 0..modules {
            if dark[y * modules + x] == 0 {
                continue;
            }
            for dy in 0..scale {
                let start = ((QUIET_MODULES + y) * scale + dy) * side + (QUIET_MODULES + x) * scale;
                pixels[start..start + scale].fill(0);
            }
        }
    }
    let side = u32::try_from(side).map_err(|_| QrError::TooLong)?;
    let mut png = Zeroizing::new(Vec::new());
    {
        let png_error = |e: png::EncodingError| QrError::Png(e.to_string());
        let mut encoder = png::Encoder::new(&mut *png, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&pixels).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
    }
    let mut url = Zeroizing::new(String::from("data:image/png;base64,"));
    base64::engine::general_purpose::STANDARD.encode_string(&*png, &mut url);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_decodes_back_to_the_text_at_about_the_size_asked() {
        let text = "otpauth://totp/Acme%20Bank:ana%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Bank&algorithm=SHA1&digits=6&period=30";
        for size in [MIN_SIZE, DEFAULT_SIZE, MAX_SIZE] {
            let url = png_data_url(text, size).unwrap();
            let (side, decoded) = assent_testkit::authenticator::scan_qr(&url);
            assert_eq!(decoded, text, "the QR code at {size} px reads back");
            assert!(
                u64::from(side) <= size && u64::from(side) > size / 2,
                "asked {size} px, got {side}"
            );
        }
    }

    #[test]
    fn text_too_long_for_a_qr_code_is_refused() {
        assert!(matches!(
            png_data_url(&"x".repeat(8000), DEFAULT_SIZE),
            Err(QrError::TooLong)
        ));
    }
}
