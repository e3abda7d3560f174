//! Logo images from relying parties, through the device's own decoder module (compiled here on
//! its own): any bytes are refused or become a PNG of exactly LOGO_SIDE x LOGO_SIDE pixels;
//! nothing whose header claims more than MAX_SOURCE_SIDE pixels on a side is decoded; the
//! decoder's allocations stay within its limit (libFuzzer's RSS limit catches a bomb that gets
//! through).
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/device/src/logo/picture.rs"]
mod picture;

use libfuzzer_sys::fuzz_target;
use picture::{LOGO_SIDE, MAX_SOURCE_SIDE, PictureError};

fuzz_target!(|data: &[u8]| {
    let claimed = picture::dimensions(data);
    match picture::normalize(data) {
        Ok(png) => {
            let (w, h) = claimed.expect("a normalized image had a readable header");
            assert!(w <= MAX_SOURCE_SIDE && h <= MAX_SOURCE_SIDE, "{w}x{h} was decoded");
            assert_eq!(picture::sniff(&png).map(|s| s.1), Some("image/png"));
            assert_eq!(
                picture::dimensions(&png),
                Ok((LOGO_SIDE, LOGO_SIDE)),
                "every logo comes out at the fixed size"
            );
        }
        Err(PictureError::TooManyPixels { width, height }) => {
            assert!(width > MAX_SOURCE_SIDE || height > MAX_SOURCE_SIDE || width == 0 || height == 0);
        }
        Err(PictureError::NotAnImage) => assert!(picture::sniff(data).is_none()),
        Err(PictureError::Undecodable(_)) => {}
    }
});
