#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the protocol test vectors and a few hand-picked
inputs per target. Run from the repository root: python3 fuzz/make_seeds.py (idempotent)."""
import json
import os
import pathlib

root = pathlib.Path(__file__).resolve().parent
vectors = json.loads((root.parent / "crates/protocol/tests/vectors/assent.json").read_text())
authy = json.loads((root.parent / "crates/protocol/tests/vectors/authy.json").read_text())


def write(target, name, data):
    d = root / "seeds" / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


# backend_params: query \0 content-type \0 body, in every encoding Authy clients use.
for i, (q, ct, body) in enumerate([
    ("", "application/json", '{"message":"Login requested","details":{"Email":"a@b.c"},"logos":[{"res":"default","url":"https://x"}],"seconds_to_expire":120}'),
    ("", "application/x-www-form-urlencoded", "message=Hi+there&logos%5B%5D%5Bres%5D=default&logos%5B%5D%5Burl%5D=https%3A%2F%2Fx&logos%5B%5D%5Bres%5D=low"),
    ("", "application/x-www-form-urlencoded", "message=m&details%5BEmail%5D=a&logos%5B0%5D%5Bres%5D=default&logos%5B0%5D%5Burl%5D=https%3A%2F%2Fx"),
    ("message=from+query&details[k]=v&api_key=k", "", ""),
    ("", "application/json", '{"user":{"email":"a@b.co","cellphone":"(555) 123-1118","country_code":"+1"}}'),
    ("", "", "approvers%5B%5D=2&approvers%5B%5D=3&number_matching=true&quorum=2"),
    ("", "", "a" + "[]" * 40 + "=1"),
]):
    write("backend_params", f"seed-{i}", q.encode() + b"\0" + ct.encode() + b"\0" + body.encode())

# json_bodies and signed_envelope: every signed object of the vectors, as envelopes.
for i, v in enumerate(vectors["signatures"]):
    envelope = json.dumps({"payload": v["message"], "signature": v["signature"]})
    write("json_bodies", f"signed-{i}", envelope)
    write("signed_envelope", f"signed-{i}", envelope)
    write("json_bodies", f"message-{i}", json.dumps(v["message"]))
for i, v in enumerate(vectors["canonical"]):
    write("signed_envelope", f"canonical-{i}", json.dumps(v["input"]))
for i, msg in enumerate([
    {"type": "pending", "ids": ["3f1c7a52-9b0e-4d7a-8c1e-2a4b6c8d0e1f"]},
    {"type": "request", "id": "3f1c7a52-9b0e-4d7a-8c1e-2a4b6c8d0e1f"},
    {"type": "resolved", "id": "3f1c7a52-9b0e-4d7a-8c1e-2a4b6c8d0e1f", "status": "approved"},
    {"type": "heartbeat", "ts": 1764086400},
    {"message": "User not found.", "success": False, "errors": {"message": "User not found."}, "error_code": "60026"},
]):
    write("json_bodies", f"wire-{i}", json.dumps(msg))

# device_authorization: header \0 target \0 body.
for i, v in enumerate(vectors["auth_headers"]):
    write("device_authorization", f"header-{i}", v["header"].encode() + b"\0" + v["path"].encode() + b"\0" + v["body"].encode())

# callback_verify: signature \0 body (POST JSON bodies and GET query strings).
for i, v in enumerate(authy["post_json"]):
    body = v["body"] if "body" in v else json.dumps(v["payload"])
    write("callback_verify", f"post-{i}", v["signature"].encode() + b"\0" + body.encode())
for i, v in enumerate(authy["get_query"]):
    write("callback_verify", f"get-{i}", v["signature"].encode() + b"\0" + v["query"].encode())
