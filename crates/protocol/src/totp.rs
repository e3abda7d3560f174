//! One-time codes: RFC 6238 TOTP with HMAC-SHA-1, 30-second steps, 6 to 8 digits.
//!
//! These are the codes Authy's token verification endpoint checks and every authenticator app
//! shows, so a backend written for Authy (and a person who prefers another authenticator app)
//! works unchanged. SHA-1 and 30 s are what every authenticator app implements; HMAC-SHA-1 has no
//! known weakness as a MAC. The seed is 20 random bytes (160 bits, RFC 4226 section 4's
//! recommended length). The number of digits is a setting of the device: 6 by default (what
//! backends and other authenticator apps expect), up to 8 (RFC 4226 section 5.3).
//!
//! Nothing here reads the clock: every function takes Unix seconds.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngCore as _;
use rand::rngs::OsRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::crypto::{b64url, b64url_decode};

/// Length of a time step, in seconds (RFC 6238's default `X`).
pub const STEP_SECONDS: i64 = 30;
/// Length of a seed, in bytes.
pub const SEED_LEN: usize = 20;
/// Fewest digits a code has.
pub const MIN_DIGITS: u8 = 6;
/// Most digits a code has.
pub const MAX_DIGITS: u8 = 8;
/// Digits when nobody chose otherwise.
pub const DEFAULT_DIGITS: u8 = 6;

/// Why a code or a seed was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Not 6 to 8 ASCII digits.
    #[error("a one-time code is 6 to 8 digits")]
    Malformed,
    /// A digit count outside 6 to 8.
    #[error("a one-time code has 6 to 8 digits, not {0}")]
    Digits(usize),
    /// Not 20 bytes of unpadded base64url.
    #[error("a code seed is 20 bytes of unpadded base64url")]
    Seed,
}

/// The number of digits of a code: 6, 7 or 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digits(u8);

impl Digits {
    /// Checks a digit count.
    ///
    /// # Errors
    /// [`CodeError::Digits`] outside 6 to 8.
    pub fn new(n: usize) -> Result<Self, CodeError> {
        if (usize::from(MIN_DIGITS)..=usize::from(MAX_DIGITS)).contains(&n) {
            Ok(Digits(n as u8))
        } else {
            Err(CodeError::Digits(n))
        }
    }

    /// The count.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Digits {
    fn default() -> Self {
        Digits(DEFAULT_DIGITS)
    }
}

/// A device's code seed: the HMAC key both the device and the service derive codes from. `Debug`
/// prints `<redacted>`; the bytes are wiped when dropped; on the wire it is unpadded base64url.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeSeed(Zeroizing<[u8; SEED_LEN]>);

impl CodeSeed {
    /// A new random seed from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; SEED_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        CodeSeed(bytes)
    }

    /// A seed from its bytes.
    pub fn from_bytes(bytes: [u8; SEED_LEN]) -> Self {
        CodeSeed(Zeroizing::new(bytes))
    }

    /// A seed from a byte slice.
    ///
    /// # Errors
    /// [`CodeError::Seed`] unless it is exactly [`SEED_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CodeError> {
        let array: [u8; SEED_LEN] = bytes.try_into().map_err(|_| CodeError::Seed)?;
        Ok(Self::from_bytes(array))
    }

    /// The bytes. Call only where the seed must be used (sealed, stored in the keychain, fed to
    /// HMAC).
    pub fn expose(&self) -> &[u8; SEED_LEN] {
        &self.0
    }

    /// The text form (unpadded base64url), for the keychain.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(b64url(self.0.as_ref()))
    }

    /// Parses the text form.
    ///
    /// # Errors
    /// [`CodeError::Seed`].
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        let bytes = Zeroizing::new(b64url_decode(text).map_err(|_| CodeError::Seed)?);
        Self::from_slice(&bytes)
    }

    /// The code for time step `step` (RFC 4226 HOTP with counter `step`).
    pub fn code_for_step(&self, step: i64, digits: Digits) -> OneTimeCode {
        let mut mac =
            <Hmac<Sha1> as Mac>::new_from_slice(self.0.as_ref()).expect("HMAC takes any key");
        // Steps before 1970 are negative; RFC 6238 only defines T >= 0, and the cast keeps the
        // function total (such codes are never accepted: the window is around the service's now).
        mac.update(&(step as u64).to_be_bytes());
        let hash = mac.finalize().into_bytes();
        let offset = usize::from(hash[19] & 0x0f);
        let binary = (u32::from(hash[offset]) & 0x7f) << 24
            | u32::from(hash[offset + 1]) << 16
            | u32::from(hash[offset + 2]) << 8
            | u32::from(hash[offset + 3]);
        let modulus = 10u32.pow(u32::from(digits.get()));
        OneTimeCode(format!(
            "{:0width$}",
            binary % modulus,
            width = usize::from(digits.get())
        ))
    }

    /// The code at Unix time `unix`.
    pub fn code_at(&self, unix: i64, digits: Digits) -> OneTimeCode {
        self.code_for_step(time_step(unix), digits)
    }

    /// The step within `window` steps of `now`'s whose code is `code`, checking every step of the
    /// window (so the time taken does not tell which step matched).
    pub fn matching_step(&self, code: &OneTimeCode, now: i64, window: i64) -> Option<i64> {
        let digits = Digits::new(code.0.len()).ok()?;
        let current = time_step(now);
        let mut found = None;
        for step in current - window..=current + window {
            if self.code_for_step(step, digits).same_as(code) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// RFC 4648 base32 alphabet: what authenticator apps take a seed in.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// What an `otpauth://` URI's label and issuer may carry unescaped: RFC 3986's unreserved
/// characters.
const URI_TEXT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl CodeSeed {
    /// The seed in RFC 4648 base32 without padding (upper case), as authenticator apps take it.
    pub fn to_base32(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(SEED_LEN.div_ceil(5) * 8));
        let (mut buffer, mut bits) = (0u32, 0u32);
        for byte in self.0.iter() {
            buffer = (buffer << 8) | u32::from(*byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
            }
            buffer &= (1 << bits) - 1;
        }
        if bits > 0 {
            out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
        }
        out
    }

    /// Parses base32 as authenticator apps write it: either case, `=` padding and spaces
    /// ignored.
    ///
    /// # Errors
    /// [`CodeError::Seed`] for another character or a length other than [`SEED_LEN`] bytes.
    pub fn parse_base32(text: &str) -> Result<Self, CodeError> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(SEED_LEN));
        let (mut buffer, mut bits) = (0u32, 0u32);
        for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
            let value = BASE32
                .iter()
                .position(|a| *a == c.to_ascii_uppercase())
                .ok_or(CodeError::Seed)?;
            buffer = (buffer << 5) | value as u32;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((buffer >> bits) as u8);
            }
            buffer &= (1 << bits) - 1;
        }
        Self::from_slice(&bytes)
    }

    /// The `otpauth://totp/` URI (Google Authenticator's key URI format, which every
    /// authenticator app reads) of this seed: SHA-1, 30-second steps, `digits` digits, shown as
    /// `issuer: label`. Neither `issuer` nor `label` should contain `:` (apps split the label on
    /// it); both are percent-encoded. Handle with care: it carries the seed.
    pub fn otpauth_uri(&self, issuer: &str, label: &str, digits: Digits) -> Zeroizing<String> {
        let issuer = percent_encoding::utf8_percent_encode(issuer, URI_TEXT).to_string();
        let label = percent_encoding::utf8_percent_encode(label, URI_TEXT);
        Zeroizing::new(format!(
            "otpauth://totp/{issuer}:{label}?secret={}&issuer={issuer}&algorithm=SHA1&digits={}&period={STEP_SECONDS}",
            self.to_base32().as_str(),
            digits.get()
        ))
    }
}

impl fmt::Debug for CodeSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for CodeSeed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for CodeSeed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        CodeSeed::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The time step of Unix time `unix`.
pub fn time_step(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECONDS)
}

/// Seconds until the code at `unix` changes (1 to 30).
pub fn seconds_left(unix: i64) -> i64 {
    STEP_SECONDS - unix.rem_euclid(STEP_SECONDS)
}

/// A one-time code: 6 to 8 ASCII digits. `Debug` prints `<redacted>` (a code is a credential for
/// as long as it is valid); [`OneTimeCode::as_str`] is for showing it to its person.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    /// Parses a code as typed (no spaces, no signs).
    ///
    /// # Errors
    /// [`CodeError::Malformed`].
    pub fn parse(text: &str) -> Result<Self, CodeError> {
        if (usize::from(MIN_DIGITS)..=usize::from(MAX_DIGITS)).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit())
        {
            Ok(OneTimeCode(text.to_owned()))
        } else {
            Err(CodeError::Malformed)
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in time that depends only on the lengths (which are public).
    pub fn same_as(&self, other: &OneTimeCode) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .bytes()
                .zip(other.0.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_seed() -> CodeSeed {
        CodeSeed::from_bytes(*b"12345678901234567890")
    }

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 Appendix B, the SHA-1 rows (8 digits).
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            assert_eq!(
                rfc_seed().code_at(time, Digits::new(8).unwrap()).as_str(),
                expected,
                "RFC 6238 code at T={time} should be {expected}"
            );
        }
    }

    #[test]
    fn rfc_4226_hotp_vectors_six_digits() {
        // RFC 4226 Appendix D: HOTP with counters 0..9, 6 digits.
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(
                rfc_seed()
                    .code_for_step(counter as i64, Digits::default())
                    .as_str(),
                *code,
                "HOTP counter {counter} should give {code}"
            );
        }
    }

    #[test]
    fn seven_digits_are_the_low_digits_of_the_same_truncation() {
        // 89005924 at T=1234567890: 7 digits keep the last seven.
        assert_eq!(
            rfc_seed()
                .code_at(1_234_567_890, Digits::new(7).unwrap())
                .as_str(),
            "9005924"
        );
    }

    #[test]
    fn digits_outside_six_to_eight_are_refused() {
        assert_eq!(Digits::new(5), Err(CodeError::Digits(5)));
        assert_eq!(Digits::new(9), Err(CodeError::Digits(9)));
        assert!(Digits::new(6).is_ok() && Digits::new(8).is_ok());
    }

    #[test]
    fn window_accepts_one_step_either_side_and_nothing_further() {
        let seed = rfc_seed();
        let now = 1_111_111_111;
        let step = time_step(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = seed.code_for_step(step + offset, Digits::default());
            assert_eq!(
                seed.matching_step(&code, now, 1),
                accepted.then_some(step + offset),
                "a code {offset} steps from now should be accepted: {accepted}"
            );
        }
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in [
            "",
            "12345",
            "123456789",
            "12345a",
            " 123456",
            "123 456",
            "-12345",
            "１２３４５６",
        ] {
            assert_eq!(
                OneTimeCode::parse(bad),
                Err(CodeError::Malformed),
                "{bad:?} should be refused"
            );
        }
        assert_eq!(OneTimeCode::parse("0012345").unwrap().as_str(), "0012345");
    }

    #[test]
    fn seed_round_trips_and_never_prints() {
        let seed = CodeSeed::generate();
        assert_eq!(format!("{seed:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&seed)), "Some(<redacted>)");
        let json = serde_json::to_string(&seed).unwrap();
        assert_eq!(serde_json::from_str::<CodeSeed>(&json).unwrap(), seed);
        assert_ne!(CodeSeed::generate(), seed, "two seeds should differ");
        let code = seed.code_at(0, Digits::default());
        assert_eq!(format!("{code:?}"), "<redacted>");
    }

    #[test]
    fn seeds_of_the_wrong_length_or_encoding_are_refused() {
        for bad in ["", "AAAA", &b64url(&[0u8; 19]), &b64url(&[0u8; 21]), "!!!"] {
            assert_eq!(
                CodeSeed::parse(bad),
                Err(CodeError::Seed),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn base32_follows_rfc_4648_and_round_trips() {
        // RFC 4648 section 10: BASE32("fooba") = "MZXW6YTB"; 20 bytes need no padding.
        let mut bytes = [0u8; SEED_LEN];
        bytes[..5].copy_from_slice(b"fooba");
        bytes[5..10].copy_from_slice(b"fooba");
        let seed = CodeSeed::from_bytes(bytes);
        let text = seed.to_base32();
        assert_eq!(text.len(), 32, "20 bytes are 32 base32 characters");
        assert!(text.starts_with("MZXW6YTBMZXW6YTB"), "{}", text.as_str());
        assert_eq!(
            CodeSeed::parse_base32(&text.to_lowercase()).unwrap(),
            seed,
            "lower case reads back"
        );
        let random = CodeSeed::generate();
        assert_eq!(CodeSeed::parse_base32(&random.to_base32()).unwrap(), random);
        for bad in [
            "",
            "MZXW6YTB",
            "1ZXW6YTBMZXW6YTBAAAAAAAAAAAAAAAA",
            &"A".repeat(40),
        ] {
            assert_eq!(
                CodeSeed::parse_base32(bad),
                Err(CodeError::Seed),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn the_otpauth_uri_carries_the_seed_and_the_code_parameters() {
        let seed = rfc_seed();
        let uri = seed.otpauth_uri("Acme Bank", "ana@example.com", Digits::default());
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Acme%20Bank:ana%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Bank&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn seconds_left_counts_down_within_a_step() {
        assert_eq!(seconds_left(0), 30);
        assert_eq!(seconds_left(29), 1);
        assert_eq!(seconds_left(30), 30);
        assert_eq!(seconds_left(-1), 1);
    }
}
