#!/usr/bin/env python3
"""Receipts and the approval log, implemented independently of the Rust code (docs/protocol.md,
"Receipts" and "The approval log"): its own canonical JSON, Python's `cryptography` Ed25519 and
hashlib's SHA-256, never the Rust implementation.

  python3 receipts.py generate > receipts.json   # the vectors the Rust tests check
  python3 receipts.py verify RECEIPT SERVICE_KEY # verifies a receipt (a real one, in the tests)

`verify` prints {"valid": true, "status": ..., ...} or {"valid": false, "failed": "<what>"}.
Needs `pip install cryptography`.
"""
import base64
import hashlib
import json
import sys

from assent_vectors import (
    b64url,
    b64url_decode,
    consistency,
    digest,
    jcs,
    key,
    leaf_hash,
    mth,
    path,
    sign,
    verify,
    verify_inclusion,
)

COMMITMENT_TAG = b"assent/v1/details-commitment"


def b64std(data):
    return base64.b64encode(data).decode()


def origin_for(public_key):
    return "assent/log/" + hashlib.sha256(public_key).hexdigest()[:16]


def key_id(name, public_key):
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]


def checkpoint_text(origin, size, root, time):
    return f"{origin}\n{size}\n{b64std(root)}\ntime {time}\n"


def sign_checkpoint(sk, pk, size, root, time):
    origin = origin_for(pk)
    text = checkpoint_text(origin, size, root, time)
    signature = key_id(origin, pk) + sk.sign(text.encode())
    return text + "\n\u2014 " + origin + " " + b64std(signature) + "\n"


def commitment(salt, details):
    return hashlib.sha256(COMMITMENT_TAG + b"\x00" + salt + jcs(details).encode()).hexdigest()


def enrollment_record(sk_service, app_id, user_id, device_id, device_pk, enrolled_at):
    record = {
        "v": 1,
        "app_id": app_id,
        "user_id": user_id,
        "device_id": device_id,
        "public_key": b64url(device_pk),
        "enrolled_at": enrolled_at,
    }
    return {"payload": record, "signature": sign(sk_service, "enrollment_record", record)}


def enrollment_entry(enrollment):
    return {"type": "enrollment", "v": 1, "enrollment": enrollment}


def receipt_entry(receipt):
    """The log entry a receipt publishes."""
    details = receipt["request"]["payload"]
    entry = {
        "type": "receipt",
        "v": 1,
        "request_id": details["id"],
        "app_id": details["app"]["id"],
        "user_id": details["user_id"],
        "status": receipt["status"],
        "commitment": commitment(b64url_decode(receipt["salt"]), details),
        "decisions": [],
        "countersigned_at": receipt["countersigned_at"],
    }
    if "reason" in receipt:
        entry["reason"] = receipt["reason"]
    for item in receipt["decisions"]:
        decision = item["decision"]["payload"]
        record = item["enrollment"]["payload"]
        shown = {
            "user_id": record["user_id"],
            "device_id": record["device_id"],
            "public_key": record["public_key"],
            "outcome": decision["outcome"],
            "signed_at": decision["signed_at"],
        }
        if "reason" in decision:
            shown["reason"] = decision["reason"]
        entry["decisions"].append(shown)
    return entry


def countersign(sk_service, receipt):
    body = {k: v for k, v in receipt.items() if k not in ("countersignature", "inclusion")}
    receipt["countersignature"] = sign(sk_service, "receipt", body)


def verify_receipt(data, service_key_b64):
    """Returns the verified receipt's summary, or raises ValueError naming what failed."""
    body = data[:-1] if data.endswith(b"\n") else data
    try:
        receipt = json.loads(body)
    except ValueError:
        raise ValueError("not JSON")
    if jcs(receipt).encode() != body:
        raise ValueError("not canonical")
    members = {"v", "service_key", "request", "status", "reason", "decisions", "salt",
               "log_index", "countersigned_at", "countersignature", "inclusion"}
    if not isinstance(receipt, dict) or set(receipt) - members:
        raise ValueError("malformed")
    if receipt["v"] != 1:
        raise ValueError("version")
    if receipt["service_key"] != service_key_b64:
        raise ValueError("other deployment")
    service = b64url_decode(service_key_b64)
    details = receipt["request"]["payload"]
    if not verify(service, "request_details", details, receipt["request"]["signature"]):
        raise ValueError("request signature")
    request_digest = digest("request_details", details)
    people = set()
    for item in receipt["decisions"]:
        record = item["enrollment"]["payload"]
        if not verify(service, "enrollment_record", record, item["enrollment"]["signature"]):
            raise ValueError("enrollment signature")
        decision = item["decision"]["payload"]
        if not verify(b64url_decode(record["public_key"]), "decision", decision,
                      item["decision"]["signature"]):
            raise ValueError("decision signature")
        if (decision["request_id"] != details["id"]
                or decision["request_digest"] != request_digest
                or decision["device_id"] != record["device_id"]
                or record["app_id"] != details["app"]["id"]
                or record["user_id"] not in details["approvers"]
                or record["user_id"] in people):
            raise ValueError("decision mismatch")
        people.add(record["user_id"])
    decisions = [(i["decision"]["payload"], i["enrollment"]["payload"]) for i in receipt["decisions"]]
    status, reason = receipt["status"], receipt.get("reason")
    denials = [d for d, _ in decisions if d["outcome"] == "deny"]
    matching = details.get("number_matching", {})
    picker, typed = matching.get("user_id"), matching.get("typed")

    def code_matches(decision):
        code = decision.get("code")
        if typed is None or not isinstance(code, str) or len(code) != typed["digits"]:
            return False
        data = b"assent-typed-code-v1\0" + bytes.fromhex(typed["salt"]) + code.encode()
        return hashlib.sha256(data).hexdigest() == typed["hash"]

    if status == "approved":
        approvals = [d for d, _ in decisions if d["outcome"] == "approve"]
        if denials or reason is not None or len(approvals) < details["quorum"]:
            raise ValueError("status")
        for d, r in decisions:
            if typed is not None and r["user_id"] == picker and not code_matches(d):
                raise ValueError("status: the approval does not carry the bound code")
            if details.get("user_verification") == "required" \
                    and d.get("verification", "none") == "none":
                raise ValueError("status: required user verification missing")
    elif status == "denied" and reason == "wrong_number":
        wrong = (lambda d: not code_matches(d)) if typed is not None else (lambda d: "number" in d)
        if not any(r["user_id"] == picker and d["outcome"] == "approve" and wrong(d)
                   for d, r in decisions):
            raise ValueError("status")
    elif status == "denied":
        if not any(d.get("reason") == reason for d in denials):
            raise ValueError("status")
    else:
        raise ValueError("status")
    if len(b64url_decode(receipt["salt"])) != 32:
        raise ValueError("salt")
    body = {k: v for k, v in receipt.items() if k not in ("countersignature", "inclusion")}
    if not verify(service, "receipt", body, receipt["countersignature"]):
        raise ValueError("countersignature")
    checkpoint = open_checkpoint(receipt["inclusion"]["checkpoint"], service)
    proof = [bytes.fromhex(h) for h in receipt["inclusion"]["proof"]]
    if any(h.hex() != s for h, s in zip(proof, receipt["inclusion"]["proof"])):
        raise ValueError("proof encoding")
    leaf = leaf_hash(jcs(receipt_entry(receipt)).encode())
    if not verify_inclusion(leaf, receipt["log_index"], checkpoint["size"], proof, checkpoint["root"]):
        raise ValueError("inclusion")
    return {
        "valid": True,
        "status": status,
        "request_id": details["id"],
        "message": details["message"],
        "deciders": [[r["user_id"], r["device_id"]] for _, r in decisions],
        "log_index": receipt["log_index"],
        "tree_size": checkpoint["size"],
    }


def open_checkpoint(note, service):
    """Verifies a checkpoint note signed by the service key; returns its size and root."""
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    origin = origin_for(service)
    wanted = key_id(origin, service)
    verified = False
    for line in signatures.rstrip("\n").split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError("checkpoint")
        name, _, encoded = line[2:].partition(" ")
        raw = base64.b64decode(encoded, validate=True)
        if name == origin and raw[:4] == wanted:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
            try:
                Ed25519PublicKey.from_public_bytes(service).verify(raw[4:], text.encode())
            except Exception:
                raise ValueError("checkpoint signature")
            verified = True
    if not verified:
        raise ValueError("checkpoint signature")
    lines = text.rstrip("\n").split("\n")
    if len(lines) != 4 or lines[0] != origin or not lines[3].startswith("time "):
        raise ValueError("checkpoint")
    return {"size": int(lines[1]), "root": base64.b64decode(lines[2], validate=True)}


# ---- the vectors ----

SERVICE_SEED = 0x11
OTHER_SERVICE_SEED = 0x12
APP_ID = "5f2b8c1d9e3a4b6c7d8e9f01"


def generate():
    _, sk_service, pk_service = key(SERVICE_SEED)
    devices = {
        "ana": (0x22, "7d9e2f40-1a3b-4c5d-8e6f-7a8b9c0d1e2f", 1635),
        "bea": (0x33, "0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3", 1636),
        "rogue": (0x44, "9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d", 1635),
    }
    enrollments = {}
    leaves = []
    for name, (seed, device_id, user) in devices.items():
        _, _, pk = key(seed)
        enrollments[name] = enrollment_record(sk_service, APP_ID, user, device_id, pk, 1764000000)
        leaves.append(jcs(enrollment_entry(enrollments[name])).encode())

    def details_of(request_id, message, approvers, quorum, extra=None):
        details = {
            "v": 1,
            "id": request_id,
            "app": {"id": APP_ID, "name": "Acme Bank", "accent_color": "#0b5fff"},
            "user_id": 1635,
            "message": message,
            "created_at": 1764086400,
            "expires_at": 1764086700,
            "approvers": approvers,
            "quorum": quorum,
        }
        details.update(extra or {})
        return details

    def decided(name, details, outcome, signed_at, number=None, reason=None):
        seed = devices[name][0]
        _, sk, _ = key(seed)
        decision = {
            "v": 1,
            "request_id": details["id"],
            "request_digest": digest("request_details", details),
            "device_id": devices[name][1],
            "outcome": outcome,
            "signed_at": signed_at,
        }
        if number is not None:
            decision["number"] = number
        if reason is not None:
            decision["reason"] = reason
        return {"decision": {"payload": decision, "signature": sign(sk, "decision", decision)},
                "enrollment": enrollments[name]}

    def receipt_of(details, status, decisions, salt_byte, at, reason=None):
        receipt = {
            "v": 1,
            "service_key": b64url(pk_service),
            "request": {"payload": details, "signature": sign(sk_service, "request_details", details)},
            "status": status,
            "decisions": decisions,
            "salt": b64url(bytes([salt_byte]) * 32),
            "log_index": len(leaves),
            "countersigned_at": at,
        }
        if reason is not None:
            receipt["reason"] = reason
        countersign(sk_service, receipt)
        leaves.append(jcs(receipt_entry(receipt)).encode())
        return receipt

    login = details_of("00000000-0000-4000-8000-000000000001", "Sign in to Acme Bank?", [1635], 1)
    wire = details_of(
        "3f1c7a52-9b0e-4d7a-8c1e-2a4b6c8d0e1f",
        "Approve wire transfer of $12,500 to ACME Corp?",
        [1635, 1636], 2,
        {
            "details": [{"label": "Amount", "value": "$12,500.00"},
                        {"label": "Memo", "value": "Invoice \"Q4\"\n\u00e9t\u00e9 \U0001F680"}],
            "requester": {"ip": "203.0.113.7", "location": "Lisbon, Portugal"},
            "number_matching": {"user_id": 1635, "choices": [27, 64, 93]},
        },
    )
    denied = details_of("00000000-0000-4000-8000-000000000003", "Sign in to Acme Bank?", [1635], 1)
    receipts = [
        ("approved: one approver", receipt_of(login, "approved", [decided("ana", login, "approve", 1764086410)], 0xa1, 1764086411)),
        ("approved: two of two, with number matching", receipt_of(wire, "approved", [
            decided("ana", wire, "approve", 1764086420, number=64),
            decided("bea", wire, "approve", 1764086430),
        ], 0xa2, 1764086431)),
        ("denied: this wasn't me", receipt_of(denied, "denied", [decided("ana", denied, "deny", 1764086440, reason="not_me")], 0xa3, 1764086441, reason="not_me")),
    ]
    hashes = [leaf_hash(leaf) for leaf in leaves]
    size = len(leaves)
    root = mth(hashes)
    note = sign_checkpoint(sk_service, pk_service, size, root, 1764086500)
    out_receipts = []
    for name, receipt in receipts:
        receipt["inclusion"] = {
            "checkpoint": note,
            "proof": [h.hex() for h in path(receipt["log_index"], hashes)],
        }
        text = jcs(receipt)
        assert verify_receipt(text.encode(), b64url(pk_service))["valid"]
        out_receipts.append({"name": name, "receipt": text, "status": receipt["status"],
                             "leaf_hex": leaves[receipt["log_index"]].hex()})

    # Receipts every verifier must refuse, each for the named reason.
    def refused(name, failed, receipt, verify_with=None):
        text = jcs(receipt)
        try:
            verify_receipt(text.encode(), verify_with or b64url(pk_service))
            raise AssertionError(f"{name} verified")
        except ValueError as e:
            assert str(e) == failed or failed.startswith(str(e)), (name, str(e))
        entry = {"name": name, "failed": failed, "receipt": text}
        if verify_with:
            entry["service_key"] = verify_with
        return entry

    def copy(receipt):
        return json.loads(json.dumps(receipt))

    approved = receipts[1][1]
    _, _, pk_other = key(OTHER_SERVICE_SEED)
    quorum_short = copy(approved)
    quorum_short["decisions"] = quorum_short["decisions"][:1]
    countersign(sk_service, quorum_short)
    rogue = copy(receipts[0][1])
    rogue["decisions"][0]["enrollment"] = enrollments["rogue"]
    countersign(sk_service, rogue)
    relabelled = copy(receipts[2][1])
    relabelled["status"] = "approved"
    del relabelled["reason"]
    countersign(sk_service, relabelled)
    moved = copy(approved)
    moved["log_index"] = 3
    countersign(sk_service, moved)
    refusals = [
        refused("another deployment's key", "other deployment", approved, b64url(pk_other)),
        refused("approved with one of two approvals", "status", quorum_short),
        refused("a decision with another device's enrollment record", "decision signature", rogue),
        refused("a denial relabelled as an approval", "status", relabelled),
        refused("a receipt claiming another log index", "inclusion", moved),
    ]

    # Merkle vectors: leaves "leaf 0", "leaf 1", ... of trees up to 13 leaves, every proof, and
    # a tree of 1,000 leaves with a few proofs.
    merkle_leaves = [f"leaf {i}".encode() for i in range(13)]
    merkle_hashes = [leaf_hash(l) for l in merkle_leaves]
    trees = []
    for n in range(0, 14):
        tree = {"size": n, "root": mth(merkle_hashes[:n]).hex(), "inclusion": [], "consistency": []}
        for i in range(n):
            tree["inclusion"].append({"index": i, "proof": [h.hex() for h in path(i, merkle_hashes[:n])]})
        for m in range(0, n + 1):
            tree["consistency"].append({"from": m, "proof": [h.hex() for h in consistency(m, merkle_hashes[:n])]})
        trees.append(tree)
    big = [leaf_hash(f"entry {i}".encode()) for i in range(1000)]
    big_tree = {
        "size": 1000,
        "leaf_data": "entry {i}",
        "root": mth(big).hex(),
        "inclusion": [{"index": i, "proof": [h.hex() for h in path(i, big)]} for i in (0, 1, 511, 512, 998, 999)],
        "consistency": [{"from": m, "to": n, "root_from": mth(big[:m]).hex(), "root_to": mth(big[:n]).hex(),
                         "proof": [h.hex() for h in consistency(m, big[:n])]}
                        for m, n in ((1, 1000), (7, 8), (255, 256), (256, 257), (333, 777), (999, 1000))],
    }

    return {
        "description": "Receipts and the approval log, from an independent Python implementation "
                       "(receipts.py). Ed25519 seeds are 32 repeated bytes; the service seed is 0x11.",
        "service_seed_hex": (bytes([SERVICE_SEED]) * 32).hex(),
        "service_public_key": b64url(pk_service),
        "other_service_public_key": b64url(pk_other),
        "log": {
            "origin": origin_for(pk_service),
            "key_id_hex": key_id(origin_for(pk_service), pk_service).hex(),
            "leaves_hex": [leaf.hex() for leaf in leaves],
            "size": size,
            "root_hex": root.hex(),
            "checkpoint": note,
        },
        "enrollments": [{"name": n, "entry": jcs(enrollment_entry(e))} for n, e in enrollments.items()],
        "receipts": out_receipts,
        "refusals": refusals,
        "merkle": {"leaf_data": "leaf {i}", "leaf_hashes": [h.hex() for h in merkle_hashes],
                   "trees": trees, "large": big_tree},
    }


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "generate":
        print(json.dumps(generate(), indent=1, ensure_ascii=False))
    elif len(sys.argv) == 4 and sys.argv[1] == "verify":
        with open(sys.argv[2], "rb") as f:
            data = f.read()
        try:
            print(json.dumps(verify_receipt(data, sys.argv[3])))
        except (ValueError, KeyError, TypeError) as e:
            print(json.dumps({"valid": False, "failed": str(e)}))
    else:
        sys.exit(__doc__)
