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

# Device side. enroll_link: links as they arrive from anywhere, good and hostile.
token = "abcdefghijklmnopqrstuvwxyz012345"
for i, link in enumerate([
    f"assent://enroll?server=https%3A%2F%2Fauth.acme.example&token={token}",
    f"assent://enroll?server=http%3A%2F%2F127.0.0.1%3A8080&token={token}",
    f"assent://enroll?server=https%3A%2F%2Fauth.acme.example%3A8443%2Fassent&token={token}",
    f"assent://enroll?server=http%3A%2F%2F%5B%3A%3A1%5D%3A9&token={token}",
    f"assent://enroll?server=https%3A%2F%2Fxn--bcher-kva.example&token={token}",
    f"assent://enroll?server=https%3A%2F%2Flong.lookalike.name%40127.0.0.1&token={token}",
    f"assent://enroll?server=https%3A%2F%2Fa.example&token={token}&server=https%3A%2F%2Fb.example",
    f"assent://enroll?server=https%3A%2F%2Fa.example&token={token}&next=x",
    f"assent://user@enroll?server=https%3A%2F%2Fa.example&token={token}#f",
    "https://auth.acme.example",
    "http://localhost:8080/",
]):
    write("enroll_link", f"link-{i}", link)

# stream_message: every frame a service sends, and a revoked frame with the vectors' notice.
notice = next(v for v in vectors["signatures"] if v["kind"] == "revocation")
notice_envelope = {"payload": notice["message"], "signature": notice["signature"]}
uuid = "3f1c7a52-9b0e-4d7a-8c1e-2a4b6c8d0e1f"
for i, msg in enumerate([
    {"type": "pending", "ids": [uuid, notice["message"]["device_id"]]},
    {"type": "request", "id": uuid},
    {"type": "resolved", "id": uuid, "status": "expired"},
    {"type": "heartbeat", "ts": 1764086400},
    {"type": "revoked", "notice": notice_envelope},
    {"type": "revoked"},
]):
    write("stream_message", f"frame-{i}", json.dumps(msg))

# service_answer: what a device reads back, including refusals with and without a notice.
details = next(v for v in vectors["signatures"] if v["kind"] == "request_details")
refusal = lambda code, message: {"message": message, "success": False,
                                 "errors": {"message": message}, "error_code": code}
for i, answer in enumerate([
    {"request": {"payload": details["message"], "signature": details["signature"]},
     "status": "pending"},
    {"ids": [uuid]},
    {"success": True, "status": "approved", "duplicate": False},
    {"device_id": uuid, "device_alias": 7, "user_id": 42,
     "app": {"id": "a1" * 12, "name": "Acme Bank", "accent_color": "#c8102e",
             "logos": [{"res": "default", "url": "https://acme.example/logo.png"}]},
     "service_public_key": notice["public_key"], "enrolled_at": 1764086400},
    {**refusal("60103", "Device revoked."), "revocation": notice_envelope},
    {**refusal("60103", "Device revoked."), "revocation": "forged"},
    refusal("60092", "Device not found."),
    refusal("60079\u001b[31m", "Denied\u001b]0;pwned\u0007 \u202elived"),
]):
    write("service_answer", f"answer-{i}", json.dumps(answer))


# logo_image: small real images of each accepted format, and headers that lie about their size.
def png(width, height, rows):
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


pixels = b"".join(b"\x00" + b"\xc8\x10\x2e\xff" * 4 for _ in range(3))
write("logo_image", "png-4x3", png(4, 3, pixels))
write("logo_image", "png-claims-20000", png(20000, 20000, b"\x00" * 64))
write("logo_image", "png-claims-2049x1", png(2049, 1, b"\x00" * 64))
write("logo_image", "gif-1x1", bytes.fromhex(
    "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b"))
write("logo_image", "gif-claims-65535", bytes.fromhex(
    "474946383961ffffffff800000ffffff00000021f90401000000002c00000000010001000002024401003b"))
write("logo_image", "webp-header", b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
write("logo_image", "jpeg-start", bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9"))
write("logo_image", "svg", b"<svg xmlns='http://www.w3.org/2000/svg' width='20000' height='20000'/>")
