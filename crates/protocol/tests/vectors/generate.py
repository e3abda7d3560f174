#!/usr/bin/env python3
"""Regenerates assent.json: Assent's own test vectors.

Written independently of the Rust implementation (its own RFC 8785 canonicalizer and Python's
`cryptography` Ed25519), so the Rust tests that read these vectors check one implementation
against another. Run: python3 generate.py > assent.json (needs `pip install cryptography`).
"""
import hashlib
import json

from assent_vectors import TAGS, b64url, jcs, key

def signed(name, kind, seed_byte, message):
    seed, sk, pk = key(seed_byte)
    canonical = jcs(message).encode()
    signing_input = TAGS[kind].encode() + b"\x00" + canonical
    return {
        "name": name,
        "kind": kind,
        "tag": TAGS[kind],
        "seed_hex": seed.hex(),
        "public_key": b64url(pk),
        "message": message,
        "canonical_hex": canonical.hex(),
        "digest_hex": hashlib.sha256(signing_input).hexdigest(),
        "signature": b64url(sk.sign(signing_input)),
    }


SERVICE_SEED = 0x11
DEVICE_SEED = 0x22
REQUEST_ID = "3f1c7a52-9b0e-4d7a-8c1e-2a4b6c8d0e1f"
DEVICE_ID = "7d9e2f40-1a3b-4c5d-8e6f-7a8b9c0d1e2f"

request_details = {
    "v": 1,
    "id": REQUEST_ID,
    "app": {
        "id": "5f2b8c1d9e3a4b6c7d8e9f01",
        "name": "Acme Bank",
        "accent_color": "#0b5fff",
        "logos": [{"res": "default", "url": "https://acme.example/logo.png"}],
    },
    "user_id": 1635,
    "message": "Approve wire transfer of $12,500 to ACME Corp?",
    "details": [
        {"label": "Amount", "value": "$12,500.00"},
        {"label": "To", "value": "ACME Corp \u2014 IBAN PT50 0002 0123 1234 5678 9015 4"},
        {"label": "Memo", "value": "Invoice \"Q4\"\n\u00e9t\u00e9 \U0001F680"},
    ],
    "requester": {"ip": "203.0.113.7", "location": "Lisbon, Portugal", "user_agent": "Firefox 133 on Linux"},
    "created_at": 1764086400,
    "expires_at": 1764086700,
    "number_matching": {"user_id": 1635, "choices": [27, 64, 93]},
    "approvers": [1635, 1636],
    "quorum": 2,
}
details_vector = signed("request-details: wire transfer", "request_details", SERVICE_SEED, request_details)

login_details = {
    "v": 1,
    "id": "00000000-0000-4000-8000-000000000001",
    "app": {"id": "5f2b8c1d9e3a4b6c7d8e9f01", "name": "Acme Bank"},
    "user_id": 7,
    "message": "Sign in to Acme Bank?",
    "created_at": 1764086400,
    "approvers": [7],
    "quorum": 1,
}

decision_approve = {
    "v": 1,
    "request_id": REQUEST_ID,
    "request_digest": details_vector["digest_hex"],
    "device_id": DEVICE_ID,
    "outcome": "approve",
    "number": 64,
    "signed_at": 1764086460,
}
decision_deny = {
    "v": 1,
    "request_id": REQUEST_ID,
    "request_digest": details_vector["digest_hex"],
    "device_id": DEVICE_ID,
    "outcome": "deny",
    "reason": "not_me",
    "signed_at": 1764086461,
}

_, _, device_pk = key(DEVICE_SEED)
enrollment = {
    "v": 1,
    "token": "q3Jv0Yc2bq7bq1mTj1vYQm3y1x9mTj1vYQm3y1x9mTg",
    "public_key": b64url(device_pk),
    "name": "Ana's laptop",
    "platform": "linux",
}

revocation = {"v": 1, "device_id": DEVICE_ID, "revoked_at": 1764086500}

signatures = [
    details_vector,
    signed("request-details: login, no optional fields", "request_details", SERVICE_SEED, login_details),
    signed("decision: approve with number", "decision", DEVICE_SEED, decision_approve),
    signed("decision: deny, not me", "decision", DEVICE_SEED, decision_deny),
    signed("enrollment proof", "enrollment_proof", DEVICE_SEED, enrollment),
    signed("revocation notice", "revocation", SERVICE_SEED, revocation),
]


def auth_vector(method, path, body, ts, nonce):
    seed, sk, pk = key(DEVICE_SEED)
    payload = {
        "v": 1,
        "device_id": DEVICE_ID,
        "method": method,
        "path": path,
        "ts": ts,
        "nonce": nonce,
        "body_sha256": hashlib.sha256(body.encode()).hexdigest(),
    }
    canonical = jcs(payload).encode()
    sig = b64url(sk.sign(TAGS["request_auth"].encode() + b"\x00" + canonical))
    return {
        "seed_hex": seed.hex(),
        "public_key": b64url(pk),
        "device_id": DEVICE_ID,
        "method": method,
        "path": path,
        "body": body,
        "ts": ts,
        "nonce": nonce,
        "canonical_hex": canonical.hex(),
        "header": f"Assent-Device id={DEVICE_ID}, ts={ts}, nonce={nonce}, sig={sig}",
    }


auth_headers = [
    auth_vector("GET", "/device/v1/stream", "", 1764086400, "AAECAwQFBgcICQoLDA0ODw"),
    auth_vector(
        "POST",
        f"/device/v1/requests/{REQUEST_ID}/decision",
        json.dumps({"payload": decision_approve, "signature": signatures[2]["signature"]}),
        1764086460,
        "8J-agPCfmoDwn5qA8J-agA",
    ),
    auth_vector("GET", "/device/v1/requests?status=pending", "", 1764086401, "ZmVkY2JhOTg3NjU0MzIxMA"),
]

canonical_cases = [
    {"input": '{"b":2,"a":1,"c":{"z":[3,2,1],"y":null}}'},
    {"input": '{"\\u20ac":"Euro","\\r":"CR","\\ufb33":"Dalet","1":"One","\\ud83d\\ude00":"Emoji","\\u0080":"Ctl","\\u00f6":"o"}'},
    {"input": '{"s":"\\u0000\\u001f\\b\\f\\n\\r\\t\\"\\\\/\\u007f\\u2028"}'},
    {"input": '[true,false,null,-9007199254740991,9007199254740991,0,"\\ud834\\udd1e"]'},
]
for case in canonical_cases:
    case["canonical_hex"] = jcs(json.loads(case["input"])).encode().hex()

print(json.dumps({
    "description": "Assent protocol test vectors. Ed25519 seeds are 32 repeated bytes; signatures cover tag || 0x00 || canonical.",
    "signatures": signatures,
    "auth_headers": auth_headers,
    "canonical": canonical_cases,
}, indent=2, ensure_ascii=False))
