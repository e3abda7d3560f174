//! Enrollment: a device registers its public key with a single-use registration token and proves
//! it holds the private half.

use std::fmt;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::crypto::{self, MessageKind, PublicKey, Signature, SignatureError};
use crate::request::AppBranding;
use crate::secret::SecretString;
use crate::totp::CodeSeed;

/// Longest accepted device name, in characters.
pub const MAX_DEVICE_NAME_CHARS: usize = 64;
/// Longest accepted platform string, in characters.
pub const MAX_PLATFORM_CHARS: usize = 32;

/// The object an enrolling device signs (kind [`MessageKind::EnrollmentProof`]): it binds the
/// token, the key and the names the device registers under.
#[derive(Debug, Serialize)]
pub struct EnrollmentProof<'a> {
    /// Always 1.
    pub v: u32,
    /// The registration token being redeemed.
    pub token: &'a str,
    /// The key being registered.
    pub public_key: &'a PublicKey,
    /// The device name.
    pub name: &'a str,
    /// The device platform (`linux`, `macos`, `windows`, ...).
    pub platform: &'a str,
}

/// `POST /device/v1/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentRequest {
    /// The single-use registration token.
    pub token: SecretString,
    /// The device's new public key.
    pub public_key: PublicKey,
    /// A name the person will recognise ("Ana's laptop").
    pub name: String,
    /// The platform (`linux`, `macos`, `windows`, `headless`).
    pub platform: String,
    /// Signature by the new key over [`EnrollmentProof`] (proof of possession).
    pub proof: Signature,
}

impl EnrollmentRequest {
    /// Builds a request and signs its proof with the new device key.
    pub fn new(token: SecretString, key: &SigningKey, name: String, platform: String) -> Self {
        let public_key = PublicKey::from_signing_key(key);
        let proof = {
            let message = EnrollmentProof {
                v: 1,
                token: token.expose(),
                public_key: &public_key,
                name: &name,
                platform: &platform,
            };
            // A struct of strings always has a canonical form.
            crypto::sign(key, MessageKind::EnrollmentProof, &message).expect("strings canonicalize")
        };
        EnrollmentRequest {
            token,
            public_key,
            name,
            platform,
            proof,
        }
    }

    /// Checks the proof of possession against the key in the request.
    ///
    /// # Errors
    /// [`SignatureError::Invalid`] when the proof was not made by the registered key over these
    /// exact fields.
    pub fn verify_proof(&self) -> Result<(), SignatureError> {
        let message = EnrollmentProof {
            v: 1,
            token: self.token.expose(),
            public_key: &self.public_key,
            name: &self.name,
            platform: &self.platform,
        };
        self.public_key
            .verify(MessageKind::EnrollmentProof, &message, &self.proof)
    }
}

/// The service's answer to a successful enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentResponse {
    /// The new device's id.
    pub device_id: Uuid,
    /// The device's integer alias (Authy callbacks carry `device_uuid` as an integer).
    pub device_alias: u64,
    /// The person this device approves for (Authy `authy_id`).
    pub user_id: u64,
    /// The relying party and its branding.
    pub app: AppBranding,
    /// The service key that signs every request this device will be shown; pin it.
    pub service_public_key: PublicKey,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// The device's one-time code seed ([`crate::totp`]): kept by the device in the OS keychain,
    /// by the service sealed at rest. Sent once, here.
    pub code_seed: CodeSeed,
}

/// Why an enrollment link could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnrollLinkError {
    /// Not a URL at all.
    #[error("not a link: {0}")]
    NotAUrl(String),
    /// A URL, but not `assent://enroll`.
    #[error("not an Assent enrollment link (expected assent://enroll?server=...&token=...)")]
    WrongScheme,
    /// The `server` or `token` parameter is missing.
    #[error("the enrollment link has no {0}")]
    Missing(&'static str),
    /// The server is not an http(s) URL.
    #[error("the enrollment link's server is not an http(s) URL: {0}")]
    BadServer(String),
    /// The token has characters a registration token never has.
    #[error("the enrollment link's token is malformed")]
    BadToken,
}

/// `assent://enroll?server=<service URL>&token=<registration token>`.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollLink {
    /// The service's public URL.
    pub server: Url,
    /// The registration token.
    pub token: SecretString,
}

impl fmt::Debug for EnrollLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollLink")
            .field("server", &self.server.as_str())
            .field("token", &self.token)
            .finish()
    }
}

/// Checks a service URL given by a person or a link: http or https, with a host.
///
/// # Errors
/// [`EnrollLinkError::BadServer`] otherwise.
pub fn parse_server_url(text: &str) -> Result<Url, EnrollLinkError> {
    let url = Url::parse(text.trim()).map_err(|_| EnrollLinkError::BadServer(text.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(EnrollLinkError::BadServer(text.to_owned()));
    }
    Ok(url)
}

/// Checks that a token looks like a registration token: 16 to 128 base64url characters.
///
/// # Errors
/// [`EnrollLinkError::BadToken`] otherwise.
pub fn check_token_shape(token: &str) -> Result<(), EnrollLinkError> {
    let ok = (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(EnrollLinkError::BadToken)
    }
}

impl EnrollLink {
    /// Parses a link.
    ///
    /// # Errors
    /// An [`EnrollLinkError`] saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, EnrollLinkError> {
        let url = Url::parse(text.trim()).map_err(|_| EnrollLinkError::NotAUrl(text.to_owned()))?;
        // `assent://enroll?...`: "enroll" is the host of a non-special URL.
        if url.scheme() != "assent" || url.host_str() != Some("enroll") {
            return Err(EnrollLinkError::WrongScheme);
        }
        let mut server = None;
        let mut token = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "server" => server = Some(v.into_owned()),
                "token" => token = Some(v.into_owned()),
                _ => {}
            }
        }
        let server = parse_server_url(&server.ok_or(EnrollLinkError::Missing("server"))?)?;
        let token = token.ok_or(EnrollLinkError::Missing("token"))?;
        check_token_shape(&token)?;
        Ok(EnrollLink {
            server,
            token: SecretString::new(token),
        })
    }

    /// Renders the link. The result contains the token: treat it as a secret.
    pub fn render(&self) -> String {
        let mut url = Url::parse("assent://enroll").expect("static URL parses");
        url.query_pairs_mut()
            .append_pair("server", self.server.as_str().trim_end_matches('/'))
            .append_pair("token", self.token.expose());
        url.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_round_trips() {
        let link = EnrollLink {
            server: Url::parse("http://127.0.0.1:8080").unwrap(),
            token: SecretString::new("abcdefghijklmnopqrstuvwxyzABCDEF0123456789_"),
        };
        let text = link.render();
        assert!(
            text.starts_with("assent://enroll?server=http%3A%2F%2F127.0.0.1%3A8080&token="),
            "{text}"
        );
        assert_eq!(EnrollLink::parse(&text), Ok(link));
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        assert_eq!(
            EnrollLink::parse("https://example.com/enroll?token=x"),
            Err(EnrollLinkError::WrongScheme)
        );
        assert_eq!(
            EnrollLink::parse("assent://enroll?token=abcdefghijklmnopqrstu"),
            Err(EnrollLinkError::Missing("server"))
        );
        assert_eq!(
            EnrollLink::parse("assent://enroll?server=http://h"),
            Err(EnrollLinkError::Missing("token"))
        );
        assert!(matches!(
            EnrollLink::parse("assent://enroll?server=ftp://h&token=abcdefghijklmnopqrstu"),
            Err(EnrollLinkError::BadServer(_))
        ));
        assert_eq!(
            EnrollLink::parse("assent://enroll?server=http://h&token=has%20space%20inside%20it"),
            Err(EnrollLinkError::BadToken)
        );
        assert!(matches!(
            EnrollLink::parse("not a link"),
            Err(EnrollLinkError::NotAUrl(_))
        ));
    }

    #[test]
    fn proof_binds_every_field() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let req = EnrollmentRequest::new(
            SecretString::new("tok_tok_tok_tok_tok"),
            &key,
            "laptop".into(),
            "linux".into(),
        );
        assert_eq!(req.verify_proof(), Ok(()));
        let mut renamed = req.clone();
        renamed.name = "other".into();
        assert_eq!(
            renamed.verify_proof(),
            Err(SignatureError::Invalid),
            "the name is covered by the proof"
        );
        let mut other_key = req;
        other_key.public_key = PublicKey::from_signing_key(&SigningKey::from_bytes(&[4; 32]));
        assert_eq!(
            other_key.verify_proof(),
            Err(SignatureError::Invalid),
            "the proof must be by the registered key"
        );
    }
}
