//! Secrets the service mints: API keys, registration tokens, the service signing key.

use std::fmt;

use assent_protocol::crypto::{PublicKey, b64url, sha256};
use assent_protocol::revocation::RevocationNotice;
use assent_protocol::secret::SecretString;
use assent_protocol::signed::Signed;
use ed25519_dalek::SigningKey;
use rand::RngCore as _;
use rand::rngs::OsRng;

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new API key: 32 random bytes, base64url (43 characters).
pub fn new_api_key() -> SecretString {
    SecretString::new(b64url(&random::<32>()))
}

/// A new registration token: 32 random bytes, base64url (43 characters).
pub fn new_registration_token() -> SecretString {
    SecretString::new(b64url(&random::<32>()))
}

/// How API keys and tokens are stored: SHA-256. They are 256-bit random values, so a fast hash
/// is enough; a slow password hash would only slow down every API call.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    sha256(secret.as_bytes())
}

/// A new app id: 12 random bytes as 24 lower-case hex characters (the shape of Authy's `app_id`).
pub fn new_app_id() -> String {
    hex::encode(random::<12>())
}

/// The key this deployment signs every request with. Devices pin its public half.
#[derive(Clone)]
pub struct ServiceKey(SigningKey);

impl ServiceKey {
    /// A fresh random secret, to offer the store on first start.
    pub fn candidate() -> [u8; 32] {
        random::<32>()
    }

    /// From the stored secret.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        ServiceKey(SigningKey::from_bytes(secret))
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The signed notice that `device` is revoked (as of `revoked_at`): the only word on which a
    /// device deletes its key.
    pub fn revocation_notice(
        &self,
        device: uuid::Uuid,
        revoked_at: i64,
    ) -> Signed<RevocationNotice> {
        Signed::sign(&RevocationNotice::new(device, revoked_at), &self.0)
            .expect("a notice of ids and integers has a canonical form")
    }

    /// The public half devices pin.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_signing_key(&self.0)
    }
}

impl fmt::Debug for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ServiceKey(public: {}, secret: <redacted>)",
            self.public()
        )
    }
}
