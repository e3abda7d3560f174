use std::sync::Arc;
use std::time::Duration;

use assent_desktop::desktop::Desktop;
use assent_device::{MemoryStore, StreamConfig};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager as _, WebviewWindow, WebviewWindowBuilder};

fn app(dir: &std::path::Path) -> App<MockRuntime> {
    let (desktop, _events) = Desktop::open(
        dir.to_path_buf(),
        Arc::new(MemoryStore::default()),
        StreamConfig::default(),
    )
    .unwrap();
    assent_desktop::with_commands(mock_builder())
        .manage(desktop)
        .build(tauri::generate_context!("../tauri.conf.json"))
        .expect("the app builds on the mock runtime")
}

fn window(app: &App<MockRuntime>, label: &str) -> WebviewWindow<MockRuntime> {
    match app.get_webview_window(label) {
        Some(window) => window,
        None => WebviewWindowBuilder::new(app, label, Default::default())
            .build()
            .unwrap(),
    }
}

fn invoke(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

#[test]
fn get_state_and_history_have_the_ui_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let main = window(&app, "main");
    let state = invoke(&main, "get_state", json!({})).expect("get_state succeeds");
    assert_eq!(state["accounts"], json!([]));
    assert_eq!(state["pending"], json!([]));
    assert_eq!(
        state["settings"],
        json!({"autostart": false, "notifications_paused": false, "check_for_updates": true, "verify_every_approval": false})
    );
    assert_eq!(state["enroll_link"], Value::Null);
    assert_eq!(invoke(&main, "history", json!({})).unwrap(), json!([]));
    assert_eq!(
        invoke(&main, "log_findings", json!({})).unwrap(),
        json!([]),
        "no account, no findings"
    );
}

#[test]
fn errors_are_code_and_message() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let main = window(&app, "main");
    let unknown = "00000000-0000-4000-8000-000000000000";
    let cases = [
        (
            "approve",
            json!({"id": unknown, "number": null}),
            "request_not_found",
        ),
        (
            "deny",
            json!({"id": unknown, "reason": "not_me"}),
            "request_not_found",
        ),
        (
            "deny",
            json!({"id": unknown, "reason": "because"}),
            "invalid_argument",
        ),
        (
            "enroll",
            json!({"link": "https://evil.example/enroll", "server": null}),
            "invalid_link",
        ),
        (
            "enroll",
            json!({"link": "abcdefghijklmnopqrstuvwxyz", "server": null}),
            "invalid_link",
        ),
        (
            "enroll",
            json!({"link": "assent://enroll?server=https%3A%2F%2Flong.lookalike.name%40127.0.0.1&token=abcdefghijklmnopqrstuvwxyz", "server": null, "allow_insecure": true}),
            "invalid_link",
        ),
        (
            "enroll",
            json!({"link": "assent://enroll?server=https%3A%2F%2Fa.example&token=abcdefghijklmnopqrstuvwxyz&server=https%3A%2F%2Fb.example", "server": null}),
            "invalid_link",
        ),
        (
            "enroll",
            json!({"link": "assent://enroll?server=http%3A%2F%2F0.0.0.0%3A9&token=abcdefghijklmnopqrstuvwxyz", "server": null, "allow_insecure": false}),
            "insecure_server",
        ),
        (
            "enroll",
            json!({"link": "abcdefghijklmnopqrstuvwxyz", "server": "http://auth.example.com"}),
            "insecure_server",
        ),
        (
            "remove_account",
            json!({"account_id": unknown}),
            "unknown_account",
        ),
        (
            "dismiss_finding",
            json!({"account_id": unknown, "finding_id": "device:x"}),
            "unknown_account",
        ),
    ];
    for (cmd, args, code) in cases {
        let error = invoke(&main, cmd, args.clone()).expect_err("the command must fail");
        assert_eq!(error["code"], code, "{cmd} {args}: {error}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{cmd}: a message for people: {error}"
        );
        assert_eq!(
            error.as_object().unwrap().len(),
            2,
            "exactly {{code, message}}: {error}"
        );
    }
}

#[test]
fn argument_shapes_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let main = window(&app, "main");
    for (cmd, args) in [
        ("approve", json!({})),
        ("approve", json!({"id": "not-a-uuid"})),
        (
            "approve",
            json!({"id": "00000000-0000-4000-8000-000000000000", "number": "sixty-four"}),
        ),
        (
            "deny",
            json!({"id": "00000000-0000-4000-8000-000000000000"}),
        ),
        ("set_settings", json!({"settings": {"autostart": "yes"}})),
        (
            "set_settings",
            json!({"settings": {"autostart": false, "notifications_paused": false,
                "check_for_updates": true, "verify_every_approval": "yes"}}),
        ),
    ] {
        let error = invoke(&main, cmd, args.clone()).expect_err("malformed arguments are refused");
        assert!(
            error.is_string() || error.get("code").is_some(),
            "{cmd} {args}: {error}"
        );
    }
    let camel = invoke(
        &main,
        "remove_account",
        json!({"accountId": "00000000-0000-4000-8000-000000000000"}),
    );
    assert!(
        camel.is_err_and(|e| e.is_string()),
        "arguments are snake_case, as the UI sends them"
    );
}

#[test]
fn a_window_without_the_capability_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let other = window(&app, "other");
    for cmd in [
        "get_state",
        "approve",
        "enroll",
        "history",
        "log_findings",
        "dismiss_finding",
    ] {
        let error = invoke(&other, cmd, json!({}))
            .expect_err("only the main window may call the app's commands");
        let text = error.to_string();
        assert!(
            text.contains("not allowed"),
            "{cmd} from another window: {text}"
        );
    }
    assert!(
        invoke(&window(&app, "main"), "get_state", json!({})).is_ok(),
        "the main window may"
    );
}

#[test]
fn enroll_show_and_approve_through_the_commands() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A real service on loopback, with one user and an enrollment link.
    let (base, api_key, _service) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = assent_server::config::ServiceConfig::new(
            addr,
            format!("sqlite://{}", dir.path().join("s.db").display()),
        );
        let service = assent_server::Service::open(config).await.unwrap();
        let spec = assent_server::admin::AppSpec {
            name: "Acme Bank".into(),
            logo_url: None,
            accent_color: Some("#0b5fff".into()),
            ..Default::default()
        };
        let (_, key) = service
            .state()
            .operator()
            .create_app(spec, assent_server::clock::unix_now())
            .await
            .unwrap();
        let task = tokio::spawn(service.serve(listener, std::future::pending()));
        (format!("http://{addr}"), key.expose().to_owned(), task)
    });
    let http = reqwest::blocking::Client::new();
    let post = |path: &str, body: Value| -> Value {
        http.post(format!("{base}{path}"))
            .header("X-Authy-API-Key", &api_key)
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let user = post(
        "/protected/json/users/new",
        json!({"user": {"email": "ana@example.com"}}),
    )["user"]["id"]
        .as_u64()
        .unwrap();
    let link = post(
        "/protected/json/sdk/registrations",
        json!({"authy_id": user}),
    )["enroll_url"]
        .as_str()
        .unwrap()
        .to_owned();

    let app = app(&dir.path().join("desktop"));
    let main = window(&app, "main");
    let account = invoke(
        &main,
        "enroll",
        json!({"link": link, "server": null, "allow_insecure": false}),
    )
    .expect("enrollment succeeds");
    assert_eq!(account["app"]["name"], "Acme Bank");
    assert_eq!(account["app"]["accent_color"], "#0b5fff");
    assert_eq!(account["user_id"], user);
    assert!(
        account.get("token").is_none()
            && !account
                .to_string()
                .contains(link.split("token=").nth(1).unwrap()),
        "no token crosses IPC"
    );

    let request = post(
        &format!("/onetouch/json/users/{user}/approval_requests"),
        json!({"message": "Sign in?", "details": {"Browser": "Firefox"}}),
    );
    let id = request["approval_request"]["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let pending = loop {
        let state = invoke(&main, "get_state", json!({})).unwrap();
        if state["pending"].as_array().is_some_and(|p| !p.is_empty()) {
            break state["pending"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the request reaches the desktop through its stream"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let refused = invoke(&main, "install_update", json!({}))
        .expect_err("no update is installed while a request waits for the person");
    assert_eq!(refused["code"], "update_not_now", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("request is waiting")),
        "the message says why: {refused}"
    );
    assert_eq!(pending[0]["id"], id.as_str());
    assert_eq!(
        pending[0]["details"],
        json!([{"label": "Browser", "value": "Firefox"}])
    );
    let text = pending.to_string();
    assert!(
        !text.contains("digest") && !text.contains("signature"),
        "no signing material crosses IPC: {text}"
    );

    let decision =
        invoke(&main, "approve", json!({"id": id, "number": null})).expect("approval succeeds");
    assert_eq!(decision["status"], "approved");
    let status: Value = http
        .get(format!("{base}/onetouch/json/approval_requests/{id}"))
        .header("X-Authy-API-Key", &api_key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["approval_request"]["status"], "approved");
    let history = invoke(&main, "history", json!({})).unwrap();
    assert_eq!(history[0]["outcome"], "approve");
    drop(runtime);
}

#[test]
fn updates_report_the_version_and_refuse_what_this_build_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let main = window(&app, "main");
    let state = invoke(&main, "update_state", json!({})).expect("update_state succeeds");
    assert_eq!(
        state,
        json!({
            "current_version": env!("CARGO_PKG_VERSION"),
            "state": {"state": "idle"},
            "last_checked_at": null,
            "error": null,
        }),
        "the About line's version is the workspace version; nothing is known about updates"
    );
    let check = invoke(&main, "check_update", json!({})).expect_err("no updater here");
    assert_eq!(check["code"], "update_unavailable", "{check}");
    let install = invoke(&main, "install_update", json!({})).expect_err("nothing to install");
    assert_eq!(install["code"], "update_not_now", "{install}");
}

#[test]
fn code_commands_answer_in_the_ui_shapes_and_refuse_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let main = window(&app, "main");
    assert_eq!(invoke(&main, "code_digits", json!({})).unwrap(), json!(6));
    assert_eq!(
        invoke(&main, "set_code_digits", json!({"digits": 7})).unwrap(),
        json!(7)
    );
    for bad in [json!(5), json!(9), json!(0)] {
        let refused = invoke(&main, "set_code_digits", json!({"digits": bad}))
            .expect_err("only 6, 7 or 8 digits");
        assert_eq!(refused["code"], "invalid_setting", "{bad}: {refused}");
    }
    assert!(
        invoke(&main, "set_code_digits", json!({"digits": 300})).is_err(),
        "not even a digit count"
    );
    assert_eq!(invoke(&main, "code_digits", json!({})).unwrap(), json!(7));
    let unknown = "00000000-0000-4000-8000-000000000000";
    for cmd in ["code", "copy_code"] {
        let refused =
            invoke(&main, cmd, json!({"account_id": unknown})).expect_err("no such account");
        assert_eq!(refused["code"], "unknown_account", "{cmd}: {refused}");
        let malformed = invoke(&main, cmd, json!({"account_id": "not-a-uuid"}));
        assert!(malformed.is_err(), "{cmd} with a malformed id is refused");
    }
    assert_eq!(invoke(&main, "clocks", json!({})).unwrap(), json!([]));

    let other = window(&app, "other");
    for cmd in ["code", "copy_code", "clocks", "set_code_digits"] {
        let error = invoke(&other, cmd, json!({"account_id": unknown, "digits": 6}))
            .expect_err("only the main window may see or copy codes");
        assert!(error.to_string().contains("not allowed"), "{cmd}: {error}");
    }
}
