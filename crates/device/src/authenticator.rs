//! [`Authenticator`]: everything a device does, for the desktop app and the headless CLI alike.

use std::path::Path;
use std::sync::Arc;

use assent_protocol::decision::{
    DECISION_VERSION, Decision, DecisionReceipt, DenyReason, Outcome, VerificationMethod,
};
use assent_protocol::enroll::{
    EnrollLink, EnrollPreviewRequest, EnrollPreviewResponse, EnrollmentRequest, check_token_shape,
    parse_server_url,
};
use assent_protocol::error::ErrorCode;
use assent_protocol::request::{RecordedAnswer, RequestDetails, RequestStatus, UserVerification};
use assent_protocol::secret::SecretString;
use assent_protocol::signed::Signed;
use uuid::Uuid;

use crate::account::{Account, DataDir, HistoryEntry};
use crate::client::{self, DeviceClient};
use crate::error::{Error, ErrorKind, Result};
use crate::key::DeviceKey;
use crate::revocation::RevocationProof;
use crate::secret_store::SecretStore;
use crate::stream::{MAX_PENDING_PER_ACCOUNT, PushStream, StreamConfig};
use crate::verification::{UserVerifier, VerificationPrompt, platform_verifier};

/// A request fetched from the service and verified against the account's pinned service key.
/// Only verified requests exist as this type, so only they can be shown or decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownRequest {
    /// The account it is for.
    pub account_id: Uuid,
    /// The canonical request, exactly as signed by the service.
    pub details: RequestDetails,
    /// Its digest; a decision signs this, naming exactly what was shown.
    pub digest: [u8; 32],
    /// The status when fetched.
    pub status: RequestStatus,
    /// True when this account's person must pick a number or type a code to approve (the
    /// initiator of a number-matching request; other approvers approve without).
    pub needs_number: bool,
    /// The device that fetched it (this device, for its account): what the service's
    /// same-network fact is read against.
    pub device_id: Uuid,
    /// The account's person (one of the approvers).
    pub person: u64,
    /// The account's name for its person ([`Account::account_name`]), never from the request.
    pub account_name: Option<String>,
    /// The host the account was enrolled with ([`Account::host`]), never from the request.
    pub server_host: String,
    /// The approvers' answers so far, as the service reported them with the request. Not
    /// signed (like `status`): only for showing who answered a request still waiting; names
    /// outside the approvers are dropped.
    pub answers: Vec<RecordedAnswer>,
}

impl ShownRequest {
    /// This account's person's answer so far, as the service recorded it.
    pub fn my_answer(&self) -> Option<Outcome> {
        self.answers
            .iter()
            .find(|a| a.user_id == self.person)
            .map(|a| a.outcome)
    }

    /// Records this person's answer locally (after the service accepted it), replacing any
    /// earlier one.
    pub fn record_my_answer(&mut self, outcome: Outcome) {
        let person = self.person;
        self.answers.retain(|a| a.user_id != person);
        self.answers.push(RecordedAnswer {
            user_id: person,
            outcome,
        });
        self.answers.sort_by_key(|a| a.user_id);
    }
}

/// What the person answers a number-matching request with. Only the initiator answers with one
/// ([`ShownRequest::needs_number`]); other approvers approve with none.
///
/// `Debug` prints a typed code as `<redacted>`: it is what the relying party shows, and logs
/// have no business with it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Pick mode: the number picked, one of the offered choices.
    Number(u32),
    /// Typed mode: the code typed, as ASCII digits with leading zeros kept. The device checks
    /// only its shape (the request's number of digits): whether it is right is for the service
    /// to say, which counts the attempts.
    Code(String),
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Number(n) => f.debug_tuple("Number").field(n).finish(),
            Answer::Code(_) => f.debug_tuple("Code").field(&"<redacted>").finish(),
        }
    }
}

/// How a number-matching request asks this person to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked<'a> {
    /// No number, no code: approve as is.
    Nothing,
    /// Pick one of these.
    Pick(&'a [u32]),
    /// Type a code of this many digits.
    Typed(u8),
}

impl ShownRequest {
    fn asked(&self) -> Asked<'_> {
        match &self.details.number_matching {
            Some(m) if self.needs_number => match &m.typed {
                Some(typed) => Asked::Typed(typed.digits),
                None => Asked::Pick(&m.choices),
            },
            _ => Asked::Nothing,
        }
    }

    /// The number or code to sign for `answer`, refused here (nothing sent) when it cannot be
    /// right whatever the service holds: no answer where one is asked, a number where a code is
    /// asked (or the reverse), a number not among the choices, a code of the wrong length or
    /// with anything but ASCII digits. A well-shaped code is never compared with the request's
    /// hash: every attempt goes to the service, which counts them.
    ///
    /// # Errors
    /// [`Error::InvalidNumber`] saying what to do.
    pub fn check_answer(&self, answer: Option<&Answer>) -> Result<(Option<u32>, Option<String>)> {
        match (self.asked(), answer) {
            (Asked::Nothing, None) => Ok((None, None)),
            (Asked::Nothing, Some(_)) => Err(Error::InvalidNumber(
                "this request does not ask for a number or a code".into(),
            )),
            (Asked::Pick(_), None) => Err(Error::InvalidNumber(
                "pick the number shown where you signed in".into(),
            )),
            (Asked::Pick(choices), Some(Answer::Number(n))) if choices.contains(n) => {
                Ok((Some(*n), None))
            }
            (Asked::Pick(choices), Some(Answer::Number(n))) => Err(Error::InvalidNumber(format!(
                "{n} is not one of the choices {choices:?}"
            ))),
            (Asked::Pick(_), Some(Answer::Code(_))) => Err(Error::InvalidNumber(
                "this request asks you to pick a number, not to type a code".into(),
            )),
            (Asked::Typed(digits), None) => Err(Error::InvalidNumber(format!(
                "type the {digits}-digit code shown where you signed in"
            ))),
            (Asked::Typed(digits), Some(Answer::Code(code)))
                if code.len() == usize::from(digits)
                    && code.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok((None, Some(code.clone())))
            }
            (Asked::Typed(digits), Some(Answer::Code(_))) => Err(Error::InvalidNumber(format!(
                "the code is {digits} digits (0-9), as shown where you signed in"
            ))),
            (Asked::Typed(digits), Some(Answer::Number(_))) => Err(Error::InvalidNumber(format!(
                "this request asks you to type the {digits}-digit code shown where you signed in, not to pick a number"
            ))),
        }
    }
}

/// Whether a person accepted enrolling with a service that is not reached over TLS (plain `http`
/// off this machine). Only a person answering a clear warning may pass [`InsecureServer::Accept`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsecureServer {
    /// Refuse with [`Error::InsecureServer`] (the default everywhere).
    Refuse,
    /// The person read the warning and accepted it.
    Accept,
}

/// A decision the service accepted. The service's answer is the truth for the person: a failure
/// to add it to the local history is reported beside it, never instead of it.
#[derive(Debug)]
pub struct Decided {
    /// The service's receipt.
    pub receipt: DecisionReceipt,
    /// Why the decision is missing from the local history, when it is.
    pub history_error: Option<Error>,
}

/// Reads what a person pasted or typed: an `assent://enroll` link, or a bare registration token
/// with the service URL.
///
/// # Errors
/// [`Error::InvalidLink`] saying what is wrong (nothing is contacted or written).
pub fn parse_enrollment(input: &str, server: Option<&str>) -> Result<EnrollLink> {
    let input = input.trim();
    if input.starts_with("assent:") {
        return EnrollLink::parse(input).map_err(|e| Error::InvalidLink(e.to_string()));
    }
    let Some(server) = server.map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(Error::InvalidLink(
            "paste the whole assent://enroll link, or give the service URL with the token".into(),
        ));
    };
    check_token_shape(input).map_err(|e| Error::InvalidLink(e.to_string()))?;
    let server = parse_server_url(server).map_err(|e| Error::InvalidLink(e.to_string()))?;
    Ok(EnrollLink {
        server,
        token: SecretString::new(input),
    })
}

/// Longest app name a preview shows, in characters (a service accepts at most 64); a longer one
/// is cut with `…`.
pub const MAX_PREVIEW_APP_NAME_CHARS: usize = 64;
/// Longest account name a preview shows, in characters (an e-mail address is at most 254).
pub const MAX_PREVIEW_ACCOUNT_NAME_CHARS: usize = 254;

/// Asks `link`'s service what the link would enroll into, without redeeming the token, and
/// cleans the answer as anything a service says is cleaned before it is shown: unsafe
/// characters stripped, names cut to [`MAX_PREVIEW_APP_NAME_CHARS`] and
/// [`MAX_PREVIEW_ACCOUNT_NAME_CHARS`]. Logos are left as URLs: showing one means fetching and
/// checking it like any logo. The phrase is not the service's to say: see
/// [`EnrollLink::phrase`].
///
/// The token travels in the preview call as in the enrollment: over plain `http` off this
/// machine anyone on the way could read it and enroll first, so such a service needs `insecure`
/// to be [`InsecureServer::Accept`] here too.
///
/// # Errors
/// [`Error::InsecureServer`] (nothing contacted); [`Error::Network`]; [`Error::Service`]
/// (`60100` for an unknown, used or expired token); [`Error::Protocol`] for an answer with no
/// usable app name.
pub async fn preview_enrollment(
    link: &EnrollLink,
    insecure: InsecureServer,
) -> Result<EnrollPreviewResponse> {
    if link.is_insecure() && insecure != InsecureServer::Accept {
        return Err(Error::InsecureServer { host: link.host() });
    }
    let request = EnrollPreviewRequest {
        token: link.token.clone(),
    };
    let mut answer = client::preview(&link.server, &request).await?;
    let name = assent_protocol::text::shown(answer.app.name.trim(), MAX_PREVIEW_APP_NAME_CHARS);
    if name.trim().is_empty() {
        return Err(Error::Protocol("the service's preview names no app".into()));
    }
    answer.app.name = name;
    answer.account_name = answer
        .account_name
        .map(|n| assent_protocol::text::shown(n.trim(), MAX_PREVIEW_ACCOUNT_NAME_CHARS))
        .filter(|n| !n.trim().is_empty());
    Ok(answer)
}

/// Device-side operations over a data directory, a secret store and a user verifier. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
    /// Asked before an approval that needs the person confirmed (see [`Authenticator::approve`]).
    verifier: Arc<dyn UserVerifier>,
}

#[derive(Debug)]
struct Inner {
    /// Every read-modify-write of its files is locked across processes (see [`DataDir`]).
    data: DataDir,
    secrets: Arc<dyn SecretStore>,
    stream_config: StreamConfig,
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Keychain(format!("keychain task failed: {e}")))?
}

impl Authenticator {
    /// Opens the data directory (creating it) with `secrets` holding the keys, and this
    /// platform's user verifier ([`platform_verifier`]; see [`Authenticator::with_verifier`]).
    ///
    /// # Errors
    /// [`Error::Storage`] when the directory cannot be created.
    pub fn open(
        data_dir: impl Into<std::path::PathBuf>,
        secrets: Arc<dyn SecretStore>,
    ) -> Result<Self> {
        Ok(Authenticator {
            inner: Arc::new(Inner {
                data: DataDir::open(data_dir)?,
                secrets,
                stream_config: StreamConfig::default(),
            }),
            verifier: platform_verifier(),
        })
    }

    /// The same authenticator, asking `verifier` to confirm the person before an approval
    /// (tests: polkit on a private bus).
    pub fn with_verifier(self, verifier: Arc<dyn UserVerifier>) -> Self {
        Authenticator { verifier, ..self }
    }

    /// The same, with custom stream timing (tests use short backoffs).
    ///
    /// # Errors
    /// As [`Authenticator::open`].
    pub fn open_with(
        data_dir: impl Into<std::path::PathBuf>,
        secrets: Arc<dyn SecretStore>,
        stream_config: StreamConfig,
    ) -> Result<Self> {
        let auth = Self::open(data_dir, secrets)?;
        let inner = Arc::into_inner(auth.inner).expect("freshly created");
        Ok(Authenticator {
            inner: Arc::new(Inner {
                stream_config,
                ..inner
            }),
            verifier: auth.verifier,
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.inner.data.root()
    }

    /// Every account, active and revoked.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn accounts(&self) -> Result<Vec<Account>> {
        self.inner.data.accounts()
    }

    /// One account.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`], [`Error::Storage`].
    pub fn account(&self, id: Uuid) -> Result<Account> {
        self.accounts()?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| Error::UnknownAccount(id.to_string()))
    }

    /// Past decisions made on this device, newest last.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn history(&self) -> Result<Vec<HistoryEntry>> {
        self.inner.data.history()
    }

    /// Enrolls this device: generates a key, stores it in the keychain *before* contacting the
    /// service (so without a keychain nothing is sent and nothing written), proves possession to
    /// the service, pins the service key and saves the account. A plain-`http` service off this
    /// machine is refused unless `insecure` is [`InsecureServer::Accept`].
    ///
    /// # Errors
    /// [`Error::InsecureServer`] (nothing contacted or written); [`Error::KeychainUnavailable`];
    /// [`Error::Network`]; [`Error::Service`] (`token_invalid` for a used or expired link);
    /// [`Error::Storage`].
    pub async fn enroll(
        &self,
        link: &EnrollLink,
        device_name: &str,
        platform: &str,
        insecure: InsecureServer,
    ) -> Result<Account> {
        if link.is_insecure() && insecure != InsecureServer::Accept {
            return Err(Error::InsecureServer { host: link.host() });
        }
        let account_id = Uuid::new_v4();
        let key = DeviceKey::generate();
        let secrets = Arc::clone(&self.inner.secrets);
        let seed = key.seed();
        blocking(move || secrets.save(account_id, &seed)).await?;
        let request = EnrollmentRequest::new(
            link.token.clone(),
            key.signing_key(),
            device_name.to_owned(),
            platform.to_owned(),
        );
        let response = match client::enroll(&link.server, &request).await {
            Ok(response) => response,
            Err(e) => {
                self.delete_key(account_id).await;
                return Err(e);
            }
        };
        // The code seed goes to the keychain beside the key, never into the accounts file.
        let secrets = Arc::clone(&self.inner.secrets);
        let code_seed = response.code_seed.clone();
        if let Err(e) = blocking(move || secrets.save_code_seed(account_id, &code_seed)).await {
            self.delete_key(account_id).await;
            return Err(e);
        }
        let account = Account {
            id: account_id,
            server: link.server.clone(),
            device_id: response.device_id,
            device_alias: response.device_alias,
            device_name: device_name.to_owned(),
            user_id: response.user_id,
            app: response.app,
            service_public_key: response.service_public_key,
            enrolled_at: response.enrolled_at,
            revoked_at: None,
            // A name a device would not show on a request is not shown beside the account
            // either: the account then has none.
            account_name: response.account_name.filter(|name| {
                assent_protocol::request::check_person_name(response.user_id, name).is_ok()
            }),
        };
        let saved = self.inner.data.update_accounts(|accounts| {
            accounts.push(account.clone());
            Ok(())
        });
        if let Err(e) = saved {
            self.delete_key(account_id).await;
            return Err(e);
        }
        tracing::info!(account = %account.id, app = %account.app.name, "enrolled");
        Ok(account)
    }

    /// The keychain this device keeps its secrets in.
    pub(crate) fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.inner.secrets
    }

    async fn delete_key(&self, account: Uuid) {
        let secrets = Arc::clone(&self.inner.secrets);
        if let Err(e) = blocking(move || secrets.delete(account)).await {
            tracing::warn!(%account, error = %e, "could not delete a key from the keychain");
        }
        let secrets = Arc::clone(&self.inner.secrets);
        if let Err(e) = blocking(move || secrets.delete_code_seed(account)).await {
            tracing::warn!(%account, error = %e, "could not delete a code seed from the keychain");
        }
    }

    /// A signing client for an active account, with its key loaded from the keychain.
    ///
    /// # Errors
    /// [`Error::Revoked`] for a revoked account; [`Error::KeyMissing`]; keychain errors.
    pub async fn client(&self, account: &Account) -> Result<DeviceClient> {
        Ok(DeviceClient::new(account, self.key(account).await?))
    }

    async fn key(&self, account: &Account) -> Result<DeviceKey> {
        if !account.is_active() {
            return Err(Error::Revoked {
                account: account.app.name.clone(),
            });
        }
        let secrets = Arc::clone(&self.inner.secrets);
        let id = account.id;
        let seed = blocking(move || secrets.load(id))
            .await?
            .ok_or(Error::KeyMissing)?;
        Ok(DeviceKey::from_seed(&seed))
    }

    /// Applies a verified revocation: deletes the account's key and marks the account revoked.
    /// Idempotent. Takes a [`RevocationProof`], so nothing deletes a key on an unverified word.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn mark_revoked(&self, proof: &RevocationProof) -> Result<()> {
        let account_id = proof.account_id();
        self.delete_key(account_id).await;
        self.inner.data.update_accounts(|accounts| {
            if let Some(account) = accounts
                .iter_mut()
                .find(|a| a.id == account_id && a.revoked_at.is_none())
            {
                account.revoked_at = Some(proof.revoked_at());
                tracing::info!(account = %account_id, "device revoked (notice verified); key deleted");
            }
            Ok(())
        })
    }

    /// Looks at a refusal for a revocation: a notice that verifies against the account's pinned
    /// key and names its device is applied ([`Error::Revoked`]); a revocation or "unknown
    /// device" code without one changes nothing ([`Error::RevocationUnproven`]).
    async fn check_revoked<T>(&self, account: &Account, result: Result<T>) -> Result<T> {
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if let Some(notice) = error.revocation_notice() {
            match RevocationProof::verify(account, notice) {
                Ok(proof) => {
                    self.mark_revoked(&proof).await?;
                    return Err(Error::Revoked {
                        account: account.app.name.clone(),
                    });
                }
                Err(why) => {
                    tracing::warn!(account = %account.id, error = %why, "ignoring a revocation notice that does not verify; the key is kept");
                }
            }
        }
        if error.says_revoked() {
            tracing::warn!(account = %account.id, code = ?error.service_code().map(ErrorCode::as_str), "the service refuses this device without proof of revocation; the key is kept");
            return Err(Error::RevocationUnproven {
                account: account.app.name.clone(),
            });
        }
        Err(error)
    }

    /// Asks the service whether this device still stands (a signed call): a verified revocation
    /// is applied, anything else is reported.
    ///
    /// # Errors
    /// [`Error::Revoked`] once a verified revocation was applied; [`Error::RevocationUnproven`];
    /// network and keychain errors.
    pub async fn check_standing(&self, account: &Account) -> Result<()> {
        let client = self.client(account).await?;
        let answer = client.pending().await.map(|_| ());
        self.check_revoked(account, answer).await
    }

    /// Fetches a request and verifies it against the account's pinned service key and identity.
    /// A request that does not verify is dropped: it is reported as [`Error::Spoofed`] and never
    /// returned.
    ///
    /// # Errors
    /// [`Error::Spoofed`]; network, service and keychain errors.
    pub async fn request(&self, account: &Account, id: Uuid) -> Result<ShownRequest> {
        let client = self.client(account).await?;
        self.fetch_verified(&client, account, id).await
    }

    /// [`Authenticator::request`] with a client already holding the account's key.
    async fn fetch_verified(
        &self,
        client: &DeviceClient,
        account: &Account,
        id: Uuid,
    ) -> Result<ShownRequest> {
        let fetched = client.request(id).await;
        let fetched = self.check_revoked(account, fetched).await?;
        let verified = match fetched.request.verify(&account.service_public_key) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(account = %account.id, request = %id, error = %e, "dropping a request that does not verify");
                return Err(Error::Spoofed { id });
            }
        };
        let details = verified.message;
        // A validly signed request must also be the one asked for, for this app and person.
        if details.id != id
            || details.app.id != account.app.id
            || !details.approvers.contains(&account.user_id)
        {
            tracing::error!(account = %account.id, request = %id, "dropping a signed request meant for someone else");
            return Err(Error::Spoofed { id });
        }
        // Signed is not enough: what a device shows from the service is held to the same rules
        // the service applies, so a compromised service cannot push a misleading label or names.
        if let Err(e) = details.check_people_and_label() {
            tracing::error!(account = %account.id, request = %id, error = %e, "dropping a request whose label or names break the rules");
            return Err(Error::Unshowable {
                id,
                why: e.to_string(),
            });
        }
        let mut answers: Vec<RecordedAnswer> = fetched
            .answers
            .iter()
            .filter(|a| details.approvers.contains(&a.user_id))
            .copied()
            .collect();
        answers.sort_by_key(|a| a.user_id);
        answers.dedup_by_key(|a| a.user_id);
        let needs_number = details
            .number_matching
            .as_ref()
            .is_some_and(|m| m.user_id == account.user_id);
        Ok(ShownRequest {
            account_id: account.id,
            details,
            digest: verified.digest,
            status: fetched.status,
            needs_number,
            device_id: account.device_id,
            person: account.user_id,
            account_name: account.account_name.clone(),
            server_host: account.host(),
            answers,
        })
    }

    /// Every verified request waiting on any active account, oldest first per account. Requests
    /// that fail verification are left out (and logged).
    ///
    /// # Errors
    /// The first network, service or keychain error.
    pub async fn pending(&self) -> Result<Vec<ShownRequest>> {
        let mut shown = Vec::new();
        for account in self.accounts()?.into_iter().filter(Account::is_active) {
            let client = self.client(&account).await?;
            let ids = client.pending().await;
            // At most as many per account as a session shows: a service listing thousands must
            // not make this device fetch thousands.
            let ids = self.check_revoked(&account, ids).await?;
            for id in ids.into_iter().take(MAX_PENDING_PER_ACCOUNT) {
                // One key load per account, not one per request.
                match self.fetch_verified(&client, &account, id).await {
                    Ok(request) if request.status == RequestStatus::Pending => shown.push(request),
                    Ok(_) | Err(Error::Spoofed { .. } | Error::Unshowable { .. }) => {}
                    Err(e) if e.kind() == ErrorKind::RequestNotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(shown)
    }

    /// Finds a request by id on any active account.
    ///
    /// # Errors
    /// [`Error::UnknownRequest`] when no account can see it.
    pub async fn find_request(&self, id: Uuid) -> Result<ShownRequest> {
        for account in self.accounts()?.into_iter().filter(Account::is_active) {
            match self.request(&account, id).await {
                Ok(request) => return Ok(request),
                Err(e) if e.kind() == ErrorKind::RequestNotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::UnknownRequest(id))
    }

    /// Approves `shown`. With number matching, the initiator answers with the number picked or
    /// the code typed ([`ShownRequest::check_answer`] refuses a wrong shape before anything is
    /// sent); everyone else with `None`.
    ///
    /// Before anything is signed, the operating system confirms the person (the verifier) when
    /// the request requires it or when the setting `verify_every_approval` is on (an unreadable
    /// settings file counts as on: it may have been). The signed decision names the method
    /// used, `none` when nobody was asked. A verification that does not confirm the person
    /// signs and sends nothing: the request stays waiting.
    ///
    /// # Errors
    /// [`Error::InvalidNumber`] (nothing sent); [`Error::Verification`]
    /// (`verification_refused`, `verification_unavailable`, `verification_failed`: nothing
    /// signed); the service's refusal (`not_pending`, `wrong_code` with the request still
    /// pending, `wrong_number` once it was denied, `60119` for a verification the service does
    /// not accept, ...).
    pub async fn approve(
        &self,
        shown: &ShownRequest,
        answer: Option<&Answer>,
        now: i64,
    ) -> Result<Decided> {
        let (number, code) = shown.check_answer(answer)?;
        let verification = if self.must_verify(shown) {
            let verifier = Arc::clone(&self.verifier);
            let prompt = VerificationPrompt::new(&shown.details.app.name, &shown.details.message);
            let method = tokio::task::spawn_blocking(move || verifier.verify(&prompt))
                .await
                .map_err(|e| {
                    Error::Verification(crate::verification::VerificationError::Failed {
                        detail: format!("the verification task failed: {e}"),
                    })
                })??;
            tracing::info!(request = %shown.details.id, method = method.as_str(), "the system confirmed the person");
            method
        } else {
            VerificationMethod::None
        };
        self.decide(
            shown,
            Outcome::Approve,
            None,
            (number, code),
            Some(verification),
            now,
        )
        .await
    }

    /// True when approving `shown` needs the operating system to confirm the person first.
    fn must_verify(&self, shown: &ShownRequest) -> bool {
        if shown.details.user_verification == Some(UserVerification::Required) {
            return true;
        }
        match self.inner.data.settings() {
            Ok(settings) => settings.unwrap_or_default().verify_every_approval,
            Err(e) => {
                tracing::warn!(error = %e, "settings unreadable; verifying the person in case they asked for it");
                true
            }
        }
    }

    /// Denies `shown` with a reason.
    ///
    /// # Errors
    /// The service's refusal; network and keychain errors.
    pub async fn deny(
        &self,
        shown: &ShownRequest,
        reason: DenyReason,
        now: i64,
    ) -> Result<Decided> {
        // Denials never ask: refusing must stay one click, whoever clicks.
        self.decide(shown, Outcome::Deny, Some(reason), (None, None), None, now)
            .await
    }

    async fn decide(
        &self,
        shown: &ShownRequest,
        outcome: Outcome,
        reason: Option<DenyReason>,
        (number, code): (Option<u32>, Option<String>),
        verification: Option<VerificationMethod>,
        now: i64,
    ) -> Result<Decided> {
        let account = self.account(shown.account_id)?;
        let key = self.key(&account).await?;
        let client = DeviceClient::new(&account, key.clone());
        let decision = Decision {
            v: DECISION_VERSION,
            request_id: shown.details.id,
            request_digest: hex::encode(shown.digest),
            device_id: account.device_id,
            outcome,
            reason,
            number,
            code,
            verification,
            signed_at: now,
        };
        let signed = Signed::sign(&decision, key.signing_key())
            .map_err(|e| Error::Protocol(e.to_string()))?;
        let body = serde_json::to_vec(&signed).map_err(|e| Error::Protocol(e.to_string()))?;
        let receipt = client.decide(shown.details.id, &body).await;
        let receipt = self.check_revoked(&account, receipt).await;
        let record =
            receipt.is_ok() || matches!(&receipt, Err(e) if e.kind() == ErrorKind::WrongNumber);
        let history_error = if record {
            self.inner
                .data
                .record_history(HistoryEntry {
                    request_id: shown.details.id,
                    account_id: account.id,
                    app_name: shown.details.app.name.clone(),
                    message: shown.details.message.clone(),
                    outcome,
                    reason,
                    decided_at: now,
                })
                .err()
        } else {
            None
        };
        if let Some(e) = &history_error {
            // The service has the decision: that is what the person must be told, not this.
            tracing::error!(request = %shown.details.id, error = %e, "the decision was accepted but could not be added to the local history");
        }
        receipt.map(|receipt| Decided {
            receipt,
            history_error,
        })
    }

    /// Removes an account: revokes the device at the service (when it is still active there),
    /// deletes the key from the keychain and forgets the account.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; network errors other than "already revoked" leave the account
    /// in place so removal can be retried.
    pub async fn remove(&self, account_id: Uuid) -> Result<()> {
        let account = self.account(account_id)?;
        if account.is_active() {
            match self.client(&account).await {
                Ok(client) => match client.remove().await {
                    Ok(()) => {}
                    // The person asked to forget this account: the service no longer knowing
                    // the device is no reason to keep it.
                    Err(e) if e.says_revoked() => {}
                    Err(e) => return Err(e),
                },
                Err(Error::KeyMissing) => {}
                Err(e) => return Err(e),
            }
        }
        self.delete_key(account.id).await;
        self.inner.data.update_accounts(|accounts| {
            accounts.retain(|a| a.id != account_id);
            Ok(())
        })?;
        tracing::info!(account = %account_id, "account removed");
        Ok(())
    }

    /// Starts a push stream for one active account.
    ///
    /// # Errors
    /// As [`Authenticator::client`].
    pub async fn stream(&self, account: &Account) -> Result<PushStream> {
        let client = self.client(account).await?;
        Ok(PushStream::start(account, client, self.inner.stream_config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_input_is_a_link_or_a_token_with_a_server() {
        let link = parse_enrollment(
            " assent://enroll?server=http%3A%2F%2Fh%3A1&token=abcdefghijklmnopqrstuvwxyz ",
            None,
        )
        .unwrap();
        assert_eq!(link.server.as_str(), "http://h:1/");
        let token = parse_enrollment(
            "abcdefghijklmnopqrstuvwxyz",
            Some("https://auth.example.com"),
        )
        .unwrap();
        assert_eq!(token.token.expose(), "abcdefghijklmnopqrstuvwxyz");
        for (input, server) in [
            ("abcdefghijklmnopqrstuvwxyz", None),
            ("short", Some("https://a.b")),
            ("abcdefghijklmnopqrstuvwxyz", Some("ftp://x")),
            ("https://evil.example/enroll", None),
        ] {
            assert_eq!(
                parse_enrollment(input, server).unwrap_err().kind(),
                ErrorKind::InvalidLink,
                "{input} {server:?} is refused as an invalid link"
            );
        }
    }
}
