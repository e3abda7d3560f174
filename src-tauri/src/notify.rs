//! One native notification per new request that may alert the person (the device session
//! limits those per minute), through `notify-rust`. It says what is asked (the relying party's
//! message), from where (the requester's approximate location, when the relying party gave it)
//! and until when ("Expires at 13:07"), with Assent's icon. Its actions are Deny and Open:
//! approving takes the window (the card, the number to match, the verification), never a
//! notification. Clicking it (or Open) brings the request forward; Deny denies it through the
//! session. The notification is withdrawn (`CloseNotification`) the moment its request leaves
//! the pending list (answered here or on another device, resolved, cancelled) or expires.
//!
//! The notification daemon renders a body as markup (bold, links, images: the Desktop
//! Notifications spec's `body-markup`), so the body is escaped; the summary is plain text by the
//! spec. Both come from a relying party and are stripped of unsafe characters by the session's
//! views already; they are stripped again here (the daemon is another interpreter) and shortened.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Datelike as _, TimeZone};
use tauri::{AppHandle, Manager as _, Runtime};
use uuid::Uuid;

use assent_device::view::{RequestView, shown_text};

/// Longest summary and message, in characters (a notification is a glance, the window has the
/// rest).
const MAX_SUMMARY_CHARS: usize = 80;
const MAX_BODY_CHARS: usize = 200;
/// Longest place shown, in characters.
const MAX_PLACE_CHARS: usize = 60;

/// The notification's category. The Desktop Notifications spec's list has none for
/// authentication (its nearest, `im.received` or `presence`, are chat and contacts: a person
/// muting chat in their daemon would silence sign-in requests too), so it is a vendor category,
/// `x-` prefixed as the spec says for those: daemons ignore what they do not know, and a person
/// can write a rule for exactly these (dunst's `category = x-assent.auth-request`).
pub const CATEGORY: &str = "x-assent.auth-request";

/// The desktop entry the packages install (`assent-desktop.desktop`): daemons that look up an
/// application by it (GNOME Shell, KDE) show Assent's name and icon.
pub const DESKTOP_ENTRY: &str = "assent-desktop";

/// Action ids (the daemon sends them back when chosen). `default` is a click on the notification.
pub const ACTION_DENY: &str = "deny";
/// See [`ACTION_DENY`].
pub const ACTION_OPEN: &str = "open";

fn shortened(text: &str, max: usize) -> String {
    let text = shown_text(text);
    if text.chars().count() <= max {
        return text;
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

/// `text` as markup that shows exactly `text`: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// When a request ends, as the window says it: "Expires at 13:07" today, "Expires tomorrow at
/// 13:07", "Expires on 3 Dec at 13:07" later, in `zone` (the person's local time). `now` and
/// `expires_at` are Unix seconds.
pub fn expiry_text<Tz: TimeZone>(expires_at: i64, now: i64, zone: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let (Some(end), Some(today)) = (
        zone.timestamp_opt(expires_at, 0).single(),
        zone.timestamp_opt(now, 0).single(),
    ) else {
        return "Expires soon".to_owned();
    };
    let at = end.format("%H:%M");
    let days = end
        .date_naive()
        .signed_duration_since(today.date_naive())
        .num_days();
    match days {
        ..=0 => format!("Expires at {at}"),
        1 => format!("Expires tomorrow at {at}"),
        _ if end.year() == today.year() => format!("Expires on {} at {at}", end.format("%-d %b")),
        _ => format!("Expires on {} at {at}", end.format("%-d %b %Y")),
    }
}

/// The notification's summary (plain text) and body (markup) for a request: the relying party
/// and what it asks, then the place (labelled approximate: it is the relying party's guess from
/// an address) and the expiry. `now` is Unix seconds; times are shown in `zone`.
pub fn notification_text<Tz: TimeZone>(
    request: &RequestView,
    now: i64,
    zone: &Tz,
) -> (String, String)
where
    Tz::Offset: std::fmt::Display,
{
    let mut lines = vec![shortened(&request.message, MAX_BODY_CHARS)];
    if let Some(place) = request
        .requester
        .as_ref()
        .and_then(|r| r.location.as_deref())
        .map(|l| shortened(l, MAX_PLACE_CHARS))
        .filter(|l| !l.trim().is_empty())
    {
        lines.push(format!("Near {place} (approx.)"));
    }
    if let Some(expires_at) = request.expires_at {
        lines.push(expiry_text(expires_at, now, zone));
    }
    (
        shortened(&request.app.name, MAX_SUMMARY_CHARS),
        escape_markup(&lines.join("\n")),
    )
}

/// The notifications shown now: request id to the daemon's notification id (`None` while the
/// daemon has not answered yet). Managed by Tauri.
#[derive(Debug, Default)]
pub struct Shown(Mutex<HashMap<Uuid, Option<u32>>>);

impl Shown {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Option<u32>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes Assent's icon where the daemon can read it (the app's cache directory) and answers its
/// path: a development build or an AppImage has no icon in the icon theme. `None` when it cannot
/// be written (the daemon then shows the desktop entry's icon, or its own).
fn icon_path<R: Runtime>(app: &AppHandle<R>) -> Option<String> {
    const ICON: &[u8] = include_bytes!("../../icons/128x128.png");
    let dir = app.path().app_cache_dir().ok()?;
    let path = dir.join("notification-icon.png");
    if std::fs::read(&path).ok().as_deref() != Some(ICON) {
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            // Written whole, then renamed: the daemon never reads half an icon.
            let part = dir.join("notification-icon.png.part");
            std::fs::write(&part, ICON)?;
            std::fs::rename(&part, &path)
        });
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot write the notification icon");
            return None;
        }
    }
    path.to_str().map(str::to_owned)
}

/// Shows the notification for a new request (on its own thread: waiting for a click blocks),
/// and withdraws it when the request expires.
pub fn request_arrived<R: Runtime>(app: &AppHandle<R>, request: &RequestView) {
    let now = chrono::Utc::now().timestamp();
    let (summary, body) = notification_text(request, now, &chrono::Local);
    let id = request.id;
    let Some(shown) = app.try_state::<Shown>() else {
        return tracing::error!("notifications are not set up");
    };
    shown.lock().insert(id, None);
    let left = request
        .expires_at
        .map(|at| u64::try_from(at.saturating_sub(now)).unwrap_or(0));
    if let Some(left) = left {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(left)).await;
            withdraw(&app, id);
        });
    }
    let text = Text {
        summary,
        body,
        icon: icon_path(app),
        // The daemon takes it down by the expiry too (should the app be gone by then); a request
        // open for long is not kept on screen for hours.
        timeout_ms: left
            .map(|left| u32::try_from(left.min(MAX_SHOWN_SECS) * 1000).unwrap_or(u32::MAX)),
    };
    let app = app.clone();
    std::thread::spawn(move || show(&app, id, &text));
}

/// Longest a notification stays on screen, in seconds (the request stays in the window and the
/// tray).
const MAX_SHOWN_SECS: u64 = 10 * 60;

/// What one notification shows.
struct Text {
    summary: String,
    body: String,
    icon: Option<String>,
    /// Until the request expires; `None`: the daemon's default.
    timeout_ms: Option<u32>,
}

#[cfg(target_os = "linux")]
fn show<R: Runtime>(app: &AppHandle<R>, id: Uuid, text: &Text) {
    let mut notification = notify_rust::Notification::new();
    notification
        .appname("Assent")
        .summary(&text.summary)
        .body(&text.body)
        .icon(text.icon.as_deref().unwrap_or("dialog-password"))
        .hint(notify_rust::Hint::Category(CATEGORY.into()))
        .hint(notify_rust::Hint::DesktopEntry(DESKTOP_ENTRY.into()))
        // No Approve: approving takes the window.
        .action("default", "Open")
        .action(ACTION_DENY, "Deny")
        .action(ACTION_OPEN, "Open");
    if let Some(ms) = text.timeout_ms {
        notification.timeout(notify_rust::Timeout::Milliseconds(ms));
    }
    let shown = app.state::<Shown>();
    let handle = match notification.show() {
        Ok(handle) => handle,
        Err(e) => {
            shown.lock().remove(&id);
            return tracing::warn!(error = %e, "no notification daemon answered");
        }
    };
    let notification_id = handle.id();
    {
        let mut slots = shown.lock();
        match slots.get_mut(&id) {
            Some(slot) => *slot = Some(notification_id),
            // Resolved while the daemon answered: withdrawn at once.
            None => {
                drop(slots);
                close(notification_id);
            }
        }
    }
    handle.wait_for_action(|action| {
        // Whatever happened, this notification is gone: never close its id again (the daemon
        // may give it to another application's notification).
        {
            let mut slots = shown.lock();
            if slots.get(&id) == Some(&Some(notification_id)) {
                slots.remove(&id);
            }
        }
        match action {
            "default" | ACTION_OPEN => {
                crate::window::show_main(app);
                use tauri::Emitter as _;
                let _ = app.emit(assent_device::view::events::OPEN_REQUEST, id);
            }
            ACTION_DENY => deny(app, id),
            // Closed (by the person, the daemon's timeout, or withdrawn).
            _ => {}
        }
    });
}

#[cfg(not(target_os = "linux"))]
fn show<R: Runtime>(app: &AppHandle<R>, id: Uuid, text: &Text) {
    app.state::<Shown>().lock().remove(&id);
    let mut notification = notify_rust::Notification::new();
    notification
        .appname("Assent")
        .summary(&text.summary)
        .body(&text.body);
    if let Some(icon) = &text.icon {
        notification.icon(icon);
    }
    if let Err(e) = notification.show() {
        tracing::warn!(error = %e, "could not show a notification");
    }
}

/// Denies the request through the session, as the window's Deny with "cancelled" does (denying
/// asks for no code and no verification). A failure (offline, already answered) is logged and
/// nothing more: the request stays in the window's list, where the person sees its state.
#[cfg(target_os = "linux")]
fn deny<R: Runtime>(app: &AppHandle<R>, id: Uuid) {
    let session = app.state::<crate::desktop::Desktop>().session.clone();
    tauri::async_runtime::spawn(async move {
        use assent_protocol::decision::DenyReason;
        match session.deny(id, DenyReason::Cancelled).await {
            Ok(_) => tracing::info!(request = %id, "denied from the notification"),
            Err(e) => {
                tracing::warn!(request = %id, error = %e, "denying from the notification failed; the request stays in the window")
            }
        }
    });
}

/// Withdraws the request's notification, if one is shown.
pub fn withdraw<R: Runtime>(app: &AppHandle<R>, request: Uuid) {
    let Some(shown) = app.try_state::<Shown>() else {
        return;
    };
    if let Some(Some(notification_id)) = shown.lock().remove(&request) {
        std::thread::spawn(move || close(notification_id));
    }
}

/// Withdraws every notification whose request is not in `waiting` (the requests still waiting
/// for this person's answer).
pub fn withdraw_all_but<R: Runtime>(app: &AppHandle<R>, waiting: &[&RequestView]) {
    let Some(shown) = app.try_state::<Shown>() else {
        return;
    };
    let gone: Vec<Uuid> = shown
        .lock()
        .keys()
        .filter(|id| !waiting.iter().any(|p| p.id == **id))
        .copied()
        .collect();
    for id in gone {
        withdraw(app, id);
    }
}

/// `CloseNotification(id)` to the daemon. A failure (the daemon went away, and the notification
/// with it) is logged.
#[cfg(target_os = "linux")]
fn close(notification_id: u32) {
    let closed = dbus::blocking::Connection::new_session().and_then(|connection| {
        connection
            .with_proxy(
                "org.freedesktop.Notifications",
                "/org/freedesktop/Notifications",
                std::time::Duration::from_secs(5),
            )
            .method_call::<(), _, _, _>(
                "org.freedesktop.Notifications",
                "CloseNotification",
                (notification_id,),
            )
    });
    if let Err(e) = closed {
        tracing::warn!(error = %e, notification = notification_id, "could not withdraw a notification");
    }
}

#[cfg(not(target_os = "linux"))]
fn close(_notification_id: u32) {}

#[cfg(test)]
mod tests {
    use super::*;
    use assent_device::view::{BrandingView, RequesterView};
    use chrono::FixedOffset;

    /// 2026-11-27 12:00:00 UTC.
    const NOON: i64 = 1_795_780_800;

    fn text(request: &RequestView) -> (String, String) {
        notification_text(request, NOON, &chrono::Utc)
    }

    fn request(name: &str, message: &str) -> RequestView {
        RequestView {
            id: uuid::Uuid::nil(),
            account_id: uuid::Uuid::nil(),
            app: BrandingView {
                name: name.into(),
                accent_color: None,
                logo: None,
            },
            message: message.into(),
            details: vec![],
            requester: None,
            created_at: 0,
            expires_at: None,
            number_matching: None,
            facts: None,
            quorum: 1,
            approvers: 1,
            verification_required: false,
            kind: None,
            action_label: None,
            account_name: None,
            server_host: "bank.example".into(),
            approver_states: vec![],
            my_answer: None,
            is_initiator: true,
        }
    }

    #[test]
    fn the_body_is_escaped_so_the_daemon_renders_no_markup() {
        let (summary, body) = text(&request(
            "Acme <b>Bank</b>",
            "Approve <b>now</b> <a href=\"https://evil.example\">here</a> <img src='file:///x'> & pay",
        ));
        assert_eq!(
            summary, "Acme <b>Bank</b>",
            "the summary is plain text by the spec"
        );
        assert_eq!(
            body,
            "Approve &lt;b&gt;now&lt;/b&gt; &lt;a href=&quot;https://evil.example&quot;&gt;here&lt;/a&gt; &lt;img src=&#39;file:///x&#39;&gt; &amp; pay"
        );
        assert!(
            !body.contains('<') && !body.contains('>'),
            "no tag survives: {body}"
        );
    }

    #[test]
    fn unsafe_characters_are_stripped_and_long_text_shortened() {
        let (summary, body) = text(&request(
            "Acme\u{202e}knaB",
            &format!("pay\u{1b}[2J\u{2028}{}", "x".repeat(500)),
        ));
        assert_eq!(summary, "AcmeknaB");
        assert!(body.starts_with("pay[2Jxxx"), "{body}");
        assert_eq!(body.chars().count(), MAX_BODY_CHARS);
        assert!(body.ends_with('…'));
    }

    #[test]
    fn the_body_names_the_action_the_place_and_the_expiry() {
        let mut asked = request("Acme Bank", "Sign in to Acme Bank?");
        asked.requester = Some(RequesterView {
            ip: Some("203.0.113.9".into()),
            location: Some("Lisbon, Portugal".into()),
            user_agent: Some("Firefox on Linux".into()),
        });
        asked.expires_at = Some(NOON + 7 * 60 + 20);
        let (summary, body) = text(&asked);
        assert_eq!(summary, "Acme Bank");
        assert_eq!(
            body, "Sign in to Acme Bank?\nNear Lisbon, Portugal (approx.)\nExpires at 12:07",
            "the message, the place (approximate) and the expiry, one a line; no address"
        );
    }

    #[test]
    fn without_a_place_or_an_expiry_the_body_is_the_message() {
        let mut asked = request("Acme Bank", "Sign in?");
        asked.requester = Some(RequesterView {
            ip: Some("203.0.113.9".into()),
            location: Some(" \u{202e} ".into()),
            user_agent: None,
        });
        assert_eq!(text(&asked).1, "Sign in?", "a blank place says nothing");
    }

    #[test]
    fn a_hostile_place_is_escaped_and_shortened() {
        let mut asked = request("Acme Bank", "Sign in?");
        asked.requester = Some(RequesterView {
            ip: None,
            location: Some(format!("<a href='x'>{}</a>", "L".repeat(300))),
            user_agent: None,
        });
        let body = text(&asked).1;
        assert!(!body.contains('<'), "no tag survives: {body}");
        let place = body.lines().nth(1).expect("a place line");
        assert!(
            place.starts_with("Near &lt;a href=&#39;x&#39;&gt;LLL")
                && place.ends_with("… (approx.)"),
            "the place is escaped and cut at {MAX_PLACE_CHARS} characters: {place}"
        );
    }

    #[test]
    fn the_expiry_reads_as_a_local_time_of_day() {
        let lisbon = FixedOffset::east_opt(0).unwrap();
        let tokyo = FixedOffset::east_opt(9 * 3600).unwrap();
        assert_eq!(expiry_text(NOON + 60, NOON, &lisbon), "Expires at 12:01");
        assert_eq!(
            expiry_text(NOON + 60, NOON, &tokyo),
            "Expires at 21:01",
            "in the person's zone"
        );
        assert_eq!(
            expiry_text(NOON + 14 * 3600, NOON, &tokyo),
            "Expires tomorrow at 11:00",
            "past local midnight is tomorrow"
        );
        assert_eq!(
            expiry_text(NOON + 6 * 86_400, NOON, &lisbon),
            "Expires on 3 Dec at 12:00"
        );
        assert_eq!(
            expiry_text(NOON + 40 * 86_400, NOON, &lisbon),
            "Expires on 6 Jan 2027 at 12:00",
            "another year is named"
        );
        assert_eq!(
            expiry_text(NOON - 5, NOON, &lisbon),
            "Expires at 11:59",
            "an expiry just passed still reads as a time"
        );
        assert_eq!(
            expiry_text(i64::MAX, NOON, &lisbon),
            "Expires soon",
            "an expiry no calendar holds is not a panic"
        );
    }
}
