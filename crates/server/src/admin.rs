//! Operator actions on the database: creating apps, rotating their API keys, re-sealing secrets
//! under a new key-encryption key. Used by `assent app ...` and `assent kek ...`, which work on
//! the same database as running services, and by tests.

use std::sync::Arc;

use assent_protocol::callback::{CallbackKey, CallbackMethod};
use assent_protocol::secret::SecretString;

use crate::config::ServiceConfig;
use crate::keys::{new_api_key, new_app_id, secret_hash};
use crate::notary::Notary;
use crate::sealed::{KeyRing, SealError, SecretPurpose};
use crate::store::{App, NewApp, Store, StoreError};
use crate::{OpenError, PlainSecrets, key_ring, open_store, reseal_secrets};

/// What an operator asks for.
#[derive(Debug, Clone, Default)]
pub struct AppSpec {
    /// Display name (1 to 64 characters).
    pub name: String,
    /// Default logo (http or https, on a public host unless `allow_local_logo`).
    pub logo_url: Option<String>,
    /// `#rrggbb`.
    pub accent_color: Option<String>,
    /// Callback URL (http or https).
    pub callback_url: Option<String>,
    /// POST JSON or GET query.
    pub callback_method: CallbackMethod,
    /// Also call back when a request expires or is cancelled (off by default: Authy backends
    /// expect only approved and denied).
    pub callback_expired_cancelled: bool,
    /// Accept a logo on this machine or a private network (development and demos only: devices
    /// refuse to fetch from such hosts unless their service is itself on loopback).
    pub allow_local_logo: bool,
    /// Push-fatigue and verification settings (the defaults are on).
    pub defences: crate::defences::AppDefences,
}

/// Why an operator action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A field is invalid; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// No app with that id.
    #[error("no app with id {0}")]
    UnknownApp(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed secret could not be opened.
    #[error(transparent)]
    Seal(#[from] SealError),
}

/// Checks an http(s) URL; what is wrong, as a phrase, for the caller's message.
pub fn check_http_url(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|_| "must be an http(s) URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err("must be an http(s) URL".into());
    }
    if assent_protocol::text::find_unsafe(url).is_some() {
        return Err("must not contain control characters".into());
    }
    Ok(parsed)
}

/// An http(s) URL without credentials (a logo is fetched anonymously; credentials in it would be
/// sent to whoever serves it).
fn check_logo_url_shape(url: &str) -> Result<url::Url, String> {
    let parsed = check_http_url(url)?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    Ok(parsed)
}

/// Checks a logo URL a relying party names: http(s), no credentials, and a host that can be on
/// the public internet. A logo on loopback, link-local or a private network would make the
/// person's computer fetch from its own network on the relying party's say-so. Returns the URL as
/// the check parsed it: that, not the text given, is what is stored and signed, so no other
/// parser can read a different host out of it (`http://a.example\@127.0.0.1/`).
///
/// # Errors
/// What is wrong, as a phrase ("must be ...").
pub fn check_logo_url(url: &str) -> Result<String, String> {
    let parsed = check_logo_url_shape(url)?;
    let host = parsed.host().expect("checked above");
    if assent_protocol::net::is_public_host(&host) {
        Ok(parsed.to_string())
    } else {
        Err("must be on a public host, not loopback, link-local or a private network".into())
    }
}

/// Checks `spec` and returns its logo URL as stored (parsed; see [`check_logo_url`]).
fn check_spec(spec: &AppSpec) -> Result<Option<String>, AdminError> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AdminError::Invalid(
            "the app name must be 1 to 64 characters".into(),
        ));
    }
    if assent_protocol::text::find_unsafe(name).is_some() {
        return Err(AdminError::Invalid(
            "the app name must not contain control or bidirectional characters".into(),
        ));
    }
    let mut logo = None;
    if let Some(url) = &spec.logo_url {
        let checked = if spec.allow_local_logo {
            check_logo_url_shape(url).map(|u| u.to_string())
        } else {
            check_logo_url(url)
        };
        logo = Some(checked.map_err(|problem| {
            let hint = if spec.allow_local_logo {
                ""
            } else {
                " (for development, --allow-local-logo accepts one on this machine)"
            };
            AdminError::Invalid(format!("--logo-url {problem}{hint}, got {url:?}"))
        })?);
        if url.len() > 2048 {
            return Err(AdminError::Invalid(
                "--logo-url is longer than 2048 bytes".into(),
            ));
        }
    }
    if let Some(url) = &spec.callback_url {
        check_http_url(url)
            .map_err(|problem| AdminError::Invalid(format!("--callback-url {problem}")))?;
        if url.len() > 2048 {
            return Err(AdminError::Invalid(
                "--callback-url is longer than 2048 bytes".into(),
            ));
        }
    }
    if let Some(color) = &spec.accent_color {
        let ok = color.len() == 7
            && color.starts_with('#')
            && color[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(AdminError::Invalid(format!(
                "--accent-color must look like #1f4fd1, got {color:?}"
            )));
        }
    }
    Ok(logo)
}

/// The operator's handle on a deployment's database: the store and the key ring that seals its
/// secrets.
#[derive(Debug, Clone)]
pub struct Operator {
    store: Arc<dyn Store>,
    keys: KeyRing,
    resealed_at_open: u64,
}

impl Operator {
    /// Works on `store` with `keys`.
    pub fn new(store: Arc<dyn Store>, keys: KeyRing) -> Self {
        Operator {
            store,
            keys,
            resealed_at_open: 0,
        }
    }

    /// Opens the database and key ring `config` names, as `assent serve` would (creating the
    /// default key file beside a new SQLite database), checks that the ring opens every stored
    /// secret (so nothing new is sealed with a key the service does not have), and seals any
    /// secret still in plain form or under a previous key.
    ///
    /// # Errors
    /// As [`crate::Service::open`].
    pub async fn open(config: &ServiceConfig) -> Result<Self, OpenError> {
        Self::open_with(config, PlainSecrets::Refuse).await
    }

    /// As [`Operator::open`], sealing secrets stored in plain form when `plain` says so (the
    /// operator vouches that the database is from before sealing).
    ///
    /// # Errors
    /// As [`Operator::open`].
    pub async fn open_with(config: &ServiceConfig, plain: PlainSecrets) -> Result<Self, OpenError> {
        let store = open_store(&config.database_url).await?;
        let keys = key_ring(config, store.as_ref()).await?;
        let resealed_at_open = reseal_secrets(store.as_ref(), &keys, plain).await?;
        Ok(Operator {
            store,
            keys,
            resealed_at_open,
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key ring secrets are sealed with.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Creates an app; returns it and its API key, which is shown once and stored only hashed
    /// (its callback HMAC state is stored sealed).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for a bad field; [`AdminError::Store`] when the database fails.
    pub async fn create_app(
        &self,
        mut spec: AppSpec,
        now: i64,
    ) -> Result<(App, SecretString), AdminError> {
        // Stored as parsed, like request logos (see `check_logo_url`).
        spec.logo_url = check_spec(&spec)?;
        let key = new_api_key();
        let id = new_app_id();
        let sealed_callback_key = self.keys.seal(
            &CallbackKey::from_api_key(key.expose()).to_bytes(),
            &SecretPurpose::CallbackKey { app_id: id.clone() },
        );
        let app = self
            .store
            .create_app(NewApp {
                id,
                name: spec.name.trim().to_owned(),
                logo_url: spec.logo_url,
                accent_color: spec.accent_color.map(|c| c.to_ascii_lowercase()),
                callback_url: spec.callback_url,
                callback_method: spec.callback_method,
                callback_expired_cancelled: spec.callback_expired_cancelled,
                api_key_hash: secret_hash(key.expose()),
                sealed_callback_key,
                created_at: now,
                defences: spec.defences,
            })
            .await?;
        Ok((app, key))
    }

    /// Replaces an app's API key; the old one stops working at once. Returns the new key.
    ///
    /// # Errors
    /// [`AdminError::UnknownApp`]; [`AdminError::Store`].
    pub async fn rotate_key(&self, app_id: &str) -> Result<SecretString, AdminError> {
        let key = new_api_key();
        let sealed = self.keys.seal(
            &CallbackKey::from_api_key(key.expose()).to_bytes(),
            &SecretPurpose::CallbackKey {
                app_id: app_id.to_owned(),
            },
        );
        if self
            .store
            .rotate_app_key(app_id, secret_hash(key.expose()), sealed)
            .await?
        {
            Ok(key)
        } else {
            Err(AdminError::UnknownApp(app_id.to_owned()))
        }
    }

    /// Replaces an app's push-fatigue and verification settings (they apply to requests created
    /// from now on).
    ///
    /// # Errors
    /// [`AdminError::UnknownApp`]; [`AdminError::Store`].
    pub async fn set_defences(
        &self,
        app_id: &str,
        defences: &crate::defences::AppDefences,
    ) -> Result<(), AdminError> {
        if self.store.set_app_defences(app_id, defences).await? {
            Ok(())
        } else {
            Err(AdminError::UnknownApp(app_id.to_owned()))
        }
    }

    /// Lifts the freeze and back-off that denials put on a person of `app_id`: the decisions they
    /// have made so far stop counting. For an operator who has checked with the person that the
    /// reports were a mistake (or that the account is safe again).
    ///
    /// # Errors
    /// [`AdminError::UnknownApp`], [`AdminError::Invalid`] when the person is not one of the
    /// app's; [`AdminError::Store`].
    pub async fn unfreeze(&self, app_id: &str, user_id: u64) -> Result<(), AdminError> {
        if self.store.app(app_id).await?.is_none() {
            return Err(AdminError::UnknownApp(app_id.to_owned()));
        }
        let person = self.store.user(app_id, user_id).await?;
        if person.is_none() || !self.store.lift_person_guards(user_id).await? {
            return Err(AdminError::Invalid(format!(
                "app {app_id} has no person with id {user_id}"
            )));
        }
        Ok(())
    }

    /// Re-seals every secret with the current key-encryption key (after a rotation, once every
    /// instance runs with the new key as current). Returns how many were re-sealed.
    ///
    /// # Errors
    /// A secret sealed with a key this operator was not given.
    pub async fn reseal(&self) -> Result<u64, OpenError> {
        Ok(self.resealed_at_open
            + reseal_secrets(self.store.as_ref(), &self.keys, PlainSecrets::Refuse).await?)
    }

    /// The notary of this deployment (its service key, from the database; stored first when the
    /// database has none yet), for tools that write through the store as the service does.
    ///
    /// # Errors
    /// The database fails or the service key does not open with this operator's keys.
    pub async fn notary(&self, issue_receipts: bool) -> Result<Notary, OpenError> {
        Ok(Notary::new(&self.service_key().await?, issue_receipts))
    }

    /// The deployment's service key (stored first when the database has none yet).
    ///
    /// # Errors
    /// As [`Operator::notary`].
    pub async fn service_key(&self) -> Result<crate::keys::ServiceKey, OpenError> {
        crate::load_service_key(self.store.as_ref(), &self.keys, crate::clock::unix_now()).await
    }

    /// The id of the key new secrets are sealed with.
    pub fn current_key_id(&self) -> String {
        self.keys.current().id_hex()
    }
}

/// Opens an app's callback HMAC state.
///
/// # Errors
/// The sealed value does not open with `keys` for this app.
pub fn callback_key(keys: &KeyRing, app: &App) -> Result<CallbackKey, SealError> {
    let bytes = keys.open_array::<64>(
        &app.sealed_callback_key,
        &SecretPurpose::CallbackKey {
            app_id: app.id.clone(),
        },
    )?;
    Ok(CallbackKey::from_bytes(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logo_url_is_stored_as_parsed() {
        assert_eq!(
            check_logo_url("HTTPS://CDN.Example.com:443/a/../logo.png").unwrap(),
            "https://cdn.example.com/logo.png"
        );
        // WHATWG reads `\` as `/`, so the host is a.example; an RFC 3986 parser of the text as
        // given would read 127.0.0.1. What is kept reads the same to both.
        let kept = check_logo_url("http://a.example\\@127.0.0.1/x").unwrap();
        let authority = kept
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap();
        assert_eq!(authority, "a.example", "{kept}");
    }

    #[test]
    fn logo_urls_must_be_public_http_without_credentials() {
        for bad in [
            "ftp://cdn.example/logo.png",
            "https://user:pw@cdn.example/logo.png",
            "http://127.0.0.1:9/logo.png",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.5/logo.png",
            "http://[::1]/logo.png",
            "http://localhost/logo.png",
            "not a url",
        ] {
            assert!(check_logo_url(bad).is_err(), "{bad} must be refused");
        }
        assert!(check_logo_url("https://cdn.acme.example/logo.png").is_ok());
    }

    #[test]
    fn a_local_app_logo_needs_the_operator_to_say_so() {
        let spec = AppSpec {
            name: "Dev".into(),
            logo_url: Some("http://127.0.0.1:8000/logo.png".into()),
            ..AppSpec::default()
        };
        assert!(check_spec(&spec).is_err());
        assert_eq!(
            check_spec(&AppSpec {
                allow_local_logo: true,
                ..spec
            })
            .unwrap()
            .as_deref(),
            Some("http://127.0.0.1:8000/logo.png")
        );
    }
}
