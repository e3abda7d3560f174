//! Service configuration.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

/// Limits that keep bad or hostile input cheap to refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest message, in characters (Authy's limit).
    pub max_message_chars: usize,
    /// Most detail fields (shown or hidden) per request.
    pub max_detail_fields: usize,
    /// Longest detail label, in characters.
    pub max_detail_label_chars: usize,
    /// Longest detail value, in characters.
    pub max_detail_value_chars: usize,
    /// Most logos per request.
    pub max_logos: usize,
    /// Longest logo URL, in bytes.
    pub max_logo_url_len: usize,
    /// Most approvers per request.
    pub max_approvers: usize,
    /// Longest requester field (ip, location, user agent), in characters.
    pub max_requester_field_chars: usize,
    /// Longest `seconds_to_expire`.
    pub max_seconds_to_expire: u64,
    /// Pending requests one user may have at once (push-bombing protection).
    pub max_pending_per_user: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            max_message_chars: 200,
            max_detail_fields: 20,
            max_detail_label_chars: 64,
            max_detail_value_chars: 500,
            max_logos: 4,
            max_logo_url_len: 2048,
            max_approvers: 10,
            max_requester_field_chars: 256,
            max_seconds_to_expire: 30 * 24 * 3600,
            max_pending_per_user: 10,
        }
    }
}

/// Everything `assent serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://path` (or a plain path).
    pub database_url: String,
    /// The URL devices reach the service at; goes into enrollment links.
    pub public_url: Url,
    /// Input limits.
    pub limits: Limits,
    /// Largest accepted device clock skew, seconds.
    pub max_clock_skew_secs: u64,
    /// Registration token lifetime, seconds.
    pub registration_ttl_secs: i64,
    /// Default `seconds_to_expire` when a request gives none (Authy's default).
    pub default_seconds_to_expire: u64,
    /// Longest `?wait=` long-poll, seconds.
    pub max_wait_secs: u64,
    /// Interval between stream heartbeats.
    pub heartbeat_interval: Duration,
    /// Timeout of one callback delivery attempt.
    pub callback_timeout: Duration,
    /// Give up on a callback this long after the decision, seconds.
    pub callback_give_up_secs: i64,
}

impl ServiceConfig {
    /// Defaults for everything but where to listen and what database to use. The public URL
    /// defaults to `http://<listen>`.
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        let public_url =
            Url::parse(&format!("http://{listen}")).expect("a socket address makes a URL");
        ServiceConfig {
            listen,
            database_url: database_url.into(),
            public_url,
            limits: Limits::default(),
            max_clock_skew_secs: assent_protocol::auth::DEFAULT_MAX_SKEW_SECS,
            registration_ttl_secs: 600,
            default_seconds_to_expire: 86_400,
            max_wait_secs: 60,
            heartbeat_interval: Duration::from_secs(
                assent_protocol::stream::HEARTBEAT_INTERVAL_SECS,
            ),
            callback_timeout: Duration::from_secs(10),
            callback_give_up_secs: 24 * 3600,
        }
    }
}
