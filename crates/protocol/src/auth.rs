//! The device `Authorization` header.
//!
//! ```text
//! Authorization: Assent-Device id=<device uuid>, ts=<unix seconds>, nonce=<base64url>, sig=<base64url>
//! ```
//!
//! `sig` is an Ed25519 signature of kind [`MessageKind::RequestAuth`] over the canonical JSON of
//! [`AuthPayload`]: the device id, the HTTP method, the request target (path and query, exactly as
//! sent), `ts`, `nonce` and the SHA-256 of the body. The header has exactly one textual form:
//! [`DeviceAuthorization::parse`] refuses anything [`DeviceAuthorization::render`] would not
//! produce, so no two header strings carry the same signed content.
//!
//! The service additionally refuses a nonce it has seen within the skew window; that needs state
//! and lives in the service.

use ed25519_dalek::SigningKey;
use rand::RngCore as _;
use serde::Serialize;
use uuid::Uuid;

use crate::crypto::{self, DecodeError, MessageKind, PublicKey, Signature, SignatureError};

/// The authorization scheme name.
pub const SCHEME: &str = "Assent-Device";
/// The clock skew the service accepts by default, in seconds.
pub const DEFAULT_MAX_SKEW_SECS: u64 = 120;
/// Random bytes in a nonce made by [`new_nonce`].
pub const NONCE_BYTES: usize = 16;

/// The object a request-auth signature covers.
#[derive(Debug, Serialize)]
pub struct AuthPayload<'a> {
    /// Always 1.
    pub v: u32,
    /// The calling device.
    pub device_id: &'a Uuid,
    /// HTTP method, upper case.
    pub method: &'a str,
    /// Request target: path plus `?query` when there is one, exactly as sent.
    pub path: &'a str,
    /// Unix seconds at signing.
    pub ts: i64,
    /// Random, single use within the skew window.
    pub nonce: &'a str,
    /// Lower-case hex SHA-256 of the request body (of the empty string when there is none).
    pub body_sha256: String,
}

/// Why a header could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthHeaderError {
    /// The scheme is not `Assent-Device`.
    #[error("authorization scheme must be {SCHEME}")]
    Scheme,
    /// A field is missing.
    #[error("authorization header is missing `{0}`")]
    Missing(&'static str),
    /// A field is repeated or unknown, or the fields are out of order.
    #[error("authorization header must be exactly `id=.., ts=.., nonce=.., sig=..`")]
    Layout,
    /// The device id is not a UUID.
    #[error("authorization `id` is not a UUID")]
    DeviceId,
    /// `ts` is not an integer.
    #[error("authorization `ts` is not a Unix timestamp")]
    Timestamp,
    /// The nonce is not 16 to 64 base64url characters.
    #[error("authorization `nonce` must be 16 to 64 base64url characters")]
    Nonce,
    /// The signature is not 64 bytes of base64url.
    #[error("authorization `sig` is malformed: {0}")]
    Signature(DecodeError),
    /// Parsed, but written differently from the one canonical form.
    #[error("authorization header is not in canonical form")]
    NonCanonical,
}

/// Why a well-formed header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// `ts` is further from `now` than allowed.
    #[error(
        "request timestamp is {skew_secs} s away from the server clock (at most {max_secs} s allowed)"
    )]
    ClockSkew {
        /// `ts - now`.
        skew_secs: i64,
        /// The allowed magnitude.
        max_secs: u64,
    },
    /// The signature does not verify under the device's key.
    #[error("request signature does not verify")]
    BadSignature,
}

impl From<SignatureError> for AuthError {
    fn from(_: SignatureError) -> Self {
        // AuthPayload is strings and one safe integer, so a canonical failure cannot happen for a
        // parsed header; either way the request is not authentic.
        AuthError::BadSignature
    }
}

/// A fresh nonce: 16 random bytes, base64url (22 characters).
pub fn new_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    crypto::b64url(&bytes)
}

/// A parsed device `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// The calling device.
    pub device_id: Uuid,
    /// Unix seconds at signing.
    pub ts: i64,
    /// The nonce.
    pub nonce: String,
    /// The signature.
    pub signature: Signature,
}

fn body_sha256(body: &[u8]) -> String {
    hex::encode(crypto::sha256(body))
}

fn nonce_ok(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl DeviceAuthorization {
    /// Signs a call. `path` is the request target (path and query) exactly as it will be sent.
    pub fn sign(
        key: &SigningKey,
        device_id: Uuid,
        method: &str,
        path: &str,
        body: &[u8],
        ts: i64,
        nonce: String,
    ) -> Self {
        let payload = AuthPayload {
            v: 1,
            device_id: &device_id,
            method,
            path,
            ts,
            nonce: &nonce,
            body_sha256: body_sha256(body),
        };
        let signature = crypto::sign(key, MessageKind::RequestAuth, &payload)
            .expect("auth payload canonicalizes");
        DeviceAuthorization {
            device_id,
            ts,
            nonce,
            signature,
        }
    }

    /// The header value.
    pub fn render(&self) -> String {
        format!(
            "{SCHEME} id={}, ts={}, nonce={}, sig={}",
            self.device_id.hyphenated(),
            self.ts,
            self.nonce,
            self.signature.to_b64()
        )
    }

    /// Parses a header value. Leading and trailing whitespace (which HTTP may add) is ignored;
    /// everything else must be exactly as [`DeviceAuthorization::render`] writes it.
    ///
    /// # Errors
    /// An [`AuthHeaderError`] naming the first problem.
    pub fn parse(header: &str) -> Result<Self, AuthHeaderError> {
        let header = header.trim_matches(|c| c == ' ' || c == '\t');
        let rest = header
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(AuthHeaderError::Scheme)?;
        let mut fields = [None; 4];
        const NAMES: [&str; 4] = ["id", "ts", "nonce", "sig"];
        for (i, part) in rest.split(", ").enumerate() {
            let (name, value) = part.split_once('=').ok_or(AuthHeaderError::Layout)?;
            match NAMES.iter().position(|n| *n == name) {
                Some(at) if at == i && fields[at].is_none() => fields[at] = Some(value),
                _ => return Err(AuthHeaderError::Layout),
            }
        }
        let [id, ts, nonce, sig] = fields;
        let id = id.ok_or(AuthHeaderError::Missing("id"))?;
        let ts = ts.ok_or(AuthHeaderError::Missing("ts"))?;
        let nonce = nonce.ok_or(AuthHeaderError::Missing("nonce"))?;
        let sig = sig.ok_or(AuthHeaderError::Missing("sig"))?;

        let device_id = Uuid::try_parse(id).map_err(|_| AuthHeaderError::DeviceId)?;
        let ts: i64 = ts.parse().map_err(|_| AuthHeaderError::Timestamp)?;
        if !nonce_ok(nonce) {
            return Err(AuthHeaderError::Nonce);
        }
        let signature = Signature::from_b64(sig).map_err(AuthHeaderError::Signature)?;
        let parsed = DeviceAuthorization {
            device_id,
            ts,
            nonce: nonce.to_owned(),
            signature,
        };
        // One textual form per header: refuse upper-case UUIDs, `+5` or `05` timestamps and the like.
        if parsed.render() != header {
            return Err(AuthHeaderError::NonCanonical);
        }
        Ok(parsed)
    }

    /// Refuses a timestamp more than `max_skew_secs` away from `now`.
    ///
    /// # Errors
    /// [`AuthError::ClockSkew`].
    pub fn check_clock(&self, now: i64, max_skew_secs: u64) -> Result<(), AuthError> {
        let skew = self.ts.saturating_sub(now);
        if skew.unsigned_abs() > max_skew_secs {
            return Err(AuthError::ClockSkew {
                skew_secs: skew,
                max_secs: max_skew_secs,
            });
        }
        Ok(())
    }

    /// Verifies the signature for this method, request target and body under `key`.
    ///
    /// # Errors
    /// [`AuthError::BadSignature`].
    pub fn verify_signature(
        &self,
        key: &PublicKey,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(), AuthError> {
        let payload = AuthPayload {
            v: 1,
            device_id: &self.device_id,
            method,
            path,
            ts: self.ts,
            nonce: &self.nonce,
            body_sha256: body_sha256(body),
        };
        key.verify(MessageKind::RequestAuth, &payload, &self.signature)?;
        Ok(())
    }

    /// [`check_clock`](Self::check_clock) then [`verify_signature`](Self::verify_signature).
    ///
    /// # Errors
    /// The first check that fails.
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        key: &PublicKey,
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
        max_skew_secs: u64,
    ) -> Result<(), AuthError> {
        self.check_clock(now, max_skew_secs)?;
        self.verify_signature(key, method, path, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> (SigningKey, DeviceAuthorization) {
        let key = SigningKey::from_bytes(&[5; 32]);
        let auth = DeviceAuthorization::sign(
            &key,
            Uuid::from_u128(0x1234),
            "POST",
            "/device/v1/requests/x/decision",
            b"{}",
            1_700_000_000,
            "AAAAAAAAAAAAAAAAAAAAAA".into(),
        );
        (key, auth)
    }

    #[test]
    fn verifies_and_checks_clock() {
        let (key, auth) = signed();
        let pk = PublicKey::from_signing_key(&key);
        let path = "/device/v1/requests/x/decision";
        assert_eq!(
            auth.verify(&pk, "POST", path, b"{}", 1_700_000_100, 120),
            Ok(())
        );
        assert_eq!(
            auth.verify(&pk, "POST", path, b"{}", 1_700_000_121, 120),
            Err(AuthError::ClockSkew {
                skew_secs: -121,
                max_secs: 120
            })
        );
        assert_eq!(
            auth.verify(&pk, "GET", path, b"{}", 1_700_000_000, 120),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            auth.verify(&pk, "POST", "/other", b"{}", 1_700_000_000, 120),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            auth.verify(&pk, "POST", path, b"{ }", 1_700_000_000, 120),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn parse_refuses_other_spellings() {
        let (_, auth) = signed();
        let text = auth.render();
        assert_eq!(DeviceAuthorization::parse(&text), Ok(auth.clone()));
        assert_eq!(
            DeviceAuthorization::parse(&format!("  {text} ")),
            Ok(auth.clone())
        );
        assert_eq!(
            DeviceAuthorization::parse(&text.replace("Assent-Device", "assent-device")),
            Err(AuthHeaderError::Scheme)
        );
        assert_eq!(
            DeviceAuthorization::parse(&text.replace(
                "00000000-0000-0000-0000-000000001234",
                "00000000-0000-0000-0000-00000000123A"
            )),
            Err(AuthHeaderError::NonCanonical),
            "a different UUID spelling is not canonical"
        );
        assert_eq!(
            DeviceAuthorization::parse(&text.replace("ts=", "ts=+")),
            Err(AuthHeaderError::NonCanonical)
        );
        assert_eq!(
            DeviceAuthorization::parse(&text.replace(", ts=", ",ts=")),
            Err(AuthHeaderError::Layout)
        );
        let reordered = format!(
            "Assent-Device ts={}, id={}, nonce={}, sig={}",
            auth.ts,
            auth.device_id,
            auth.nonce,
            auth.signature.to_b64()
        );
        assert_eq!(
            DeviceAuthorization::parse(&reordered),
            Err(AuthHeaderError::Layout)
        );
        assert_eq!(
            DeviceAuthorization::parse(
                &text.replace("nonce=AAAAAAAAAAAAAAAAAAAAAA", "nonce=short")
            ),
            Err(AuthHeaderError::Nonce)
        );
        let no_sig = text.split(", sig=").next().unwrap().to_owned();
        assert_eq!(
            DeviceAuthorization::parse(&no_sig),
            Err(AuthHeaderError::Missing("sig"))
        );
    }

    #[test]
    fn nonces_are_fresh_and_valid() {
        let a = new_nonce();
        let b = new_nonce();
        assert_ne!(a, b);
        assert!(nonce_ok(&a), "{a} must be a valid nonce");
    }
}
