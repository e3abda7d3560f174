//! Ed25519 keys, signatures and domain-separated signing.
//!
//! Every signature in Assent is made over `tag || 0x00 || canonical JSON`, where `tag` names the
//! message kind ([`MessageKind`]). Tags contain no NUL byte, so the split is unambiguous and a
//! signature made for one kind can never verify as another, even over identical JSON.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::canonical::{self, CanonicalError};

/// The kinds of signed message. Each has its own domain tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// The `Authorization: Assent-Device ...` header of a device call (signed by the device).
    RequestAuth,
    /// The canonical approval request a device displays (signed by the service).
    RequestDetails,
    /// A person's approve/deny decision (signed by the device).
    Decision,
    /// Proof that an enrolling device holds the private half of the key it registers.
    EnrollmentProof,
    /// The service's notice that a device is revoked (signed by the service): the only word on
    /// which a device deletes its key.
    Revocation,
    /// The service's record of an enrollment: which key is which device of which person (signed by
    /// the service; in receipts and in the approval log).
    EnrollmentRecord,
    /// The service's countersignature of an approval receipt.
    Receipt,
}

impl MessageKind {
    /// Every kind, for tests and documentation.
    pub const ALL: [MessageKind; 7] = [
        MessageKind::RequestAuth,
        MessageKind::RequestDetails,
        MessageKind::Decision,
        MessageKind::EnrollmentProof,
        MessageKind::Revocation,
        MessageKind::EnrollmentRecord,
        MessageKind::Receipt,
    ];

    /// The domain tag prefixed to the canonical bytes before signing.
    pub fn tag(self) -> &'static str {
        match self {
            MessageKind::RequestAuth => "assent/v1/request-auth",
            MessageKind::RequestDetails => "assent/v1/request-details",
            MessageKind::Decision => "assent/v1/decision",
            MessageKind::EnrollmentProof => "assent/v1/enrollment-proof",
            MessageKind::Revocation => "assent/v1/revocation",
            MessageKind::EnrollmentRecord => "assent/v1/enrollment-record",
            MessageKind::Receipt => "assent/v1/receipt",
        }
    }

    /// The exact bytes a signature of this kind covers: `tag || 0x00 || canonical`.
    pub fn signing_input(self, canonical: &[u8]) -> Vec<u8> {
        let tag = self.tag().as_bytes();
        let mut input = Vec::with_capacity(tag.len() + 1 + canonical.len());
        input.extend_from_slice(tag);
        input.push(0);
        input.extend_from_slice(canonical);
        input
    }
}

/// Why a signature did not verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The message has no canonical form, so it cannot have been signed by a conforming signer.
    #[error("message has no canonical form: {0}")]
    Canonical(#[from] CanonicalError),
    /// The signature is not valid for this key, kind and message.
    #[error("signature does not verify")]
    Invalid,
}

/// Why a key or signature could not be decoded from text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Not unpadded base64url, or non-canonical trailing bits.
    #[error("not canonical unpadded base64url")]
    Base64,
    /// Decoded to the wrong number of bytes.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Expected length in bytes.
        expected: usize,
        /// Decoded length in bytes.
        got: usize,
    },
    /// The bytes are not a valid Ed25519 public key (not a curve point).
    #[error("not a valid Ed25519 public key")]
    InvalidKey,
}

/// Encodes bytes as unpadded base64url, the encoding of every binary field on the wire.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url, refusing padding and non-canonical trailing bits so that each
/// value has exactly one textual form.
///
/// # Errors
/// [`DecodeError::Base64`] for anything that is not canonical unpadded base64url.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| DecodeError::Base64)
}

fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    let bytes = b64url_decode(text)?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| DecodeError::Length { expected: N, got })
}

/// An Ed25519 public key; on the wire, 43 characters of unpadded base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// The public half of a signing key.
    pub fn from_signing_key(key: &SigningKey) -> Self {
        PublicKey(key.verifying_key())
    }

    /// Parses 32 raw bytes.
    ///
    /// # Errors
    /// [`DecodeError::InvalidKey`] when the bytes are not a point on the curve.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, DecodeError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(PublicKey)
            .map_err(|_| DecodeError::InvalidKey)
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Parses the wire form (unpadded base64url).
    ///
    /// # Errors
    /// A [`DecodeError`] describing what is wrong with the text.
    pub fn from_b64(text: &str) -> Result<Self, DecodeError> {
        Self::from_bytes(&decode_exact::<32>(text)?)
    }

    /// The wire form (unpadded base64url).
    pub fn to_b64(&self) -> String {
        b64url(self.0.as_bytes())
    }

    /// Verifies a signature of `kind` over the canonical form of `message`.
    ///
    /// Uses Ed25519 strict verification (rejects small-order keys and non-canonical `R`), so a
    /// signature cannot be malleated into a second valid one.
    ///
    /// # Errors
    /// [`SignatureError::Canonical`] if `message` has no canonical form;
    /// [`SignatureError::Invalid`] if the signature does not verify.
    pub fn verify<T: Serialize + ?Sized>(
        &self,
        kind: MessageKind,
        message: &T,
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let canonical = canonical::to_canonical_bytes(message)?;
        self.verify_canonical(kind, &canonical, signature)
    }

    /// Verifies a signature of `kind` over already-canonical bytes.
    ///
    /// # Errors
    /// [`SignatureError::Invalid`] if the signature does not verify.
    pub fn verify_canonical(
        &self,
        kind: MessageKind,
        canonical: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.0
            .verify_strict(&kind.signing_input(canonical), &signature.0)
            .map_err(|_| SignatureError::Invalid)
    }

    /// Verifies a plain Ed25519 signature over the text of a signed note (C2SP signature type
    /// `0x01`, see [`crate::checkpoint`]): no domain tag, because the note format is its own
    /// domain. A note contains no NUL byte, so it is never a tagged signing input.
    ///
    /// # Errors
    /// [`SignatureError::Invalid`] if the signature does not verify.
    pub fn verify_note(&self, text: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        if text.contains(&0) {
            return Err(SignatureError::Invalid);
        }
        self.0
            .verify_strict(text, &signature.0)
            .map_err(|_| SignatureError::Invalid)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_b64())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b64())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_b64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PublicKey::from_b64(&text).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 signature; on the wire, 86 characters of unpadded base64url.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    /// The 64 raw bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }

    /// From 64 raw bytes (any 64 bytes decode; validity is checked on verification).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Signature(ed25519_dalek::Signature::from_bytes(bytes))
    }

    /// Parses the wire form (unpadded base64url).
    ///
    /// # Errors
    /// A [`DecodeError`] when the text is not 64 bytes of canonical base64url.
    pub fn from_b64(text: &str) -> Result<Self, DecodeError> {
        Ok(Self::from_bytes(&decode_exact::<64>(text)?))
    }

    /// The wire form (unpadded base64url).
    pub fn to_b64(&self) -> String {
        b64url(&self.0.to_bytes())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_b64())
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_b64())
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Signature::from_b64(&text).map_err(serde::de::Error::custom)
    }
}

/// Signs the canonical form of `message` as `kind`.
///
/// # Errors
/// [`CanonicalError`] if `message` has no canonical form.
pub fn sign<T: Serialize + ?Sized>(
    key: &SigningKey,
    kind: MessageKind,
    message: &T,
) -> Result<Signature, CanonicalError> {
    let canonical = canonical::to_canonical_bytes(message)?;
    Ok(sign_canonical(key, kind, &canonical))
}

/// Signs already-canonical bytes as `kind`.
pub fn sign_canonical(key: &SigningKey, kind: MessageKind, canonical: &[u8]) -> Signature {
    Signature(key.sign(&kind.signing_input(canonical)))
}

/// SHA-256 over `tag || 0x00 || canonical`: the digest by which a decision names the exact
/// request the person saw.
pub fn digest(kind: MessageKind, canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(kind.tag().as_bytes());
    hasher.update([0u8]);
    hasher.update(canonical);
    hasher.finalize().into()
}

/// True when `a` and `b` are equal, in time that depends only on their lengths (for comparing
/// secrets and MACs).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// SHA-256 of arbitrary bytes (bodies, tokens).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn tags_are_distinct_and_nul_free() {
        for a in MessageKind::ALL {
            assert!(
                !a.tag().contains('\0'),
                "tag {} must not contain NUL",
                a.tag()
            );
            for b in MessageKind::ALL {
                if a != b {
                    assert_ne!(a.tag(), b.tag());
                }
            }
        }
    }

    #[test]
    fn signature_verifies_only_for_its_kind() {
        let k = key(7);
        let msg = json!({"a": 1});
        let sig = sign(&k, MessageKind::Decision, &msg).unwrap();
        let pk = PublicKey::from_signing_key(&k);
        assert_eq!(pk.verify(MessageKind::Decision, &msg, &sig), Ok(()));
        for other in MessageKind::ALL
            .into_iter()
            .filter(|k| *k != MessageKind::Decision)
        {
            assert_eq!(
                pk.verify(other, &msg, &sig),
                Err(SignatureError::Invalid),
                "a decision signature must not verify as {other:?}"
            );
        }
    }

    #[test]
    fn keys_and_signatures_round_trip_through_text() {
        let k = key(9);
        let pk = PublicKey::from_signing_key(&k);
        assert_eq!(PublicKey::from_b64(&pk.to_b64()), Ok(pk));
        let sig = sign(&k, MessageKind::RequestAuth, &json!("x")).unwrap();
        assert_eq!(Signature::from_b64(&sig.to_b64()), Ok(sig));
        assert_eq!(pk.to_b64().len(), 43);
        assert_eq!(sig.to_b64().len(), 86);
    }

    #[test]
    fn padded_or_wrong_length_text_is_refused() {
        let pk = PublicKey::from_signing_key(&key(1)).to_b64();
        assert_eq!(
            PublicKey::from_b64(&format!("{pk}=")),
            Err(DecodeError::Base64)
        );
        assert!(PublicKey::from_b64(&pk[..40]).is_err());
        assert!(matches!(
            Signature::from_b64("AAAA"),
            Err(DecodeError::Length {
                expected: 64,
                got: 3
            })
        ));
    }
}
