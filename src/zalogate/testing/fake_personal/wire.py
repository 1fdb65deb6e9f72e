"""Server-side wire primitives of the personal protocol (crypto, signkey, websocket frames).

The fake re-derives everything a real server would: the login key from ``zcid``/``zcid_ext``,
session payloads under the session key it issued, and AES-GCM event frames under the
websocket cipher key it sent in the key frame. Kept independent from ``zalogate.personal`` on
purpose: two implementations that agree with each other and with zca-js are the evidence that
both are right.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import os
import re
import struct
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "ZCID_KEY",
    "WireError",
    "cbc_decrypt",
    "cbc_encrypt",
    "decode_event",
    "decode_frame",
    "derive_login_key",
    "dumps",
    "encode_event",
    "encode_event_frame",
    "encode_frame",
    "md5_hex",
    "open_login_params",
    "open_session_payload",
    "quote_data",
    "seal_login_payload",
    "seal_session_payload",
    "sign_key",
    "unquote_data",
]

ZCID_KEY = "3FC4F0D2AB50057BCE0D90D9187A22B1"
_ZERO_IV = bytes(16)
_ZERO_IV_CBC = modes.CBC(_ZERO_IV)
_HEADER = struct.Struct("<BHB")
_BASE64ISH = re.compile(r"[A-Za-z0-9+/=%]*")


class WireError(ValueError):
    """A payload could not be decoded (bad base64, padding, key, tag or JSON)."""


# ``json.dumps`` with non-default options builds a new encoder on every call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: Any) -> str:
    """Compact JSON the way ``JSON.stringify`` writes it (no spaces, UTF-8 kept)."""
    return _COMPACT.encode(obj)


def md5_hex(text: str) -> str:
    """Lower-case hex MD5 of the UTF-8 bytes of ``text``."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _js_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sign_key(kind: str, params: Mapping[str, Any]) -> str:
    """``md5("zsecure" + kind + values of params in sorted-key order)``."""
    joined = "".join(_js_str(params[k]) for k in sorted(params))
    return md5_hex("zsecure" + kind + joined)


class _CbcStream:
    """One never-finalised AES-CBC encryptor per key, reused for every message.

    Setting up a cipher context costs more than encrypting a small message. A CBC context
    that is only fed whole blocks carries the last ciphertext block over as the IV of the
    next input; xoring that block into the first plaintext block cancels it, so each message
    comes out exactly as a fresh zero-IV encryption would.
    """

    __slots__ = ("_context", "_last")

    def __init__(self, key: bytes) -> None:
        self._context = Cipher(algorithms.AES(key), _ZERO_IV_CBC).encryptor()
        self._last = 0

    def encrypt(self, padded: bytes) -> bytes:
        first = (int.from_bytes(padded[:16], "little") ^ self._last).to_bytes(16, "little")
        out = self._context.update(first + padded[16:])
        self._last = int.from_bytes(out[-16:], "little")
        return out


@functools.lru_cache(maxsize=64)
def _cbc_stream(key: bytes) -> _CbcStream:
    return _CbcStream(key)


def cbc_encrypt(key: bytes, plaintext: bytes) -> bytes:
    """AES-CBC with a zero IV and PKCS#7 padding (key length picks AES-128/192/256)."""
    pad = 16 - len(plaintext) % 16
    return _cbc_stream(key).encrypt(plaintext + bytes((pad,)) * pad)


@functools.lru_cache(maxsize=64)
def _ecb_decryptor(key: bytes) -> CipherContext:
    # ECB keeps no state between blocks, so one decryptor serves every call for a key.
    return Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 - CBC, see below


def cbc_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """Inverse of :func:`cbc_encrypt`; raises :class:`WireError` on bad length or padding."""
    size = len(ciphertext)
    if not size or size % 16:
        raise WireError("ciphertext length is not a multiple of 16")
    # CBC decryption is P[i] = D(C[i]) xor C[i-1] with C[-1] = IV (zero): one ECB pass over
    # the blocks and one xor with the ciphertext shifted by a block, without setting up a
    # cipher context per call.
    blocks = _ecb_decryptor(key).update(ciphertext)
    previous = int.from_bytes(ciphertext[:-16], "little") << 128
    chained = int.from_bytes(blocks, "little") ^ previous
    padded = chained.to_bytes(size, "little")
    pad = padded[-1]
    if not 1 <= pad <= 16 or padded[-pad:] != bytes((pad,)) * pad:
        raise WireError("bad padding")
    return padded[:-pad]


def _halves(text: str) -> tuple[str, str]:
    return text[0::2], text[1::2]


def derive_login_key(zcid: str, zcid_ext: str) -> str:
    """Re-derive the 32-character getLoginInfo key from the clear ``zcid`` and ``zcid_ext``."""
    even_m, _ = _halves(md5_hex(zcid_ext).upper())
    even_z, odd_z = _halves(zcid)
    return even_m[:8] + even_z[:12] + odd_z[::-1][:12]


def open_login_params(key: str, params: str) -> dict[str, Any]:
    """Decrypt the ``params`` query value of getLoginInfo into its JSON object."""
    return _open(key.encode(), params)


def seal_login_payload(key: str, obj: Any) -> str:
    """Encrypt a getLoginInfo response body ``data`` string with the login key."""
    return base64.b64encode(cbc_encrypt(key.encode(), dumps(obj).encode())).decode()


def _open(key: bytes, data: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(unquote(data), validate=False)
    except ValueError as exc:
        raise WireError("bad base64") from exc
    plain = cbc_decrypt(key, raw)
    try:
        obj = json.loads(plain.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError("payload is not JSON") from exc
    if not isinstance(obj, dict):
        raise WireError("payload is not a JSON object")
    return obj


@functools.lru_cache(maxsize=64)
def _session_key(key_b64: str) -> bytes:
    return base64.b64decode(key_b64)


def open_session_payload(key_b64: str, data: str) -> dict[str, Any]:
    """Decrypt a session ``params`` value with the base64 session key ``zpw_enk``."""
    return _open(_session_key(key_b64), data)


def seal_session_payload(key_b64: str, obj: Any) -> str:
    """Encrypt an inner response envelope with the base64 session key ``zpw_enk``."""
    raw = cbc_encrypt(_session_key(key_b64), dumps(obj).encode())
    return base64.b64encode(raw).decode()


def quote_data(b64: str) -> str:
    """``encodeURIComponent`` of a base64 string (event ``data`` of encrypt 2/3)."""
    # Base64 has exactly three characters ``encodeURIComponent`` escapes (``urllib``'s quote
    # walks the string byte by byte, the most expensive step of an event).
    if b64.isascii() and b64.replace("+", "").replace("/", "").replace("=", "").isalnum():
        return b64.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    return quote(b64, safe="")


def unquote_data(data: str) -> str:
    """``decodeURIComponent`` (never ``+`` to space: base64 contains ``+``)."""
    # Fast path for the only escapes URL-encoded base64 can hold; anything else goes the
    # general (slower) way.
    fast = data.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")
    return fast if "%" not in fast else unquote(data)


@functools.lru_cache(maxsize=64)
def _gcm(key: bytes) -> AESGCM:
    return AESGCM(key)


def encode_frame(cmd: int, sub_cmd: int, payload: Any, version: int = 1) -> bytes:
    """Binary websocket frame: version u8, cmd u16 LE, subCmd u8, then UTF-8 JSON."""
    return _HEADER.pack(version, cmd, sub_cmd) + dumps(payload).encode()


def encode_event_frame(cmd: int, sub_cmd: int, envelope: Mapping[str, Any]) -> bytes:
    """``encode_frame`` of an event envelope (what :func:`encode_event` returns).

    Encrypted ``data`` (modes 1-3) is base64, URL-quoted or not, and needs no JSON escaping,
    so the frame is put together directly; mode 0 goes through :func:`encode_frame`.
    """
    data, encrypt = envelope.get("data"), envelope.get("encrypt")
    if (
        len(envelope) != 2
        or encrypt not in (1, 2, 3)
        or not isinstance(data, str)
        or not _BASE64ISH.fullmatch(data)
    ):
        return encode_frame(cmd, sub_cmd, envelope)
    body = '{"data":"' + data + '","encrypt":' + str(encrypt) + "}"
    return _HEADER.pack(1, cmd, sub_cmd) + body.encode()


def decode_frame(frame: bytes) -> tuple[int, int, int, Any]:
    """Split a frame into ``(version, cmd, sub_cmd, json)``; empty body gives ``None``."""
    if len(frame) < 4:
        raise WireError("frame shorter than its 4-byte header")
    version, cmd, sub_cmd = _HEADER.unpack_from(frame)
    body = frame[4:]
    return version, cmd, sub_cmd, (json.loads(body) if body else None)


def encode_event(
    obj: Any,
    *,
    encrypt: int,
    key: bytes | None,
    iv: bytes | None = None,
    aad: bytes | None = None,
) -> dict[str, Any]:
    """Build the ``{"data", "encrypt"}`` envelope of a server event (encrypt 0..3)."""
    text = dumps(obj)
    if encrypt == 0:
        return {"data": text, "encrypt": 0}
    if encrypt == 1:
        return {
            "data": base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode(),
            "encrypt": 1,
        }
    if key is None:
        raise WireError("encrypt 2/3 need the websocket cipher key")
    body = gzip.compress(text.encode(), mtime=0) if encrypt == 2 else text.encode()
    iv = os.urandom(16) if iv is None else iv
    aad = os.urandom(16) if aad is None else aad
    blob = iv + aad + _gcm(key).encrypt(iv, body, aad)
    return {"data": quote_data(base64.b64encode(blob).decode()), "encrypt": encrypt}


def decode_event(envelope: Mapping[str, Any], key: bytes | None) -> Any:
    """Decode an event envelope the way the reference client does (for tests and tools)."""
    data, encrypt = envelope.get("data"), envelope.get("encrypt")
    if not isinstance(data, str) or not isinstance(encrypt, int) or not 0 <= encrypt <= 3:
        raise WireError("not an event envelope")
    if encrypt == 0:
        return json.loads(data)
    raw = base64.b64decode(data if encrypt == 1 else unquote_data(data))
    if encrypt != 1:
        if key is None or len(raw) < 48:
            raise WireError("invalid data length or missing cipher key")
        try:
            raw = _gcm(key).decrypt(raw[:16], raw[32:], raw[16:32])
        except Exception as exc:  # cryptography raises InvalidTag
            raise WireError("AES-GCM authentication failed") from exc
    if encrypt != 3:
        raw = zlib.decompress(raw, 47)
    return json.loads(raw.decode())
