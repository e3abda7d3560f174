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

mod words;

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
    /// The person as the relying party registered them (display name, else e-mail), for the
    /// device to show beside the account. Absent from older services and for a person
    /// registered with a phone number only. Not signed: the device shows it as the account's
    /// label, never as proof of anything; it is checked like a request's names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
}

/// `POST /device/v1/enroll/preview`: what an enrollment link would enroll into, asked before
/// the person agrees. The token is not consumed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollPreviewRequest {
    /// The registration token from the link.
    pub token: SecretString,
}

/// The service's answer to a preview: who will send requests, for whom. A device shows it only
/// after checking it as it checks an [`EnrollmentResponse`] (name length, logo). The phrase is
/// never part of it: a device computes that itself ([`enroll_phrase`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollPreviewResponse {
    /// The relying party and its branding.
    pub app: AppBranding,
    /// The person the token enrolls for, as the relying party registered them (their name if it
    /// gave one, else their e-mail). `None` when it gave neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
}

/// Domain tag of the enrollment phrase hash; a phrase is never the hash of anything else.
const PHRASE_DOMAIN: &[u8] = b"assent enroll phrase v1\0";

/// Number of words in an enrollment phrase: 40 bits, enough that a page showing a phrase for
/// another link (another service, another token) matches by chance once in a trillion.
pub const PHRASE_WORDS: usize = 5;

/// The enrollment phrase for a link: five lower-case words joined by single spaces, from
/// SHA-256 over a domain tag, the service URL as parsed (without a trailing `/`, as
/// [`EnrollLink::render`] writes it) and the token. The relying party's page shows it beside the
/// link and the device computes it from the link it was given; when the two match, the device is
/// about to enroll with the token the page issued, at the service that page's backend uses.
///
/// It proves nothing about who runs the service: a look-alike page can show the phrase of its
/// own link. It catches a link swapped or altered between the page and the device.
pub fn enroll_phrase(server: &Url, token: &str) -> String {
    let server = server.as_str().trim_end_matches('/');
    let mut input = Vec::with_capacity(PHRASE_DOMAIN.len() + server.len() + 1 + token.len());
    input.extend_from_slice(PHRASE_DOMAIN);
    input.extend_from_slice(server.as_bytes());
    // Neither a URL nor a token contains a NUL, so the split between them is unambiguous.
    input.push(0);
    input.extend_from_slice(token.as_bytes());
    let digest = crypto::sha256(&input);
    digest[..PHRASE_WORDS]
        .iter()
        .map(|&b| words::WORDS[usize::from(b)])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Longest accepted enrollment link (or pasted service address), in bytes. A real link is under
/// 300; anything longer is refused before it is parsed.
pub const MAX_LINK_BYTES: usize = 2048;

/// Why an enrollment link could not be read. Messages never repeat the link's text: it comes from
/// anywhere (a web page, a chat message) and may carry characters meant to mislead.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum EnrollLinkError {
    /// Not a URL at all.
    #[error("not a link")]
    NotAUrl,
    /// Longer than [`MAX_LINK_BYTES`].
    #[error("the enrollment link is longer than {MAX_LINK_BYTES} bytes")]
    TooLong,
    /// A URL, but not `assent://enroll`.
    #[error("not an Assent enrollment link (expected assent://enroll?server=...&token=...)")]
    WrongScheme,
    /// The `server` or `token` parameter is missing.
    #[error("the enrollment link has no {0}")]
    Missing(&'static str),
    /// A parameter appears more than once: the link could be shown with one value and used with
    /// another.
    #[error("the enrollment link gives {0} more than once")]
    Repeated(&'static str),
    /// A parameter (or a part of the link) this version does not know.
    #[error("the enrollment link has parts an enrollment link never has")]
    Unexpected,
    /// The server is not an http(s) URL with a host.
    #[error("the enrollment link's server is not an http(s) address")]
    BadServer,
    /// The server address has a user name or password (`https://bank.example@evil.example`): the
    /// part before `@` is not the host, however it reads.
    #[error(
        "the service address has a user name or password before its host, which only serves to disguise the host"
    )]
    UserPart,
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

/// Checks a service URL given by a person or a link: http or https, with a host, and nothing that
/// could disguise the host: no user name or password, no query or fragment.
///
/// # Errors
/// [`EnrollLinkError::UserPart`] for a user part; [`EnrollLinkError::BadServer`] otherwise.
pub fn parse_server_url(text: &str) -> Result<Url, EnrollLinkError> {
    if text.len() > MAX_LINK_BYTES {
        return Err(EnrollLinkError::TooLong);
    }
    let url = Url::parse(text.trim()).map_err(|_| EnrollLinkError::BadServer)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(EnrollLinkError::BadServer);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(EnrollLinkError::UserPart);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(EnrollLinkError::BadServer);
    }
    Ok(url)
}

/// True when talking to `server` is not protected by TLS and leaves the machine: plain `http`
/// to anything but a loopback address. A person must accept that explicitly before enrolling.
pub fn is_insecure_server(server: &Url) -> bool {
    server.scheme() != "https"
        && !server
            .host()
            .is_some_and(|host| crate::net::is_loopback_host(&host))
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
    /// Parses a link strictly: `assent://enroll?server=...&token=...` and nothing else. A link
    /// that could be read two ways is refused rather than guessed at: a parameter given twice, a
    /// parameter this version does not know, a user part, path or fragment on the link, or a
    /// service address with a user part.
    ///
    /// # Errors
    /// An [`EnrollLinkError`] saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, EnrollLinkError> {
        if text.len() > MAX_LINK_BYTES {
            return Err(EnrollLinkError::TooLong);
        }
        let url = Url::parse(text.trim()).map_err(|_| EnrollLinkError::NotAUrl)?;
        // `assent://enroll?...`: "enroll" is the host of a non-special URL.
        if url.scheme() != "assent" || url.host_str() != Some("enroll") {
            return Err(EnrollLinkError::WrongScheme);
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.port().is_some()
            || !matches!(url.path(), "" | "/")
            || url.fragment().is_some()
        {
            return Err(EnrollLinkError::Unexpected);
        }
        let mut server = None;
        let mut token = None;
        for (k, v) in url.query_pairs() {
            let (slot, name) = match k.as_ref() {
                "server" => (&mut server, "server"),
                "token" => (&mut token, "token"),
                _ => return Err(EnrollLinkError::Unexpected),
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(EnrollLinkError::Repeated(name));
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

    /// The service's host exactly as parsed (an IDN in its ASCII form, an IP address in its
    /// canonical form), with the port when it is not the scheme's default: what a person must
    /// read, whole, before enrolling.
    pub fn host(&self) -> String {
        let host = self.server.host_str().unwrap_or_default();
        match self.server.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// The link's enrollment phrase ([`enroll_phrase`]).
    pub fn phrase(&self) -> String {
        enroll_phrase(&self.server, self.token.expose())
    }

    /// True when the host is an IP address that is not loopback: a relying party's service has a
    /// name, and a bare address in a link someone sent is worth a second look.
    pub fn is_bare_ip(&self) -> bool {
        match self.server.host() {
            Some(host @ (url::Host::Ipv4(_) | url::Host::Ipv6(_))) => {
                !crate::net::is_loopback_host(&host)
            }
            _ => false,
        }
    }

    /// See [`is_insecure_server`].
    pub fn is_insecure(&self) -> bool {
        is_insecure_server(&self.server)
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
        let cases: &[(&str, EnrollLinkError)] = &[
            (
                "https://example.com/enroll?token=x",
                EnrollLinkError::WrongScheme,
            ),
            (
                "assent://enroll?token=abcdefghijklmnopqrstu",
                EnrollLinkError::Missing("server"),
            ),
            (
                "assent://enroll?server=http://h",
                EnrollLinkError::Missing("token"),
            ),
            (
                "assent://enroll?server=ftp://h&token=abcdefghijklmnopqrstu",
                EnrollLinkError::BadServer,
            ),
            (
                "assent://enroll?server=http://h&token=has%20space%20inside%20it",
                EnrollLinkError::BadToken,
            ),
            ("not a link", EnrollLinkError::NotAUrl),
        ];
        for (text, expected) in cases {
            assert_eq!(&EnrollLink::parse(text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn links_that_read_two_ways_are_refused() {
        let t = "abcdefghijklmnopqrstu";
        let cases = [
            (
                format!(
                    "assent://enroll?server=https%3A%2F%2Fa.example&token={t}&server=https%3A%2F%2Fb.example"
                ),
                EnrollLinkError::Repeated("server"),
            ),
            (
                format!("assent://enroll?server=https%3A%2F%2Fa.example&token={t}&token={t}"),
                EnrollLinkError::Repeated("token"),
            ),
            (
                format!(
                    "assent://enroll?serv%65r=https%3A%2F%2Fa.example&server=https%3A%2F%2Fb.example&token={t}"
                ),
                EnrollLinkError::Repeated("server"),
            ),
            (
                format!(
                    "assent://enroll?server=https%3A%2F%2Fa.example&token={t}&next=https%3A%2F%2Fb.example"
                ),
                EnrollLinkError::Unexpected,
            ),
            (
                format!(
                    "assent://enroll?server=https%3A%2F%2Flong.lookalike.name%40127.0.0.1&token={t}"
                ),
                EnrollLinkError::UserPart,
            ),
            (
                format!(
                    "assent://enroll?server=https%3A%2F%2Fbank.example%3Ax%40evil.example&token={t}"
                ),
                EnrollLinkError::UserPart,
            ),
            (
                format!("assent://user@enroll?server=https%3A%2F%2Fa.example&token={t}"),
                EnrollLinkError::Unexpected,
            ),
            (
                format!("assent://enroll/other?server=https%3A%2F%2Fa.example&token={t}"),
                EnrollLinkError::Unexpected,
            ),
            (
                format!(
                    "assent://enroll?server=https%3A%2F%2Fa.example&token={t}#server=https://b.example"
                ),
                EnrollLinkError::Unexpected,
            ),
            (
                format!("assent://enroll?server=https%3A%2F%2Fa.example%2F%3Fx%3D1&token={t}"),
                EnrollLinkError::BadServer,
            ),
            (
                format!(
                    "assent://enroll?server=https%3A%2F%2Fa.example&token={t}&{}",
                    "x".repeat(MAX_LINK_BYTES)
                ),
                EnrollLinkError::TooLong,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                EnrollLink::parse(&text),
                Err(expected.clone()),
                "{text} must be refused as {expected:?}"
            );
        }
    }

    #[test]
    fn the_host_is_what_the_parser_read_and_plain_http_is_insecure_off_loopback() {
        let t = "abcdefghijklmnopqrstu";
        let link = |server: &str| {
            EnrollLink::parse(&format!(
                "assent://enroll?server={}&token={t}",
                percent_encoding::utf8_percent_encode(server, percent_encoding::NON_ALPHANUMERIC)
            ))
            .unwrap()
        };
        let cases = [
            ("https://auth.acme.example", "auth.acme.example", false),
            (
                "https://auth.acme.example:8443/x",
                "auth.acme.example:8443",
                false,
            ),
            ("https://BÜCHER.example", "xn--bcher-kva.example", false),
            ("http://auth.acme.example", "auth.acme.example", true),
            ("http://10.0.0.5:7070", "10.0.0.5:7070", true),
            ("http://127.0.0.1:7070", "127.0.0.1:7070", false),
            ("http://[::1]:7070", "[::1]:7070", false),
            ("http://localhost:7070", "localhost:7070", false),
            ("http://2130706433", "127.0.0.1", false),
        ];
        for (server, host, insecure) in cases {
            let parsed = link(server);
            assert_eq!(parsed.host(), host, "{server} is shown as {host}");
            assert_eq!(
                parsed.is_insecure(),
                insecure,
                "{server}: insecure = {insecure}"
            );
        }
        assert_eq!(
            parse_server_url("https://a@b.example"),
            Err(EnrollLinkError::UserPart)
        );
    }

    #[test]
    fn the_word_list_has_256_distinct_four_letter_prefixes() {
        let prefixes: std::collections::HashSet<_> = words::WORDS
            .iter()
            .map(|w| w.get(..4).unwrap_or(w))
            .collect();
        assert_eq!(
            prefixes.len(),
            256,
            "no two words may share their first four letters"
        );
        assert!(
            words::WORDS
                .iter()
                .all(|w| (3..=8).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase())),
            "every word is short and lower-case ASCII"
        );
    }

    #[test]
    fn the_phrase_is_fixed_for_a_link_and_changes_with_every_part() {
        let token = "abcdefghijklmnopqrstuvwxyzABCDEF0123456789_";
        let url = |s: &str| Url::parse(s).unwrap();
        let phrase = enroll_phrase(&url("https://auth.acme.example"), token);
        // A fixed vector: another implementation (a relying party's page) must print exactly this.
        assert_eq!(phrase, PHRASE_VECTOR, "the phrase of the documented vector");
        assert_eq!(phrase.split(' ').count(), PHRASE_WORDS);
        assert_eq!(
            enroll_phrase(&url("https://auth.acme.example/"), token),
            phrase,
            "a trailing slash is the same service"
        );
        let others = [
            enroll_phrase(&url("https://auth.acme.example:8443"), token),
            enroll_phrase(&url("http://auth.acme.example"), token),
            enroll_phrase(&url("https://auth.acme.examples"), token),
            enroll_phrase(&url("https://auth.acme.example/other"), token),
            enroll_phrase(
                &url("https://auth.acme.example"),
                "abcdefghijklmnopqrstuvwxyzABCDEF0123456789-",
            ),
        ];
        for (i, other) in others.iter().enumerate() {
            assert_ne!(
                other, &phrase,
                "variant {i} (port, scheme, host, path, token) must change the phrase"
            );
        }
        let link = EnrollLink {
            server: url("https://auth.acme.example"),
            token: SecretString::new(token),
        };
        assert_eq!(
            EnrollLink::parse(&link.render()).unwrap().phrase(),
            phrase,
            "the phrase survives rendering and parsing the link"
        );
    }

    /// `enroll_phrase("https://auth.acme.example", "abcdefghijklmnopqrstuvwxyzABCDEF0123456789_")`.
    const PHRASE_VECTOR: &str = "music hawk panda diary quarry";

    #[test]
    fn a_bare_ip_is_an_address_that_is_not_loopback() {
        let t = "abcdefghijklmnopqrstu";
        let bare = |server: &str| {
            EnrollLink::parse(&format!(
                "assent://enroll?server={}&token={t}",
                percent_encoding::utf8_percent_encode(server, percent_encoding::NON_ALPHANUMERIC)
            ))
            .unwrap()
            .is_bare_ip()
        };
        assert!(bare("https://10.0.0.5"));
        assert!(bare("http://[2001:db8::1]:7070"));
        assert!(
            bare("https://167772165"),
            "a decimal IPv4 is an address too"
        );
        assert!(!bare("http://127.0.0.1:7070"), "loopback is the demo");
        assert!(!bare("http://[::1]:7070"));
        assert!(!bare("https://auth.acme.example"));
        assert!(!bare("http://localhost:7070"));
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
