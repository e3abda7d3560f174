//! One-time codes (RFC 6238, see `assent_protocol::totp`) for the accounts of this device: what
//! a person types where push cannot reach the desktop. The seed is read from the keychain for
//! each code and never leaves this module except as a code.

use std::fmt;
use std::sync::Arc;

use assent_protocol::totp::{Digits, STEP_SECONDS, seconds_left, time_step};
use serde::Serialize;
use uuid::Uuid;

use crate::Account;
use crate::authenticator::{Authenticator, blocking};
use crate::error::{Error, Result};
use crate::session::DeviceSession;
use crate::settings::Settings;
use crate::view::{CodeView, shown_text};

/// An account's current code.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct AccountCode {
    /// The local account id.
    pub account: Uuid,
    /// The relying party's name.
    pub app_name: String,
    /// The person (Authy `authy_id`).
    pub user_id: u64,
    /// The code's digits.
    pub code: String,
    /// Seconds until it changes (1 to 30).
    pub seconds_left: i64,
    /// The time step it belongs to.
    pub step: i64,
}

impl fmt::Debug for AccountCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A code is a credential for as long as it is valid.
        f.debug_struct("AccountCode")
            .field("account", &self.account)
            .field("app_name", &self.app_name)
            .field("code", &"<redacted>")
            .field("seconds_left", &self.seconds_left)
            .finish()
    }
}

impl From<AccountCode> for CodeView {
    fn from(code: AccountCode) -> Self {
        CodeView {
            account_id: code.account,
            app_name: shown_text(&code.app_name),
            digits: u8::try_from(code.code.len()).unwrap_or(u8::MAX),
            code: code.code,
            seconds_left: code.seconds_left,
            step_seconds: STEP_SECONDS,
        }
    }
}

impl DeviceSession {
    /// The current code of account `account_id` at Unix time `now` (this computer's clock, never
    /// corrected by a service's: see [`crate::clock`]), with the length set in the settings.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`], [`Error::Storage`], then as [`Authenticator::code`] (revoked,
    /// no seed in the keychain, keychain errors).
    pub async fn code(&self, account_id: Uuid, now: i64) -> Result<CodeView> {
        let account = self.authenticator().account(account_id)?;
        let digits = self.settings().digits();
        Ok(self
            .authenticator()
            .code(&account, now, digits)
            .await?
            .into())
    }

    /// The code length in effect (6 to 8).
    pub fn code_digits(&self) -> u8 {
        self.settings().digits().get()
    }

    /// Sets the code length: written to the settings file first, then in effect and announced.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] outside 6 to 8 (nothing written); [`Error::Storage`].
    pub fn set_code_digits(&self, digits: u8) -> Result<u8> {
        let checked = Digits::new(usize::from(digits)).map_err(|e| Error::InvalidSetting {
            name: "the code length".into(),
            value: digits.to_string(),
            expected: format!("{e}; choose 6, 7 or 8"),
        })?;
        let settings = Settings {
            code_digits: checked.get(),
            ..self.settings()
        };
        Ok(self.set_settings(settings)?.digits().get())
    }
}

impl Authenticator {
    /// The code of `account` at Unix time `now`, with `digits` digits.
    ///
    /// # Errors
    /// [`Error::Revoked`] for a revoked account; [`Error::KeyMissing`] when the keychain has no
    /// code seed for it (an account enrolled before codes existed: enroll again); keychain
    /// errors.
    pub async fn code(&self, account: &Account, now: i64, digits: Digits) -> Result<AccountCode> {
        if !account.is_active() {
            return Err(Error::Revoked {
                account: account.app.name.clone(),
            });
        }
        let secrets = Arc::clone(self.secrets());
        let id = account.id;
        let seed = blocking(move || secrets.load_code_seed(id))
            .await?
            .ok_or(Error::KeyMissing)?;
        Ok(AccountCode {
            account: account.id,
            app_name: account.app.name.clone(),
            user_id: account.user_id,
            code: seed.code_at(now, digits).as_str().to_owned(),
            seconds_left: seconds_left(now),
            step: time_step(now),
        })
    }
}
