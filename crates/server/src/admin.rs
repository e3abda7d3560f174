//! Operator actions on the database: creating apps and rotating their API keys. Used by
//! `assent app ...`, which works on the same database as a running service.

use assent_protocol::callback::{CallbackKey, CallbackMethod};
use assent_protocol::secret::SecretString;

use crate::keys::{new_api_key, new_app_id, secret_hash};
use crate::store::{App, NewApp, Store, StoreError};

/// What an operator asks for.
#[derive(Debug, Clone)]
pub struct AppSpec {
    /// Display name (1 to 64 characters).
    pub name: String,
    /// Default logo (http or https).
    pub logo_url: Option<String>,
    /// `#rrggbb`.
    pub accent_color: Option<String>,
    /// Callback URL (http or https).
    pub callback_url: Option<String>,
    /// POST JSON or GET query.
    pub callback_method: CallbackMethod,
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
}

fn check_url(url: &str, what: &str) -> Result<(), AdminError> {
    let ok = url::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if ok && url.len() <= 2048 {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "{what} must be an http(s) URL, got {url:?}"
        )))
    }
}

fn check_spec(spec: &AppSpec) -> Result<(), AdminError> {
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(AdminError::Invalid(
            "the app name must be 1 to 64 characters".into(),
        ));
    }
    if let Some(url) = &spec.logo_url {
        check_url(url, "--logo-url")?;
    }
    if let Some(url) = &spec.callback_url {
        check_url(url, "--callback-url")?;
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
    Ok(())
}

/// Creates an app; returns it and its API key, which is shown once and stored only hashed.
///
/// # Errors
/// [`AdminError::Invalid`] for a bad field; [`AdminError::Store`] when the database fails.
pub async fn create_app(
    store: &dyn Store,
    spec: AppSpec,
    now: i64,
) -> Result<(App, SecretString), AdminError> {
    check_spec(&spec)?;
    let key = new_api_key();
    let app = store
        .create_app(NewApp {
            id: new_app_id(),
            name: spec.name.trim().to_owned(),
            logo_url: spec.logo_url,
            accent_color: spec.accent_color.map(|c| c.to_ascii_lowercase()),
            callback_url: spec.callback_url,
            callback_method: spec.callback_method,
            api_key_hash: secret_hash(key.expose()),
            callback_key: CallbackKey::from_api_key(key.expose()),
            created_at: now,
        })
        .await?;
    Ok((app, key))
}

/// Replaces an app's API key; the old one stops working at once. Returns the new key.
///
/// # Errors
/// [`AdminError::UnknownApp`]; [`AdminError::Store`].
pub async fn rotate_key(store: &dyn Store, app_id: &str) -> Result<SecretString, AdminError> {
    let key = new_api_key();
    if store
        .rotate_app_key(
            app_id,
            secret_hash(key.expose()),
            CallbackKey::from_api_key(key.expose()),
        )
        .await?
    {
        Ok(key)
    } else {
        Err(AdminError::UnknownApp(app_id.to_owned()))
    }
}
