//! The terminal prompt: a device session's requests shown one at a time, as the desktop app
//! shows them (the relying party's branding, the message, the detail lines, where the action came
//! from, a live countdown, the number choices), and answered by typing `a` (approve), `d` (deny),
//! `n` (this wasn't me) or the number. Used by `assent device prompt` and the demo's terminal
//! flow; like `assent device watch`, it is a thin consumer of the device session.
//!
//! On a terminal the countdown line is redrawn in place every second (the typed answer is not
//! disturbed); elsewhere (a pipe, a log) each card is printed once.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal as _, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assent_device::view::{
    FactsView, LinkState, MatchingView, NetworkFact, RequestView, SessionEvent, ordinal,
};
use assent_device::{DeviceSession, ErrorKind};
use assent_protocol::decision::{DenyReason, Outcome};
use assent_protocol::request::RequestStatus;
use uuid::Uuid;

use crate::link::{describe_link, now_ms};

/// One device answering at this prompt: its session, its events, and whose device it is when
/// the prompt answers for several people (the demo's Ana and Bo).
#[derive(Debug)]
pub struct Desk {
    /// The device session.
    pub session: DeviceSession,
    /// Its events.
    pub events: assent_device::SessionEvents,
    /// "Ana": shown as "for Ana" on its requests.
    pub who: Option<String>,
    /// Account id → app name, for connection lines.
    pub apps: HashMap<Uuid, String>,
}

#[derive(Debug)]
struct ScreenState {
    tty: bool,
    color: bool,
    /// The countdown line of the card on screen, and how many lines below it the cursor is.
    countdown: Option<(Option<i64>, usize)>,
    /// The prompt is to be shown again after anything said.
    prompt_shown: bool,
    /// The cursor is on the prompt's line, after `> ` (and the person's typing, on a terminal).
    line_open: bool,
    /// Output kept here instead of written to standard output (tests read what was shown).
    recorded: Option<String>,
}

/// The terminal, shared by the prompt and whatever else prints while it waits (the demo's
/// relying party): lines said while a prompt is open are printed above a fresh prompt, and the
/// countdown keeps track of where its line is.
#[derive(Debug, Clone)]
pub struct Screen {
    state: Arc<Mutex<ScreenState>>,
}

const PROMPT: &str = "> ";

/// `"1:02:03"`, `"4:05"`, `"0:00"`: as the desktop UI counts down.
fn clock(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m}:{sec:02}")
    }
}

fn countdown_text(expires_at: Option<i64>, now: i64) -> String {
    match expires_at {
        None => "Does not expire".into(),
        Some(at) if at <= now => "Expired".into(),
        Some(at) => format!("Expires in {}", clock(at - now)),
    }
}

/// `#rrggbb` → an ANSI 24-bit foreground colour.
fn accent(color: Option<&str>) -> Option<String> {
    let hex = color?.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some(format!(
        "\x1b[38;2;{};{};{}m",
        channel(0)?,
        channel(2)?,
        channel(4)?
    ))
}

/// Text from the service, stripped of control, bidirectional and line-separator characters (the
/// one definition, `assent_protocol::text`) so it cannot move the cursor, recolour the terminal
/// or read in another order than it is written.
fn clean(text: &str) -> String {
    assent_device::view::shown_text(text)
}

/// The service's facts about a request, one line each, and whether the first (a burst of
/// requests) should stand out. The network is a hint, never proof, and is said so.
pub fn facts_lines(app: &str, facts: &FactsView) -> (Vec<String>, bool) {
    let burst = facts.requests_last_hour > 1;
    let mut lines = vec![if burst {
        format!(
            "{} request from {app} in the last hour",
            ordinal(facts.requests_last_hour)
        )
    } else {
        format!("The only request from {app} in the last hour")
    }];
    match facts.network {
        NetworkFact::Same => {
            lines.push("Same network as this computer (as far as the service can tell)".into())
        }
        NetworkFact::Other => {
            lines.push("Another network than this computer (as far as the service can tell)".into())
        }
        NetworkFact::Unknown => {}
    }
    (lines, burst)
}

/// What the person is told after answering "This wasn't me": what happened, until when new
/// requests are blocked (when the service froze them) and what to do next.
pub fn not_me_text(app: &str, frozen_until: Option<i64>) -> String {
    let blocked = frozen_until
        .map(|until| {
            format!(
                " New requests from {app} are blocked until {}.",
                crate::finding::utc(until)
            )
        })
        .unwrap_or_default();
    format!(
        "Denied and reported as not you: {app} was told.{blocked} If you did not try to sign in, \
         someone may know your {app} password: change it."
    )
}

impl Screen {
    /// Standard output; colours and the live countdown only on a terminal (and not with
    /// `NO_COLOR`).
    pub fn stdout() -> Screen {
        let tty = std::io::stdout().is_terminal();
        let color = tty
            && std::env::var_os("NO_COLOR").is_none()
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        Screen::new(tty, color, None)
    }

    /// A screen (not a terminal) that keeps what it shows, for tests.
    #[cfg(test)]
    fn recording() -> Screen {
        Screen::new(false, false, Some(String::new()))
    }

    fn new(tty: bool, color: bool, recorded: Option<String>) -> Screen {
        Screen {
            state: Arc::new(Mutex::new(ScreenState {
                tty,
                color,
                countdown: None,
                prompt_shown: false,
                line_open: false,
                recorded,
            })),
        }
    }

    /// What a [`Screen::recording`] showed so far.
    #[cfg(test)]
    fn shown(&self) -> String {
        self.lock().recorded.clone().unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ScreenState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write(state: &mut ScreenState, text: &str) {
        if let Some(recorded) = state.recorded.as_mut() {
            recorded.push_str(text);
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// Where the next output starts: a fresh line (over the open prompt, on a terminal).
    fn fresh_line(state: &mut ScreenState, out: &mut String) {
        if std::mem::take(&mut state.line_open) {
            out.push_str(if state.tty { "\r\x1b[2K" } else { "\n" });
        }
    }

    /// Prints `text` (one or more lines) above the prompt.
    pub fn say(&self, text: &str) {
        let mut state = self.lock();
        let mut out = String::new();
        Self::fresh_line(&mut state, &mut out);
        for line in text.lines() {
            out.push_str(line);
            out.push('\n');
        }
        let lines = text.lines().count();
        if let Some((_, below)) = state.countdown.as_mut() {
            *below += lines;
        }
        if state.prompt_shown {
            out.push_str(PROMPT);
            state.line_open = true;
        }
        Self::write(&mut state, &out);
    }

    fn prompt(&self) {
        let mut state = self.lock();
        let mut out = String::new();
        Self::fresh_line(&mut state, &mut out);
        out.push_str(PROMPT);
        state.prompt_shown = true;
        state.line_open = true;
        Self::write(&mut state, &out);
    }

    /// The person pressed Enter on the prompt line. A terminal echoed it (the cursor is on the
    /// next line); elsewhere nothing moved.
    fn answered(&self) {
        let mut state = self.lock();
        state.prompt_shown = false;
        if state.tty {
            state.line_open = false;
            if let Some((_, below)) = state.countdown.as_mut() {
                *below += 1;
            }
        }
    }

    fn forget_countdown(&self) {
        self.lock().countdown = None;
    }

    /// Leaves the prompt: what is printed next starts on a line of its own.
    pub fn close(&self) {
        let mut state = self.lock();
        state.countdown = None;
        state.prompt_shown = false;
        // On a terminal, Ctrl-C was echoed as `^C` on the current line.
        if std::mem::take(&mut state.line_open) || state.tty {
            Self::write(&mut state, "\n");
        }
    }

    /// Prints a request's card and the prompt.
    fn card(&self, request: &RequestView, who: Option<&str>, now: i64) {
        let color = self.lock().color;
        let (bar, bold, reset) = if color {
            (
                format!(
                    "{}\u{2503}\x1b[0m",
                    accent(request.app.accent_color.as_deref()).unwrap_or_default()
                ),
                "\x1b[1m",
                "\x1b[0m",
            )
        } else {
            ("|".to_owned(), "", "")
        };
        let name = clean(&request.app.name);
        let monogram = name
            .chars()
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_else(|| "?".into());
        let mut lines = vec![
            String::new(),
            format!(
                "{bar} {bold}[{monogram}] {name}{reset}{}",
                who.map(|w| format!("  for {w}")).unwrap_or_default()
            ),
            format!("{bar} {bold}{}{reset}", clean(&request.message)),
        ];
        let width = request
            .details
            .iter()
            .map(|d| clean(&d.label).chars().count())
            .max()
            .unwrap_or(0);
        for detail in &request.details {
            lines.push(format!(
                "{bar}   {:<width$}  {}",
                clean(&detail.label),
                clean(&detail.value)
            ));
        }
        if let Some(r) = &request.requester {
            let parts: Vec<String> = [&r.ip, &r.location, &r.user_agent]
                .into_iter()
                .flatten()
                .map(|p| clean(p))
                .collect();
            if !parts.is_empty() {
                lines.push(format!("{bar} From {}", parts.join(" \u{b7} ")));
            }
        }
        if let Some(facts) = &request.facts {
            let (facts, burst) = facts_lines(&name, facts);
            for (i, fact) in facts.into_iter().enumerate() {
                lines.push(if i == 0 && burst {
                    format!("{bar} {bold}! {fact}{reset}")
                } else {
                    format!("{bar} {fact}")
                });
            }
        }
        if request.quorum > 1 {
            lines.push(format!(
                "{bar} Needs {} of {} approvers.",
                request.quorum, request.approvers
            ));
        }
        lines.push(format!("{bar} {}", countdown_text(request.expires_at, now)));
        let countdown_index = lines.len() - 1;
        let answers = match &request.number_matching {
            Some(MatchingView::Pick { choices }) => {
                let choices: Vec<String> = choices.iter().map(u32::to_string).collect();
                lines.push(format!(
                    "{bar} Pick the number shown where you signed in:  {}",
                    choices.join("   ")
                ));
                "type the number to approve \u{b7} d deny \u{b7} n this wasn't me"
            }
            Some(MatchingView::Typed { digits }) => {
                lines.push(format!(
                    "{bar} Type the {digits}-digit code shown where you signed in to approve."
                ));
                "type the code to approve \u{b7} d deny \u{b7} n this wasn't me"
            }
            None => "a approve \u{b7} d deny \u{b7} n this wasn't me",
        };
        lines.push(format!("  {answers}"));
        let below = lines.len() - countdown_index;
        let mut state = self.lock();
        let mut out = String::new();
        Self::fresh_line(&mut state, &mut out);
        for line in &lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(PROMPT);
        state.prompt_shown = true;
        state.line_open = true;
        state.countdown = Some((request.expires_at, below));
        Self::write(&mut state, &out);
    }

    /// Redraws the countdown line in place (terminals only).
    fn tick(&self, now: i64) {
        let mut state = self.lock();
        let Some((expires_at, below)) = state.countdown else {
            return;
        };
        if !state.tty || below > 40 {
            return;
        }
        let bar = if state.color { "\u{2503}" } else { "|" };
        // Save the cursor (the person may be typing), go up to the countdown line, rewrite it,
        // and come back.
        Self::write(
            &mut state,
            &format!(
                "\x1b7\x1b[{below}A\r\x1b[2K{bar} {}\x1b8",
                countdown_text(expires_at, now)
            ),
        );
    }
}

/// What a typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Approve,
    /// Digits, as typed (a number to pick, or a code with its leading zeros).
    Digits(String),
    Deny,
    NotMe,
    Nothing,
    Unknown,
}

fn parse(line: &str) -> Answer {
    let line = line.trim().to_ascii_lowercase();
    match line.as_str() {
        "" => Answer::Nothing,
        "a" | "approve" | "y" | "yes" => Answer::Approve,
        "d" | "deny" | "no" => Answer::Deny,
        "n" | "not me" | "notme" | "not-me" | "this wasn't me" => Answer::NotMe,
        digits if digits.chars().all(|c| c.is_ascii_digit()) && digits.len() <= 9 => {
            Answer::Digits(digits.to_owned())
        }
        _ => Answer::Unknown,
    }
}

/// Lines typed on standard input (read on a thread of their own: reading blocks).
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn resolved_text(status: Option<RequestStatus>, app: &str) -> String {
    match status {
        Some(RequestStatus::Approved) => "Approved on another device.".into(),
        Some(RequestStatus::Denied) => "Denied on another device.".into(),
        Some(RequestStatus::Expired) => "This request expired.".into(),
        Some(RequestStatus::Cancelled) => format!("{app} cancelled this request."),
        _ => "This request is no longer waiting.".into(),
    }
}

/// A request waiting at the prompt, and the desk it is for.
#[derive(Debug, Clone)]
struct Waiting {
    desk: usize,
    request: RequestView,
}

/// The requests waiting for an answer at this prompt: each desk's pending list as its session
/// last announced it, less what was answered here.
///
/// Invariant: a request answered at this prompt is never offered again. A session announces its
/// list after every change, but the prompt reads those announcements only between answers: a
/// list announced before an answer was sent can be read after it (the events queue while the
/// answer is on its way) and still holds the request. So an answered request is remembered until
/// its desk announces a list without it, and filtered out of every list until then.
#[derive(Debug)]
struct Waitlist {
    pending: Vec<Vec<RequestView>>,
    answered: HashSet<(usize, Uuid)>,
}

impl Waitlist {
    /// Empty lists for `desks` desks. Only the sessions' announcements fill them, read in order:
    /// a snapshot of a session's list taken now would be newer than announcements still queued,
    /// and reading those after it could bring back a request answered in between.
    fn new(desks: usize) -> Self {
        Self {
            pending: vec![Vec::new(); desks],
            answered: HashSet::new(),
        }
    }

    /// `desk`'s session announced its whole pending list.
    fn announced(&mut self, desk: usize, requests: Vec<RequestView>) {
        self.answered
            .retain(|(d, id)| *d != desk || requests.iter().any(|r| r.id == *id));
        self.pending[desk] = requests
            .into_iter()
            .filter(|r| !self.answered.contains(&(desk, r.id)))
            .collect();
    }

    /// Request `id` was answered here (or ended while being answered): it leaves for good.
    fn answered(&mut self, desk: usize, id: Uuid) {
        self.ended(desk, id);
        self.answered.insert((desk, id));
    }

    /// Whether `desk` lists request `id` (`None`: not listed), and this person's answer to it.
    fn answer_of(&self, desk: usize, id: Uuid) -> Option<Option<Outcome>> {
        self.pending[desk]
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.my_answer)
    }

    /// `desk`'s session said request `id` ended.
    fn ended(&mut self, desk: usize, id: Uuid) {
        self.pending[desk].retain(|r| r.id != id);
    }

    /// The oldest request across desks that still needs an answer from this prompt: one
    /// answered here earlier that waits on other approvers (`my_answer`) is not asked again.
    fn next(&self) -> Option<Waiting> {
        self.pending
            .iter()
            .enumerate()
            .flat_map(|(desk, list)| list.iter().map(move |request| (desk, request)))
            .filter(|(_, request)| request.my_answer.is_none())
            .min_by_key(|(desk, request)| (request.created_at, *desk, request.id))
            .map(|(desk, request)| Waiting {
                desk,
                request: request.clone(),
            })
    }
}

struct Prompt {
    sessions: Vec<DeviceSession>,
    who: Vec<Option<String>>,
    apps: Vec<HashMap<Uuid, String>>,
    screen: Screen,
    waitlist: Waitlist,
    current: Option<Waiting>,
    links: HashMap<Uuid, LinkState>,
    /// "Waiting for requests" was said and nothing came since.
    idle: bool,
}

impl Prompt {
    fn is_current(&self, desk: usize, id: Uuid) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.desk == desk && c.request.id == id)
    }

    fn show_next(&mut self) {
        if self.current.is_some() {
            return;
        }
        self.screen.forget_countdown();
        match self.waitlist.next() {
            Some(next) => {
                let who = self.who[next.desk].as_deref();
                self.screen.card(&next.request, who, now_ms() / 1000);
                self.current = Some(next);
                self.idle = false;
            }
            None if self.idle => {}
            None => {
                self.idle = true;
                self.screen
                    .say("Waiting for requests\u{2026} (Ctrl-C to stop)");
            }
        }
    }

    fn on_event(&mut self, desk: usize, event: SessionEvent) {
        match event {
            SessionEvent::Pending { requests } => {
                self.waitlist.announced(desk, requests);
                // The lists are read in order from an empty start, so the latest is the
                // session's word: a current request it no longer holds ended (its `resolved`
                // event said how), and one it holds with this person's answer was answered on
                // another of their devices.
                let listed = self
                    .current
                    .as_ref()
                    .filter(|c| c.desk == desk)
                    .map(|c| self.waitlist.answer_of(desk, c.request.id));
                match listed {
                    Some(None) => self.current = None,
                    Some(Some(Some(_))) => {
                        self.current = None;
                        self.screen.say(
                            "Answered on another of your devices; waiting for the other approvers.",
                        );
                    }
                    Some(Some(None)) | None => {}
                }
                if self.current.is_none() {
                    self.show_next();
                }
            }
            SessionEvent::Resolved {
                id,
                status,
                decided_here: false,
            } if self.is_current(desk, id) => {
                let app = self
                    .current
                    .take()
                    .map(|c| c.request.app.name)
                    .unwrap_or_default();
                self.waitlist.ended(desk, id);
                self.screen.say(&resolved_text(status, &clean(&app)));
                self.show_next();
            }
            SessionEvent::Arrived { request, .. } => {
                if self.current.is_some() && !self.is_current(desk, request.id) {
                    self.screen.say(&format!(
                        "(another request is waiting: {} \u{2014} {})",
                        clean(&request.app.name),
                        clean(&request.message)
                    ));
                }
            }
            SessionEvent::Connection { connection } => {
                let before = self
                    .links
                    .insert(connection.account_id, connection.state.clone());
                let worth_saying = match (&before, &connection.state) {
                    (Some(a), b) if a == b => false,
                    (None | Some(LinkState::Connecting), LinkState::Connected) => false,
                    (_, LinkState::Connecting) => false,
                    (_, LinkState::Reconnecting { .. }) => {
                        !matches!(before, Some(LinkState::Reconnecting { .. }))
                    }
                    _ => true,
                };
                if worth_saying {
                    let app = self.apps[desk]
                        .get(&connection.account_id)
                        .map_or("The service", String::as_str);
                    let who = self.who[desk]
                        .as_ref()
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default();
                    self.screen.say(&format!(
                        "{app}{who}: {}",
                        describe_link(&connection.state, now_ms())
                    ));
                }
            }
            SessionEvent::Notice { message, .. } => {
                self.screen.say(&format!("warning: {message}"));
            }
            SessionEvent::Clock { clock } if clock.skewed => {
                self.screen.say(&format!(
                    "warning: {}",
                    assent_device::clock::warning(&clock)
                ));
            }
            SessionEvent::Clock { .. } => {}
            // `assent device watch` and the desktop app show the approval log's findings.
            SessionEvent::Resolved { .. }
            | SessionEvent::Accounts { .. }
            | SessionEvent::Settings { .. }
            | SessionEvent::LogFindings { .. } => {}
        }
    }

    /// Says `text` and asks again.
    fn ask(&self, text: &str) {
        self.screen.say(text);
        self.screen.prompt();
    }

    fn done_with_current(&mut self) {
        if let Some(done) = self.current.take() {
            self.waitlist.answered(done.desk, done.request.id);
        }
    }

    async fn on_line(&mut self, line: &str) {
        self.screen.answered();
        let Some(Waiting { desk, request }) = self.current.clone() else {
            self.screen
                .say("Nothing is waiting for an answer right now.");
            return;
        };
        let session = self.sessions[desk].clone();
        let answer = parse(line);
        let decision = match (&answer, &request.number_matching) {
            (Answer::Nothing, _) => {
                self.screen.prompt();
                return;
            }
            (Answer::Approve, Some(MatchingView::Pick { choices })) => {
                let choices: Vec<String> = choices.iter().map(u32::to_string).collect();
                self.ask(&format!(
                    "Type the number shown where you signed in ({}) to approve.",
                    choices.join(", ")
                ));
                return;
            }
            (Answer::Approve, Some(MatchingView::Typed { digits })) => {
                self.ask(&format!(
                    "Type the {digits}-digit code shown where you signed in to approve."
                ));
                return;
            }
            (Answer::Approve, None) => session.approve(request.id, None).await,
            (Answer::Digits(typed), Some(MatchingView::Pick { choices })) => {
                match typed.parse::<u32>().ok().filter(|n| choices.contains(n)) {
                    Some(n) => {
                        session
                            .approve(request.id, Some(assent_device::Answer::Number(n)))
                            .await
                    }
                    None => {
                        let choices: Vec<String> = choices.iter().map(u32::to_string).collect();
                        self.ask(&format!(
                            "{typed} is not one of {}; nothing was sent.",
                            choices.join(", ")
                        ));
                        return;
                    }
                }
            }
            (Answer::Digits(typed), Some(MatchingView::Typed { digits }))
                if typed.len() != usize::from(*digits) =>
            {
                self.ask(&format!(
                    "The code has {digits} digits; nothing was sent. Type it again."
                ));
                return;
            }
            (Answer::Digits(typed), Some(MatchingView::Typed { .. })) => {
                session
                    .approve(request.id, Some(assent_device::Answer::Code(typed.clone())))
                    .await
            }
            (Answer::Digits(_), None) => {
                self.ask("This request does not ask for a number: type a, d or n.");
                return;
            }
            (Answer::Deny, _) => session.deny(request.id, DenyReason::Cancelled).await,
            (Answer::NotMe, _) => session.deny(request.id, DenyReason::NotMe).await,
            (Answer::Unknown, Some(MatchingView::Pick { .. })) => {
                self.ask("Type the number to approve, d to deny, or n if this wasn't you.");
                return;
            }
            (Answer::Unknown, Some(MatchingView::Typed { .. })) => {
                self.ask("Type the code to approve, d to deny, or n if this wasn't you.");
                return;
            }
            (Answer::Unknown, None) => {
                self.ask("Type a to approve, d to deny, or n if this wasn't you.");
                return;
            }
        };
        match decision {
            Ok(outcome) => {
                let said = match (answer, outcome.status) {
                    (Answer::NotMe, _) => {
                        not_me_text(&clean(&request.app.name), outcome.frozen_until)
                    }
                    (Answer::Deny, _) => "Denied.".into(),
                    (_, RequestStatus::Pending) => {
                        "Approved. Waiting for the other approvers.".into()
                    }
                    _ => "Approved.".into(),
                };
                self.done_with_current();
                self.screen.say(&said);
                self.show_next();
            }
            // The service counted a wrong code; the request still waits for the right one.
            Err(e) if e.kind() == ErrorKind::WrongCode => {
                let said = assent_device::view::ErrorView::from(&e).message;
                self.ask(&format!("{said} Type the code again, or d to deny."));
            }
            // Ended, or answered already (on another of this person's devices): either way
            // nothing is left to answer here.
            Err(e) if e.kind().ends_the_request() || e.kind() == ErrorKind::AlreadyDecided => {
                self.screen.say(&format!("Not sent: {e}"));
                self.done_with_current();
                self.show_next();
            }
            Err(e) => self.ask(&format!("Not sent: {e}")),
        }
    }
}

/// Runs the prompt over `desks` until `stop` completes or every session ends.
///
/// # Errors
/// None today; the signature leaves room for terminal errors.
pub async fn run(
    desks: Vec<Desk>,
    screen: Screen,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut prompt = Prompt {
        sessions: desks.iter().map(|d| d.session.clone()).collect(),
        who: desks.iter().map(|d| d.who.clone()).collect(),
        apps: desks.iter().map(|d| d.apps.clone()).collect(),
        // Every list since each session opened is still queued: they fill the waitlist.
        waitlist: Waitlist::new(desks.len()),
        screen,
        current: None,
        links: HashMap::new(),
        idle: false,
    };
    let mut forwarders = Vec::new();
    for (index, desk) in desks.into_iter().enumerate() {
        let tx = tx.clone();
        let mut desk_events = desk.events;
        forwarders.push(tokio::spawn(async move {
            while let Some(event) = desk_events.next().await {
                if tx.send((index, event)).is_err() {
                    return;
                }
            }
        }));
    }
    drop(tx);
    prompt.show_next();
    let mut input = stdin_lines();
    let mut input_open = true;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            event = events.recv() => match event {
                Some((desk, event)) => prompt.on_event(desk, event),
                None => break,
            },
            line = input.recv(), if input_open => match line {
                Some(line) => prompt.on_line(&line).await,
                None => input_open = false,
            },
            _ = tick.tick() => prompt.screen.tick(now_ms() / 1000),
        }
    }
    for forwarder in forwarders {
        forwarder.abort();
    }
    prompt.screen.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pending request `n`, created at `created_at`.
    fn request(n: u128, created_at: i64) -> RequestView {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::from_u128(n),
            "account_id": Uuid::from_u128(1_000),
            "app": {"name": "Acme Bank", "accent_color": null, "logo": null},
            "message": "Sign in to Acme Bank?",
            "details": [],
            "requester": null,
            "created_at": created_at,
            "expires_at": null,
            "number_matching": null,
            "facts": null,
            "quorum": 1,
            "approvers": 1,
            "verification_required": false,
            "kind": null,
            "action_label": null,
            "account_name": null,
            "server_host": "127.0.0.1",
            "approver_states": [],
            "my_answer": null,
            "is_initiator": true
        }))
        .expect("a request view")
    }

    fn prompt(desks: usize) -> Prompt {
        Prompt {
            sessions: Vec::new(),
            who: vec![None; desks],
            apps: vec![HashMap::new(); desks],
            screen: Screen::recording(),
            waitlist: Waitlist::new(desks),
            current: None,
            links: HashMap::new(),
            idle: false,
        }
    }

    fn announce(prompt: &mut Prompt, desk: usize, requests: Vec<RequestView>) {
        prompt.on_event(desk, SessionEvent::Pending { requests });
    }

    fn cards(prompt: &Prompt) -> usize {
        prompt.screen.shown().matches("| [A] Acme Bank").count()
    }

    fn current_id(prompt: &Prompt) -> Option<u128> {
        prompt.current.as_ref().map(|c| c.request.id.as_u128())
    }

    #[test]
    fn each_card_is_shown_once_when_lists_from_before_the_answers_are_read_after_them() {
        let mut prompt = prompt(1);
        announce(&mut prompt, 0, vec![request(1, 10), request(2, 10)]);
        assert_eq!(current_id(&prompt), Some(1));
        // What `on_line` does around an answer the service took; the session's lists queue
        // meanwhile.
        let answer = |prompt: &mut Prompt| {
            prompt.screen.answered();
            prompt.done_with_current();
            prompt.show_next();
        };
        answer(&mut prompt);
        assert_eq!(current_id(&prompt), Some(2));
        answer(&mut prompt);
        announce(&mut prompt, 0, vec![request(1, 10), request(2, 10)]);
        announce(&mut prompt, 0, vec![request(2, 10)]);
        announce(&mut prompt, 0, vec![]);
        assert_eq!(current_id(&prompt), None, "nothing is left to answer");
        assert_eq!(
            cards(&prompt),
            2,
            "each request's card once: {}",
            prompt.screen.shown()
        );
        assert!(
            prompt
                .screen
                .shown()
                .ends_with("Waiting for requests\u{2026} (Ctrl-C to stop)\n"),
            "{}",
            prompt.screen.shown()
        );
    }

    #[test]
    fn a_card_leaves_when_the_list_drops_it_or_the_person_answered_on_another_device() {
        let mut prompt = prompt(1);
        announce(&mut prompt, 0, vec![request(1, 10)]);
        assert_eq!(current_id(&prompt), Some(1));
        announce(&mut prompt, 0, vec![]);
        assert_eq!(
            current_id(&prompt),
            None,
            "a request the session no longer holds is no longer asked"
        );

        let mut wire = request(2, 20);
        wire.quorum = 2;
        wire.approvers = 2;
        announce(&mut prompt, 0, vec![wire.clone()]);
        assert_eq!(current_id(&prompt), Some(2));
        wire.my_answer = Some(Outcome::Approve);
        announce(&mut prompt, 0, vec![wire]);
        assert_eq!(
            current_id(&prompt),
            None,
            "approved on another of this person's devices: nothing to answer here"
        );
        assert!(
            prompt
                .screen
                .shown()
                .contains("Answered on another of your devices; waiting for the other approvers."),
            "{}",
            prompt.screen.shown()
        );
        assert_eq!(cards(&prompt), 2, "{}", prompt.screen.shown());
    }

    fn next_id(list: &Waitlist) -> Option<(usize, u128)> {
        list.next().map(|w| (w.desk, w.request.id.as_u128()))
    }

    #[test]
    fn a_list_announced_before_an_answer_does_not_bring_the_request_back() {
        let mut list = Waitlist::new(2);
        list.announced(0, vec![request(1, 10), request(2, 10)]);
        assert_eq!(next_id(&list), Some((0, 1)), "oldest first, then by id");
        list.answered(0, Uuid::from_u128(1));
        assert_eq!(next_id(&list), Some((0, 2)));
        list.answered(0, Uuid::from_u128(2));
        assert_eq!(next_id(&list), None, "both were answered here");
        // The session's lists from between the answers, read only now.
        list.announced(0, vec![request(1, 10), request(2, 10)]);
        list.announced(0, vec![request(2, 10)]);
        assert_eq!(
            next_id(&list),
            None,
            "a list announced before the answers were sent offers neither again"
        );
        list.announced(0, vec![]);
        assert!(
            list.answered.is_empty(),
            "an answered request is forgotten once its desk's list no longer holds it"
        );
        list.announced(0, vec![request(3, 11)]);
        assert_eq!(next_id(&list), Some((0, 3)), "new requests are offered");
    }

    #[test]
    fn a_request_waiting_on_others_is_not_asked_again_and_desks_interleave_by_age() {
        let mut waiting = request(1, 5);
        waiting.my_answer = Some(Outcome::Approve);
        let mut list = Waitlist::new(2);
        list.announced(0, vec![waiting, request(2, 9)]);
        list.announced(1, vec![request(3, 7)]);
        assert_eq!(
            next_id(&list),
            Some((1, 3)),
            "the oldest request not yet answered by this person, whichever desk it is on"
        );
        list.ended(1, Uuid::from_u128(3));
        assert_eq!(next_id(&list), Some((0, 2)));
        assert!(
            list.answered.is_empty(),
            "a request that ended elsewhere is not remembered"
        );
    }

    #[test]
    fn typed_answers() {
        assert_eq!(parse(" A "), Answer::Approve);
        assert_eq!(parse("deny"), Answer::Deny);
        assert_eq!(parse("n"), Answer::NotMe);
        assert_eq!(parse("not me"), Answer::NotMe);
        assert_eq!(parse("64"), Answer::Digits("64".into()));
        assert_eq!(
            parse(" 0427 "),
            Answer::Digits("0427".into()),
            "a typed code keeps its leading zero"
        );
        assert_eq!(parse(""), Answer::Nothing);
        assert_eq!(
            parse("99999999999999"),
            Answer::Unknown,
            "too long to be a choice"
        );
        assert_eq!(parse("approve please"), Answer::Unknown);
    }

    #[test]
    fn facts_and_the_freeze_are_said_plainly() {
        let facts = |requests_last_hour, network| FactsView {
            requests_last_hour,
            network,
        };
        assert_eq!(
            facts_lines("Acme Bank", &facts(3, NetworkFact::Same)),
            (
                vec![
                    "3rd request from Acme Bank in the last hour".to_owned(),
                    "Same network as this computer (as far as the service can tell)".to_owned()
                ],
                true
            ),
            "a burst stands out and the network is a hint"
        );
        assert_eq!(
            facts_lines("Acme Bank", &facts(1, NetworkFact::Unknown)),
            (
                vec!["The only request from Acme Bank in the last hour".to_owned()],
                false
            ),
            "nothing is said about a network the service did not see"
        );
        assert!(
            facts_lines("Acme Bank", &facts(2, NetworkFact::Other)).0[1]
                .starts_with("Another network")
        );
        assert_eq!(
            not_me_text("Acme Bank", Some(1_795_728_000)),
            "Denied and reported as not you: Acme Bank was told. New requests from Acme Bank are \
             blocked until 2026-11-26 21:20 UTC. If you did not try to sign in, someone may know \
             your Acme Bank password: change it."
        );
        assert!(
            !not_me_text("Acme Bank", None).contains("blocked"),
            "no freeze is claimed when the service did not freeze"
        );
    }

    #[test]
    fn countdown_and_colours() {
        assert_eq!(countdown_text(Some(100), 95), "Expires in 0:05");
        assert_eq!(countdown_text(Some(100 + 3725), 100), "Expires in 1:02:05");
        assert_eq!(countdown_text(Some(100), 100), "Expired");
        assert_eq!(countdown_text(None, 100), "Does not expire");
        assert_eq!(
            accent(Some("#c8102e")).as_deref(),
            Some("\x1b[38;2;200;16;46m")
        );
        assert_eq!(accent(Some("c8102e")), None);
        assert_eq!(accent(Some("#zz0000")), None);
        assert_eq!(
            clean("Sign in\x1b[2J?\n"),
            "Sign in[2J?",
            "no escape sequences from the service"
        );
    }
}
