"""Drives an Assent service with the real Authy Python client library (PyPI authy 2.2.6).

Called by tests/service/authy_client.rs, one step per invocation; prints JSON.
Environment: ASSENT_URL (base URL), ASSENT_API_KEY.
"""
import json
import os
import sys

from authy.api import AuthyApiClient

api = AuthyApiClient(os.environ["ASSENT_API_KEY"], api_uri=os.environ["ASSENT_URL"])
step = sys.argv[1]

if step == "setup":
    user = api.users.create("ana@example.com", "555-123-1118", 1)
    assert user.ok(), user.errors()
    same = api.users.create("other@example.com", "5551231118", 1)
    status = api.users.status(user.id)
    assert status.ok(), status.errors()
    # The SDK registration endpoint has no helper in this client; use its generic resource call.
    registration = api.users.post("/protected/json/sdk/registrations", {"authy_id": user.id})
    body = registration.json()
    print(json.dumps({
        "user": user.id,
        "same_user": same.id,
        "registered": status.content["status"]["registered"],
        "registration_token": body["registration_token"],
        "enroll_url": body["enroll_url"],
    }))
elif step == "registered":
    status = api.users.status(int(sys.argv[2]))
    print(json.dumps({"registered": status.content["status"]["registered"]}))
elif step == "request":
    response = api.one_touch.send_request(
        int(sys.argv[2]),
        "Login requested for Acme Bank",
        seconds_to_expire=120,
        details={"Username": "ana", "Location": "Lisbon, Portugal"},
        hidden_details={"session": "s-42"},
        logos=[{"res": "default", "url": "https://acme.example/logo.png"}],
    )
    assert response.ok(), response.errors()
    status = api.one_touch.get_approval_status(response.get_uuid())
    print(json.dumps({"uuid": response.get_uuid(), "status": status.content["approval_request"]["status"]}))
elif step == "status":
    status = api.one_touch.get_approval_status(sys.argv[2])
    assert status.ok(), status.errors()
    print(json.dumps({"status": status.content["approval_request"]["status"]}))
elif step == "bad-key":
    bad = AuthyApiClient("not-the-key", api_uri=os.environ["ASSENT_URL"])
    response = bad.users.status(1)
    print(json.dumps({"ok": response.ok(), "errors": response.errors()}))
elif step == "verify-callback":
    callback = json.load(sys.stdin)
    valid = api.one_touch.validate_one_touch_signature(
        callback["signature"], callback["nonce"], callback["method"], callback["url"], json.loads(callback["body"])
    )
    print(json.dumps({"valid": valid}))
elif step == "verify":
    token = api.tokens.verify(int(sys.argv[2]), sys.argv[3])
    print(json.dumps({
        "ok": token.ok(),
        "status": token.response.status_code,
        "errors": None if token.ok() else token.errors(),
        "error_code": None if token.ok() else token.content.get("error_code"),
    }))
elif step == "app":
    app = api.apps.fetch()
    sms = api.users.request_sms(int(sys.argv[2]))
    print(json.dumps({
        "ok": app.ok(),
        "app": app.content.get("app"),
        "sms_ok": sms.ok(),
        "sms_errors": sms.errors(),
        "sms_error_code": sms.content.get("error_code"),
    }))
elif step == "qr":
    qr = api.users.generate_qr(int(sys.argv[2]), size=int(sys.argv[3]), label=sys.argv[4])
    print(json.dumps({
        "ok": qr.ok(),
        "status": qr.response.status_code,
        "cache_control": qr.response.headers.get("Cache-Control"),
        "content": qr.content,
        "errors": qr.errors(),
    }))
elif step == "stats":
    stats = api.stats.fetch()
    print(json.dumps({"ok": stats.ok(), "content": stats.content}))
else:
    sys.exit(f"unknown step {step}")
