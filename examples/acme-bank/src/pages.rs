//! Server-rendered pages. Every value from outside is HTML-escaped.

/// Escapes text for HTML.
pub fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str, signed_in: bool) -> String {
    let nav = if signed_in {
        r#"<nav><a href="/account">Account</a><form method="post" action="/logout" style="display:inline"><button class="secondary" style="margin:0;padding:.2rem .6rem">Sign out</button></form></nav>"#
    } else {
        r#"<nav><a href="/login">Sign in</a><a href="/passwordless">Passwordless</a></nav>"#
    };
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Acme Bank</title><link rel="stylesheet" href="/static/style.css"></head>
<body><header class="bar"><img src="/static/logo.png" alt=""><span class="brand">Acme Bank</span>{nav}</header>
<main>{body}</main><script src="/static/wait.js"></script></body></html>"#,
        title = esc(title)
    )
}

/// The landing page.
pub fn home() -> String {
    page(
        "Welcome",
        r#"<div class="card"><h1>Welcome to Acme Bank</h1>
<p>This sample bank signs customers in with <strong>Assent</strong>: the approval appears on their desktop.</p>
<p><a class="button" href="/login">Sign in with password + desktop</a>
<a class="button secondary" href="/passwordless">Passwordless sign-in</a></p>
<p class="muted">Demo customers: <code>ana</code> and <code>bo</code>, password <code>demo</code>.</p></div>"#,
        false,
    )
}

fn error(text: Option<&str>) -> String {
    text.map(|t| {
        format!(
            r#"<p class="status bad" role="alert" data-testid="error">{}</p>"#,
            esc(t)
        )
    })
    .unwrap_or_default()
}

/// Two-factor login form.
pub fn login(problem: Option<&str>) -> String {
    page(
        "Sign in",
        &format!(
            r#"<div class="card"><h1>Sign in</h1>{}<form method="post" action="/login">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">Continue</button></form>
<p class="muted">After your password, approve the sign-in on your desktop.</p></div>"#,
            error(problem)
        ),
        false,
    )
}

/// Passwordless form.
pub fn passwordless(problem: Option<&str>) -> String {
    page(
        "Passwordless sign-in",
        &format!(
            r#"<div class="card"><h1>Passwordless sign-in</h1>{}<form method="post" action="/passwordless">
<label for="username">Username</label><input id="username" name="username" autocomplete="username" required>
<button type="submit" id="sign-in">Send to my desktop</button></form>
<p class="muted">No password: approving on your desktop signs you in.</p></div>"#,
            error(problem)
        ),
        false,
    )
}

/// Waiting for the desktop.
pub fn waiting(
    flow: &str,
    wire: bool,
    code: Option<&str>,
    approvers: Option<Vec<String>>,
) -> String {
    let code = code
        .map(|code| {
            format!(
                r#"<p>On your desktop, type this code:</p><p class="number" data-testid="code">{}</p>"#,
                esc(code)
            )
        })
        .unwrap_or_default();
    let approvers = approvers
        .map(|names| {
            let items: String = names
                .iter()
                .map(|n| format!(r#"<li data-approver="{0}">{0}: waiting</li>"#, esc(n)))
                .collect();
            format!(r#"<h2>Approvals</h2><ul class="approvers" data-approvers>{items}</ul>"#)
        })
        .unwrap_or_default();
    let title = if wire {
        "Approve the transfer"
    } else {
        "Approve on your desktop"
    };
    page(
        title,
        &format!(
            r#"<div class="card" data-flow="{flow}"><h1>{title}</h1>
<p>We sent a request to {who}. It shows the details of what you are approving.</p>{code}{approvers}
<p class="status"><span class="spinner" aria-hidden="true"></span><span data-status data-testid="waiting">Waiting for approval…</span></p>
<noscript><p><a href="/flows/{flow}/finish">Check again</a></p></noscript></div>"#,
            flow = esc(flow),
            who = if wire {
                "both approvers' devices"
            } else {
                "your desktop"
            },
        ),
        false,
    )
}

/// The signed-in account page.
pub fn account(name: &str) -> String {
    page(
        "Your account",
        &format!(
            r#"<div class="card"><h1 data-testid="welcome">Welcome, {}</h1><p>Balance: <strong>$48,210.77</strong></p>
<form method="post" action="/transfer"><button type="submit" id="wire">Send $12,500 to ACME Corp</button></form>
<p class="muted">Wires over $10,000 need a second approver and number matching.</p>
<p><a href="/enroll">Add a desktop to your account</a></p></div>"#,
            esc(name)
        ),
        true,
    )
}

/// An enrollment link for the customer's desktop, and its phrase to match on the desktop.
pub fn enroll(link: &str, phrase: &str) -> String {
    page(
        "Add a desktop",
        &format!(
            r#"<div class="card"><h1>Add a desktop</h1><p>Open this link on your computer (or paste it into the Assent app). It works once and for ten minutes.</p>
<p><a href="{0}"><code data-testid="enroll-link">{0}</code></a></p>
<p class="phrase" data-testid="enroll-phrase">{1}</p>
<p>Check that your desktop shows these same words before you add it. If the words differ, stop: the link is not the one we gave you.</p></div>"#,
            esc(link),
            esc(phrase)
        ),
        true,
    )
}

/// A result or problem.
pub fn message(title: &str, text: &str, good: bool) -> String {
    page(
        title,
        &format!(
            r#"<div class="card"><h1>{}</h1><p class="status {}" data-testid="outcome">{}</p><p><a href="/">Back</a></p></div>"#,
            esc(title),
            if good { "good" } else { "bad" },
            esc(text)
        ),
        false,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
