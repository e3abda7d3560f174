//! The signed envelope: `{"payload": {...}, "signature": "<base64url>"}`.
//!
//! Verification runs over the canonical form of the payload *as received* (a JSON value), and
//! only then is the payload read into its typed struct. Verifying the typed struct instead would
//! accept any text that parses to the same struct (an upper-case UUID, say), so a tampered message
//! could verify; verifying the received value means any change to the signed content fails.

use std::fmt;
use std::marker::PhantomData;

use ed25519_dalek::SigningKey;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::canonical::{self, CanonicalError};
use crate::crypto::{self, MessageKind, PublicKey, Signature, SignatureError};

/// A message type that travels signed, and the kind its signature is made as.
pub trait SignedMessage: Serialize + DeserializeOwned {
    /// The domain of this message's signatures.
    const KIND: MessageKind;
}

/// Why a signed envelope was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The payload is not a JSON object.
    #[error("signed payload must be a JSON object")]
    NotAnObject,
    /// The payload has no canonical form.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// The signature does not verify under the expected key.
    #[error("signature does not verify")]
    BadSignature,
    /// The signature verifies but the payload is not a valid message of this type.
    #[error("signed payload is not a valid message: {0}")]
    Malformed(String),
}

impl From<SignatureError> for VerifyError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::Canonical(c) => VerifyError::Canonical(c),
            SignatureError::Invalid => VerifyError::BadSignature,
        }
    }
}

/// A payload and a signature over its canonical bytes. See the module documentation.
pub struct Signed<T> {
    payload: Value,
    signature: Signature,
    kind: PhantomData<fn() -> T>,
}

/// The result of a successful verification: the typed message, its canonical bytes and digest.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    /// The message, read from the verified payload.
    pub message: T,
    /// The canonical bytes the signature covers (without the domain tag).
    pub canonical: Vec<u8>,
    /// SHA-256 over `tag || 0x00 || canonical` (see [`crypto::digest`]).
    pub digest: [u8; 32],
}

impl<T: SignedMessage> Signed<T> {
    /// Signs `message` with `key` as `T::KIND`.
    ///
    /// # Errors
    /// [`CanonicalError`] if the message has no canonical form.
    pub fn sign(message: &T, key: &SigningKey) -> Result<Self, CanonicalError> {
        let payload =
            serde_json::to_value(message).map_err(|e| CanonicalError::NotJson(e.to_string()))?;
        let canonical = canonical::canonicalize(&payload)?;
        let signature = crypto::sign_canonical(key, T::KIND, &canonical);
        Ok(Signed {
            payload,
            signature,
            kind: PhantomData,
        })
    }

    /// Builds an envelope from parts received separately.
    pub fn from_parts(payload: Value, signature: Signature) -> Self {
        Signed {
            payload,
            signature,
            kind: PhantomData,
        }
    }

    /// Verifies the signature over the received payload, then reads the payload as `T`.
    ///
    /// # Errors
    /// A [`VerifyError`] naming the first check that failed.
    pub fn verify(&self, key: &PublicKey) -> Result<Verified<T>, VerifyError> {
        if !self.payload.is_object() {
            return Err(VerifyError::NotAnObject);
        }
        let canonical = canonical::canonicalize(&self.payload)?;
        key.verify_canonical(T::KIND, &canonical, &self.signature)?;
        let message =
            T::deserialize(&self.payload).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        let digest = crypto::digest(T::KIND, &canonical);
        Ok(Verified {
            message,
            canonical,
            digest,
        })
    }

    /// The payload as received. Unverified: read it only after [`Signed::verify`] succeeded.
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Signed {
            payload: self.payload.clone(),
            signature: self.signature,
            kind: PhantomData,
        }
    }
}

/// Two envelopes are equal when they carry the same payload (as received) and signature.
impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.payload == other.payload && self.signature == other.signature
    }
}

impl<T> Eq for Signed<T> {}

impl<T> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("payload", &self.payload)
            .field("signature", &self.signature)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    payload: Value,
    signature: Signature,
}

impl<T> Serialize for Signed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Serialising borrows would need a second struct; payloads are small, a clone is fine.
        Envelope {
            payload: self.payload.clone(),
            signature: self.signature,
        }
        .serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Signed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let e = Envelope::deserialize(d)?;
        Ok(Signed {
            payload: e.payload,
            signature: e.signature,
            kind: PhantomData,
        })
    }
}
