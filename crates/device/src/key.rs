//! The device's Ed25519 identity.

use std::fmt;
use std::sync::Arc;

use assent_protocol::crypto::PublicKey;
use ed25519_dalek::SigningKey;
use zeroize::Zeroizing;

/// An account's private key, in memory only while it is being used. It is generated on the
/// device, persisted only through a [`crate::SecretStore`] (the OS keychain), and never written
/// to a file, a log or an IPC message: `Debug` shows only the public half.
#[derive(Clone)]
pub struct DeviceKey(Arc<SigningKey>);

impl DeviceKey {
    /// A fresh random key from the OS RNG.
    pub fn generate() -> Self {
        DeviceKey(Arc::new(SigningKey::generate(&mut rand::rngs::OsRng)))
    }

    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        DeviceKey(Arc::new(SigningKey::from_bytes(seed)))
    }

    pub(crate) fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The public half, registered with the service.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_signing_key(&self.0)
    }
}

impl fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DeviceKey(public: {}, private: <redacted>)",
            self.public()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_private_key() {
        let key = DeviceKey::generate();
        let printed = format!("{key:?}");
        assert!(printed.contains("<redacted>"));
        assert!(
            !printed.contains(&hex::encode(key.seed().as_slice())),
            "the seed must not be printed"
        );
        assert!(!printed.contains(&assent_protocol::crypto::b64url(key.seed().as_slice())));
    }

    #[test]
    fn seed_round_trips() {
        let key = DeviceKey::generate();
        assert_eq!(DeviceKey::from_seed(&key.seed()).public(), key.public());
    }
}
