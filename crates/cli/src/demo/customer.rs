//! `assent demo --auto-login`: the demo plays Ana at Acme Bank, as her browser would: it signs in
//! with her password, waits for the bank to hear Assent's answer, then asks for the $12,500 wire
//! (which Bo must approve too) and reads the code the bank's page shows. It goes through the
//! bank's own web pages only, so what it reports is what the bank did.

use std::time::Duration;

use anyhow::{Context as _, bail};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::prompt::Screen;

/// Ana's browser.
struct Browser {
    http: reqwest::Client,
    bank: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(bank: &str) -> anyhow::Result<Self> {
        Ok(Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .user_agent("Ana's browser (played by assent demo)")
                .build()?,
            bank: bank.trim_end_matches('/').to_owned(),
            cookie: None,
        })
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        }
    }

    /// Posts a form; returns the flow the bank redirected to (`/flows/ID`).
    async fn start_flow(&self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<String> {
        let response = self
            .with_cookie(self.http.post(format!("{}{path}", self.bank)).form(form))
            .send()
            .await
            .with_context(|| format!("posting to Acme Bank's {path}"))?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        match location.strip_prefix("/flows/") {
            Some(flow) => Ok(flow.to_owned()),
            None => {
                let page = response.text().await.unwrap_or_default();
                bail!(
                    "Acme Bank did not ask Assent (it answered {location:?}): {}",
                    page_text(&page)
                )
            }
        }
    }

    /// The bank's view of a flow once it is final (its page long-polls the same endpoint).
    async fn wait(&self, flow: &str) -> anyhow::Result<String> {
        loop {
            let status: Value = self
                .http
                .get(format!("{}/flows/{flow}/status", self.bank))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            match status["status"].as_str() {
                Some("pending") | None => tokio::time::sleep(Duration::from_millis(200)).await,
                Some(done) => return Ok(done.to_owned()),
            }
        }
    }

    /// Follows the bank's "finish" step; keeps the session cookie it sets.
    async fn finish(&mut self, flow: &str) -> anyhow::Result<String> {
        let response = self
            .with_cookie(self.http.get(format!("{}/flows/{flow}/finish", self.bank)))
            .send()
            .await?;
        if let Some(cookie) = response
            .headers()
            .get(SET_COOKIE)
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
        {
            self.cookie = Some(cookie.to_owned());
        }
        Ok(page_text(&response.text().await.unwrap_or_default()))
    }

    async fn page(&self, path: &str) -> anyhow::Result<String> {
        Ok(self
            .with_cookie(self.http.get(format!("{}{path}", self.bank)))
            .send()
            .await?
            .text()
            .await?)
    }
}

/// The outcome sentence of one of the bank's result pages (`data-testid="outcome"`), or its
/// first words when it has none.
fn page_text(html: &str) -> String {
    let text = match html.split("data-testid=\"outcome\">").nth(1) {
        Some(after) => after.split('<').next().unwrap_or_default(),
        None => html.get(..200).unwrap_or(html),
    };
    text.replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The code on the bank's waiting page (digits only: anything else is not a code).
fn shown_code(html: &str) -> Option<String> {
    let after = html.split("data-testid=\"code\">").nth(1)?;
    let code = after.split('<').next()?.trim();
    (!code.is_empty() && code.bytes().all(|b| b.is_ascii_digit())).then(|| code.to_owned())
}

/// Signs in as Ana, then asks for the wire; reports each step on `screen`.
///
/// # Errors
/// When Acme Bank cannot be reached or answers something unexpected.
pub async fn play_ana(bank: &str, screen: &Screen) -> anyhow::Result<()> {
    let mut browser = Browser::new(bank)?;
    screen.say("Acme Bank (played by the demo): Ana signs in with her password\u{2026}");
    let flow = browser
        .start_flow("/login", &[("username", "ana"), ("password", "demo")])
        .await?;
    let outcome = browser.wait(&flow).await?;
    browser.finish(&flow).await?;
    if outcome != "approved" || browser.cookie.is_none() {
        screen.say(&format!(
            "Acme Bank: Ana's sign-in was refused ({outcome}); she is not signed in."
        ));
        return Ok(());
    }
    screen.say("Acme Bank: Ana is signed in. She now sends $12,500 to ACME Corp\u{2026}");
    let flow = browser.start_flow("/transfer", &[]).await?;
    let waiting = browser.page(&format!("/flows/{flow}")).await?;
    let code = shown_code(&waiting).context("the bank's page shows a code")?;
    screen.say(&format!(
        "Acme Bank's page shows Ana the code {code}: type it for Ana. Bo must approve too."
    ));
    let outcome = browser.wait(&flow).await?;
    let page = browser.finish(&flow).await?;
    let said = if outcome == "approved" {
        "Acme Bank: the transfer was sent (both approved)."
    } else {
        "Acme Bank: the transfer was not sent."
    };
    screen.say(&format!("{said} The bank's page says: {page}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_banks_pages() {
        assert_eq!(
            shown_code(r#"<p class="number" data-testid="code">0427</p>"#).as_deref(),
            Some("0427"),
            "a code keeps its leading zero"
        );
        assert_eq!(shown_code("<p>no code</p>"), None);
        assert_eq!(
            shown_code(r#"<p data-testid="code">04<b>27</b></p>"#).as_deref(),
            Some("04"),
            "only the text up to the next tag is read"
        );
        assert_eq!(
            shown_code(r#"<p data-testid="code">04&#39;7</p>"#),
            None,
            "anything but digits is no code"
        );
        assert_eq!(
            page_text(
                r#"<h1>Transfer not sent</h1><p class="status bad" data-testid="outcome">The transfer was denied: you said it wasn&#39;t you.</p>"#
            ),
            "The transfer was denied: you said it wasn't you."
        );
    }
}
