"""The primitives of Assent's independent Python implementation, shared by generate.py (protocol
vectors) and receipts.py (receipts, the approval log): RFC 8785 canonical JSON, base64url, domain
tags, Ed25519 keys from seeds (Python's `cryptography`), and RFC 6962 Merkle hashing (hashlib).
Nothing here calls or reads the Rust implementation.
"""
import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

TAGS = {
    "request_auth": "assent/v1/request-auth",
    "request_details": "assent/v1/request-details",
    "decision": "assent/v1/decision",
    "enrollment_proof": "assent/v1/enrollment-proof",
    "enrollment_record": "assent/v1/enrollment-record",
    "receipt": "assent/v1/receipt",
    "revocation": "assent/v1/revocation",
}


def jcs(value):
    """RFC 8785 for the value types Assent messages use (no floats)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        assert abs(value) <= 2**53 - 1
        return str(value)
    if isinstance(value, str):
        out = ['"']
        for ch in value:
            code = ord(ch)
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch in "\b\f\n\r\t":
                out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
            elif code < 0x20:
                out.append("\\u%04x" % code)
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        names = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(jcs(k) + ":" + jcs(value[k]) for k in names) + "}"
    raise TypeError(type(value))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    """Unpadded base64url, refusing any other spelling of the same bytes."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def key(seed_byte):
    seed = bytes([seed_byte]) * 32
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return seed, sk, pk


def signing_input(kind, message):
    return TAGS[kind].encode() + b"\x00" + jcs(message).encode()


def sign(sk, kind, message):
    return b64url(sk.sign(signing_input(kind, message)))


def verify(public_key_bytes, kind, message, signature_b64url):
    """True when the signature is an Ed25519 signature by the key over tag || 0x00 || JCS."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key_bytes).verify(
            b64url_decode(signature_b64url), signing_input(kind, message)
        )
        return True
    except Exception:
        return False


def digest(kind, message):
    return hashlib.sha256(signing_input(kind, message)).hexdigest()


# RFC 6962 Merkle trees, straight from the RFC's recursive definitions.

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """MTH over leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    """PATH(m, D[n]) over leaf hashes (RFC 6962 2.1.1)."""
    if len(leaves) == 1:
        return []
    k = split(len(leaves))
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, whole):
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency(m, leaves):
    """PROOF(m, D[n]) (RFC 6962 2.1.2); empty for m = 0 and m = n."""
    if m == 0 or m == len(leaves):
        return []
    return subproof(m, leaves, True)


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
