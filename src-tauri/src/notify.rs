//! One native notification per new request that may alert the person (the device session
//! limits those per minute), through `notify-rust`. Clicking it (or its Open action) brings the
//! request forward.
//!
//! The notification daemon renders a body as markup (bold, links, images: the Desktop
//! Notifications spec's `body-markup`), so the body is escaped; the summary is plain text by the
//! spec. Both come from a relying party and are stripped of unsafe characters by the session's
//! views already; they are stripped again here (the daemon is another interpreter) and shortened.

use tauri::{AppHandle, Emitter as _, Runtime};

use assent_device::view::{RequestView, events, shown_text};

/// Longest summary and body, in characters (a notification is a glance, the window has the rest).
const MAX_SUMMARY_CHARS: usize = 80;
const MAX_BODY_CHARS: usize = 200;

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

/// The notification's summary (plain text) and body (markup) for a request.
pub fn notification_text(request: &RequestView) -> (String, String) {
    (
        shortened(&request.app.name, MAX_SUMMARY_CHARS),
        escape_markup(&shortened(&request.message, MAX_BODY_CHARS)),
    )
}

/// Shows the notification for a new request (on its own thread: waiting for a click blocks).
pub fn request_arrived<R: Runtime>(app: &AppHandle<R>, request: &RequestView) {
    let app = app.clone();
    let id = request.id;
    let (summary, body) = notification_text(request);
    std::thread::spawn(move || {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("Assent")
            .summary(&summary)
            .body(&body)
            .icon("dialog-password");
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            notification
                .action("default", "Open")
                .action("open", "Open")
                .hint(notify_rust::Hint::Category("im".into()));
            match notification.show() {
                Ok(handle) => handle.wait_for_action(|action| {
                    if action == "default" || action == "open" {
                        crate::window::show_main(&app);
                        let _ = app.emit(events::OPEN_REQUEST, id);
                    }
                }),
                Err(e) => tracing::warn!(error = %e, "no notification daemon answered"),
            }
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            let _ = (&app, id);
            if let Err(e) = notification.show() {
                tracing::warn!(error = %e, "could not show a notification");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use assent_device::view::BrandingView;

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
        let (summary, body) = notification_text(&request(
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
        let (summary, body) = notification_text(&request(
            "Acme\u{202e}knaB",
            &format!("pay\u{1b}[2J\u{2028}{}", "x".repeat(500)),
        ));
        assert_eq!(summary, "AcmeknaB");
        assert!(body.starts_with("pay[2Jxxx"), "{body}");
        assert_eq!(body.chars().count(), MAX_BODY_CHARS);
        assert!(body.ends_with('…'));
    }
}
