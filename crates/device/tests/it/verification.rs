//! User verification against real polkit: polkitd on a private system bus, a test
//! authentication agent that approves or refuses, and an unprivileged subject (polkit authorizes
//! root without asking anyone, so a root subject would prove nothing). The service is real; what
//! it recorded is read back from the relying party's receipt.

use std::io::{BufRead as _, Write as _};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use assent_device::view::{SessionEvent, Settings};
use assent_device::{
    Authenticator, DeviceSession, ErrorKind, InsecureServer, PolkitSubject, PolkitVerifier,
    SessionConfig, SessionEvents, UserVerifier, VerificationPrompt,
};
use assent_protocol::decision::DenyReason;
use assent_testkit::polkit::{AgentAnswer, PolkitAgent, PolkitBus, unprivileged};
use assent_testkit::process::KillOnDrop;
use serde_json::Value;

use crate::support::{TestService, fast_streams, test_keychain, until};

/// An unprivileged process polkit checks in place of the test (which runs as root).
fn unprivileged_subject() -> KillOnDrop {
    KillOnDrop(
        unprivileged("sleep")
            .arg("600")
            .spawn()
            .expect("setpriv and sleep are installed"),
    )
}

/// A session whose approvals are verified by polkit on `bus` for `subject`.
fn session_verified_by(
    dir: &std::path::Path,
    verifier: Arc<dyn UserVerifier>,
) -> (DeviceSession, SessionEvents) {
    let auth = Authenticator::open_with(dir.join("device"), test_keychain(), fast_streams())
        .unwrap()
        .with_verifier(verifier);
    DeviceSession::open(auth, SessionConfig::default()).unwrap()
}

fn polkit_for(bus: &PolkitBus, pid: u32) -> Arc<dyn UserVerifier> {
    Arc::new(
        PolkitVerifier::new()
            .on_bus(bus.address())
            .for_subject(PolkitSubject::process(pid).expect("the subject is running")),
    )
}

/// Whether a test's request requires user verification (signed into it by the service).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Requires {
    Verification,
    Nothing,
}

/// A request to `user` that requires user verification.
async fn request_requiring_verification(svc: &TestService, user: u64, message: &str) -> uuid::Uuid {
    svc.post(
        &format!("/onetouch/json/users/{user}/approval_requests"),
        serde_json::json!({"message": message, "user_verification": "required"}),
    )
    .await["approval_request"]["uuid"]
        .as_str()
        .expect("the request is created")
        .parse()
        .unwrap()
}

/// Enrolls the session for a new person and waits until `message` from them is pending.
async fn pending_request(
    svc: &TestService,
    session: &DeviceSession,
    events: &mut SessionEvents,
    message: &str,
    requires: Requires,
) -> uuid::Uuid {
    session.start().await.unwrap();
    let user = svc.user("ana@example.com").await;
    let link = svc.link(user, &svc.base).await.render();
    session
        .enroll(&link, None, InsecureServer::Refuse, "laptop", "linux")
        .await
        .expect("enrollment");
    let id = match requires {
        Requires::Nothing => svc.request(user, message).await,
        Requires::Verification => request_requiring_verification(svc, user, message).await,
    };
    until(
        events,
        "the request shown",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == id),
    )
    .await;
    id
}

fn verify_every_approval(session: &DeviceSession) {
    session
        .set_settings(Settings {
            verify_every_approval: true,
            ..session.settings()
        })
        .expect("the setting is saved");
}

/// A session enrolled with a real service, verified by polkit for an unprivileged subject, with
/// one request pending; `answer` is the test agent's (none: no agent is registered).
struct Verified {
    session: DeviceSession,
    events: SessionEvents,
    svc: TestService,
    id: uuid::Uuid,
    agent: Option<PolkitAgent>,
    _subject: KillOnDrop,
    _bus: PolkitBus,
    _dir: tempfile::TempDir,
}

async fn verified(answer: Option<AgentAnswer>, message: &str, requires: Requires) -> Verified {
    let bus = PolkitBus::start();
    let subject = unprivileged_subject();
    let agent = answer.map(|answer| PolkitAgent::register(&bus, subject.0.id(), answer));
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let (session, mut events) = session_verified_by(dir.path(), polkit_for(&bus, subject.0.id()));
    let id = pending_request(&svc, &session, &mut events, message, requires).await;
    Verified {
        session,
        events,
        svc,
        id,
        agent,
        _subject: subject,
        _bus: bus,
        _dir: dir,
    }
}

impl Verified {
    fn agent(&self) -> &PolkitAgent {
        self.agent.as_ref().expect("an agent is registered")
    }
}

/// The verification method the service recorded in the approval of `id`, from its receipt.
async fn recorded_verification(svc: &TestService, id: uuid::Uuid) -> Value {
    let receipt = svc
        .get(&format!("/protected/json/approval_requests/{id}/receipt"))
        .await;
    let decision = &receipt["decisions"][0]["decision"];
    assert!(
        decision.is_object(),
        "the receipt of {id} should hold the signed decision: {receipt:#}"
    );
    decision["payload"]["verification"].clone()
}

#[tokio::test]
async fn an_approval_asks_polkit_first_and_names_the_password_when_the_agent_approves() {
    let t = verified(
        Some(AgentAnswer::Approve),
        "Sign in to the bank?",
        Requires::Nothing,
    )
    .await;
    verify_every_approval(&t.session);

    let decided = t
        .session
        .approve(t.id, None)
        .await
        .expect("the agent approved, so the approval is sent");
    assert_eq!(decided.id, t.id);
    assert_eq!(
        t.svc.status(t.id).await,
        "approved",
        "the service recorded it"
    );
    assert_eq!(
        recorded_verification(&t.svc, t.id).await,
        "os_password",
        "the signed approval names the password polkit asked for"
    );
    let asked = t.agent().asked();
    assert_eq!(asked.len(), 1, "polkit asked the agent once: {asked:#?}");
    assert_eq!(asked[0].action_id, "dev.assent.approve");
    assert_eq!(
        asked[0].uids,
        vec![65534],
        "auth_self: polkit asks for the subject's own password (nobody), not an admin's"
    );
    assert!(
        asked[0].message.contains("Assent") && asked[0].message.contains("approve"),
        "the dialog says Assent asks in order to approve: {:?}",
        asked[0].message
    );
}

#[tokio::test]
async fn a_refused_verification_signs_nothing_and_the_request_stays_pending() {
    let t = verified(
        Some(AgentAnswer::Refuse),
        "Wire $12,500?",
        Requires::Nothing,
    )
    .await;
    verify_every_approval(&t.session);

    let refused = t.session.approve(t.id, None).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::VerificationRefused,
        "the person cancelled the dialog: {refused}"
    );
    assert_eq!(t.agent().asked().len(), 1, "polkit asked the agent");
    assert_eq!(
        t.svc.status(t.id).await,
        "pending",
        "nothing was signed or sent: the service still waits"
    );
    assert_eq!(
        t.session.pending().iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![t.id],
        "the request is still shown"
    );
    assert!(
        t.session.history().unwrap().is_empty(),
        "nothing was decided here"
    );

    t.agent().answer(AgentAnswer::Approve);
    t.session
        .approve(t.id, None)
        .await
        .expect("approving again, with the password this time, works");
    assert_eq!(t.svc.status(t.id).await, "approved");
    assert_eq!(recorded_verification(&t.svc, t.id).await, "os_password");
}

#[tokio::test]
async fn without_the_setting_or_for_a_denial_nobody_is_asked() {
    let mut t = verified(Some(AgentAnswer::Refuse), "Sign in?", Requires::Nothing).await;
    t.session
        .approve(t.id, None)
        .await
        .expect("a request that does not require verification is approved without asking");
    assert_eq!(
        recorded_verification(&t.svc, t.id).await,
        "none",
        "the approval says nobody was asked"
    );

    verify_every_approval(&t.session);
    let user = t.session.authenticator().accounts().unwrap()[0].user_id;
    let denied = t.svc.request(user, "Wire?").await;
    until(
        &mut t.events,
        "the second request",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == denied),
    )
    .await;
    t.session
        .deny(denied, DenyReason::NotMe)
        .await
        .expect("a denial never needs verification");
    assert_eq!(t.svc.status(denied).await, "denied");
    assert!(
        t.agent().asked().is_empty(),
        "nobody was asked for a password: {:#?}",
        t.agent().asked()
    );
}

#[tokio::test]
async fn with_no_agent_to_ask_the_approval_is_refused_as_unavailable() {
    let t = verified(None, "Sign in?", Requires::Nothing).await;
    verify_every_approval(&t.session);

    let refused = t.session.approve(t.id, None).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::VerificationUnavailable,
        "no agent can ask for the password: {refused}"
    );
    assert_eq!(t.svc.status(t.id).await, "pending", "nothing was sent");
    assert_eq!(t.session.pending().len(), 1, "the request is still shown");
}

#[tokio::test]
async fn a_request_that_requires_verification_asks_even_without_the_setting() {
    let t = verified(
        Some(AgentAnswer::Approve),
        "Wire $12,500?",
        Requires::Verification,
    )
    .await;
    assert!(
        !t.session.settings().verify_every_approval,
        "the person's setting is off"
    );
    assert!(
        t.session.pending()[0].verification_required,
        "the view tells the shell the system will ask"
    );

    t.session
        .approve(t.id, None)
        .await
        .expect("the agent approved");
    assert_eq!(t.agent().asked().len(), 1, "polkit asked, setting or not");
    assert_eq!(t.svc.status(t.id).await, "approved");
    assert_eq!(recorded_verification(&t.svc, t.id).await, "os_password");

    // No authorization is kept (no auth_self_keep): the next approval asks again.
    let mut t = t;
    let user = t.session.authenticator().accounts().unwrap()[0].user_id;
    let next = request_requiring_verification(&t.svc, user, "And another?").await;
    until(
        &mut t.events,
        "the next request",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == next),
    )
    .await;
    t.session
        .approve(next, None)
        .await
        .expect("the agent approved again");
    assert_eq!(
        t.agent().asked().len(),
        2,
        "every approval asks for the password again"
    );
}

#[tokio::test]
async fn a_required_verification_refused_leaves_the_request_pending_and_it_can_still_be_denied() {
    let t = verified(
        Some(AgentAnswer::Refuse),
        "Wire $12,500?",
        Requires::Verification,
    )
    .await;
    let refused = t.session.approve(t.id, None).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::VerificationRefused, "{refused}");
    assert_eq!(
        t.svc.status(t.id).await,
        "pending",
        "nothing was signed or sent"
    );
    assert_eq!(t.session.pending().len(), 1, "the request is still shown");

    t.session
        .deny(t.id, DenyReason::Cancelled)
        .await
        .expect("denying needs no verification, even when approving does");
    assert_eq!(t.svc.status(t.id).await, "denied");
    assert_eq!(
        t.agent().asked().len(),
        1,
        "the denial asked nobody: only the refused approval did"
    );
}

#[tokio::test]
async fn where_the_system_cannot_verify_a_required_request_cannot_be_approved() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let (session, mut events) =
        session_verified_by(dir.path(), Arc::new(assent_device::UnsupportedPlatform));
    let id = pending_request(
        &svc,
        &session,
        &mut events,
        "Sign in?",
        Requires::Verification,
    )
    .await;
    let refused = session.approve(id, None).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::VerificationUnavailable,
        "macOS and Windows have no verifier yet: {refused}"
    );
    assert_eq!(svc.status(id).await, "pending", "nothing was sent");
}

#[test]
fn a_root_subject_is_never_taken_as_verified() {
    // polkit says yes to uid 0 without asking anyone: that must not pass for a password.
    let bus = PolkitBus::start();
    let agent = PolkitAgent::register(&bus, std::process::id(), AgentAnswer::Approve);
    let answer = PolkitVerifier::new()
        .on_bus(bus.address())
        .verify(&VerificationPrompt::new("Acme Bank", "Sign in?"));
    assert!(
        matches!(
            answer,
            Err(assent_device::VerificationError::Unavailable { .. })
        ),
        "a root subject is refused as unavailable, not verified: {answer:?}"
    );
    assert!(agent.asked().is_empty(), "and nobody was asked");
}

#[test]
fn without_polkit_on_the_bus_verification_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let subject = unprivileged_subject();
    let answer = PolkitVerifier::new()
        .on_bus(format!("unix:path={}", dir.path().join("no-bus").display()))
        .for_subject(PolkitSubject::process(subject.0.id()).unwrap())
        .verify(&VerificationPrompt::new("Acme Bank", "Sign in?"));
    assert!(
        matches!(
            answer,
            Err(assent_device::VerificationError::Unavailable { .. })
        ),
        "no system bus means unavailable: {answer:?}"
    );
}

/// The environment variable that makes [`verifier_child`] run (as the unprivileged subject).
const CHILD_BUS_ENV: &str = "ASSENT_TEST_POLKIT_CHILD_BUS";

/// Run by [`an_unprivileged_process_is_verified_as_itself`] in a child of this test binary, as
/// `nobody`: it verifies with the default subject (this process) once told to go.
#[test]
#[ignore = "run as a child process by an_unprivileged_process_is_verified_as_itself"]
fn verifier_child() {
    let Ok(address) = std::env::var(CHILD_BUS_ENV) else {
        return;
    };
    println!("READY {}", std::process::id());
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let answer = PolkitVerifier::new()
        .on_bus(address)
        .verify(&VerificationPrompt::new("Acme Bank", "Sign in?"));
    match answer {
        Ok(method) => println!("ANSWER {}", method.as_str()),
        Err(e) => println!("ANSWER error {e:?}"),
    }
}

#[test]
fn an_unprivileged_process_is_verified_as_itself() {
    let bus = PolkitBus::start();
    for (answer, expected) in [
        (AgentAnswer::Approve, "ANSWER os_password".to_owned()),
        (AgentAnswer::Refuse, "ANSWER error Refused".to_owned()),
    ] {
        let mut child = KillOnDrop(
            unprivileged(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "verification::verifier_child",
                    "--nocapture",
                ])
                .env(CHILD_BUS_ENV, bus.address())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("the test binary runs as nobody"),
        );
        let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
        let pid: u32 = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("READY ").and_then(|p| p.parse().ok()))
            .expect("the child says it is ready");
        let agent = PolkitAgent::register(&bus, pid, answer);
        writeln!(child.0.stdin.take().unwrap(), "go").unwrap();
        // Read to the end (the child exits after answering), so it never writes to a closed pipe.
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let said = rest
            .iter()
            .find(|l| l.starts_with("ANSWER "))
            .unwrap_or_else(|| panic!("the child answers: {rest:#?}"));
        assert!(
            said.starts_with(&expected),
            "with the agent answering {answer:?}, the child's own verification should say {expected}: {said}"
        );
        assert_eq!(
            agent.asked().len(),
            1,
            "polkit asked the agent for the child"
        );
    }
}
