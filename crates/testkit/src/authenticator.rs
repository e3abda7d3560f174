//! A person's other authenticator app: reads the QR code `users.generate_qr` answers with, as a
//! phone's camera would (the PNG's pixels, decoded by `rqrr`, an independent QR decoder), parses
//! the `otpauth://` URI in it, and computes codes from its seed.

use assent_protocol::totp::{CodeSeed, Digits};
use base64::Engine as _;

/// Decodes a `data:image/png;base64,` URL of an image with one QR code: the image's width and
/// the code's text. Panics, saying what is wrong, otherwise.
pub fn scan_qr(data_url: &str) -> (u32, String) {
    let data = data_url
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| panic!("a PNG data URL, not {:.40}", data_url));
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .expect("the data URL is base64");
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane PNG")];
    let info = reader.next_frame(&mut pixels).expect("PNG pixels");
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Grayscale, png::BitDepth::Eight),
        "a grey 8-bit image"
    );
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "the image holds one QR code");
    let (_, text) = grids[0].decode().expect("the QR code decodes");
    (info.width, text)
}

/// An authenticator app that scanned a QR code.
#[derive(Debug)]
pub struct AuthenticatorApp {
    /// The issuer, from the URI's `issuer` parameter.
    pub issuer: String,
    /// The label (after `issuer:` in the URI's path), decoded.
    pub label: String,
    /// Digits of its codes.
    pub digits: Digits,
    /// The width of the scanned image, in pixels.
    pub image_width: u32,
    seed: CodeSeed,
}

impl AuthenticatorApp {
    /// Scans `qr_code` (a data URL) and reads its `otpauth://totp/` URI, checking what every
    /// authenticator app relies on: SHA-1, 30-second steps, the issuer both in the path and as a
    /// parameter.
    pub fn scan(qr_code: &str) -> AuthenticatorApp {
        let (image_width, text) = scan_qr(qr_code);
        let uri = url::Url::parse(&text).expect("the QR code holds a URI");
        assert_eq!(uri.scheme(), "otpauth");
        assert_eq!(uri.host_str(), Some("totp"));
        let path = percent_encoding::percent_decode_str(uri.path().trim_start_matches('/'))
            .decode_utf8()
            .expect("a UTF-8 label")
            .into_owned();
        let (path_issuer, label) = path.split_once(':').expect("issuer:label");
        let param = |name: &str| {
            uri.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| panic!("the URI has no `{name}`: {text}"))
        };
        let issuer = param("issuer");
        assert_eq!(
            issuer, path_issuer,
            "the same issuer in the path and the query"
        );
        assert_eq!(param("algorithm"), "SHA1");
        assert_eq!(param("period"), "30");
        let digits = Digits::new(param("digits").parse().expect("digits is a number"))
            .expect("6 to 8 digits");
        let seed = CodeSeed::parse_base32(&param("secret")).expect("a 20-byte base32 secret");
        AuthenticatorApp {
            issuer,
            label: label.to_owned(),
            digits,
            image_width,
            seed,
        }
    }

    /// The code it shows at Unix time `now`.
    pub fn code_at(&self, now: i64) -> String {
        self.seed.code_at(now, self.digits).as_str().to_owned()
    }

    /// The seed's bytes (to look for them where they must not be).
    pub fn seed_bytes(&self) -> [u8; assent_protocol::totp::SEED_LEN] {
        *self.seed.expose()
    }
}
