"""Login and session cryptography of the Zalo Web protocol, as pure functions.

Three AES-CBC contexts (zero IV, PKCS#7), all from reference §2:

* ``zcid``: the device id encrypted with a fixed key, sent as upper-case hex;
* login params and the ``getLoginInfo`` answer: a 32-character key derived from ``zcid``
  and ``zcid_ext`` (so the server can re-derive it; obfuscation, not secrecy);
* session params and answers: the base64 ``zpw_enk`` key from the login answer.

``signkey`` is an MD5 over a type name and the sorted parameter values. Websocket frame
and event crypto (AES-GCM) lives with the listener, not here.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import random
import threading
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from zalogate.personal.errors import CryptoError

__all__ = [
    "API_TYPE",
    "ZCID_KEY",
    "LoginQuery",
    "build_login_query",
    "build_server_info_query",
    "compact_json",
    "decrypt_login_response",
    "decrypt_session_payload",
    "derive_login_key",
    "encrypt_login_params",
    "encrypt_session_params",
    "generate_imei",
    "js_string",
    "make_zcid",
    "md5_hex",
    "random_zcid_ext",
    "sign_key",
]

#: ``type`` / ``zpw_type`` of the web client.
API_TYPE = 30
#: The fixed zcid key: its 32 UTF-8 bytes are the AES-256 key (not hex-decoded).
ZCID_KEY = "3FC4F0D2AB50057BCE0D90D9187A22B1"
_ZERO_IV = bytes(16)


def compact_json(value: Any) -> str:
    """JSON like ``JSON.stringify``: no spaces, non-ASCII kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def md5_hex(text: str) -> str:
    """Lower-case hex MD5 of the UTF-8 bytes of ``text``."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def js_string(value: Any) -> str:
    """``String(value)`` as JavaScript would print these simple values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@functools.lru_cache(maxsize=64)
def _cbc(key: bytes) -> Cipher[modes.CBC]:
    # A Cipher is reusable (each encryptor()/decryptor() is a fresh context); building one
    # validates the key and mode, which is most of the cost for a short message.
    return Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV))


class _Chain:
    """One long-lived CBC encryptor and decryptor for a key, reused for every message.

    Creating a cipher context costs more than encrypting a short message. A CBC context
    carries on from its last ciphertext block; XOR-ing the first block of the next message
    with that block gives exactly what a fresh zero-IV context gives (CBC is
    ``C1 = E(P1 ^ IV)`` and ``P1 = D(C1) ^ IV``). A lock keeps each message's steps together.
    """

    def __init__(self, key: bytes) -> None:
        cipher = _cbc(key)
        self._lock = threading.Lock()
        self._encryptor = cipher.encryptor()
        self._decryptor = cipher.decryptor()
        self._sent = 0  # last ciphertext block out of the encryptor, as an int (IV: 0)
        self._seen = 0  # last ciphertext block into the decryptor

    def encrypt(self, padded: bytes) -> bytes:
        with self._lock:
            first = int.from_bytes(padded[:16], "big") ^ self._sent
            out = self._encryptor.update(first.to_bytes(16, "big") + padded[16:])
            self._sent = int.from_bytes(out[-16:], "big")
        return out

    def decrypt(self, ciphertext: bytes) -> bytes:
        with self._lock:
            out = self._decryptor.update(ciphertext)
            first = int.from_bytes(out[:16], "big") ^ self._seen
            self._seen = int.from_bytes(ciphertext[-16:], "big")
        return first.to_bytes(16, "big") + out[16:]


@functools.lru_cache(maxsize=64)
def _chain(key: bytes) -> _Chain:
    return _Chain(key)


def _cbc_encrypt(key: bytes, plaintext: bytes) -> bytes:
    fill = 16 - len(plaintext) % 16  # PKCS#7
    return _chain(key).encrypt(plaintext + bytes((fill,)) * fill)


def _cbc_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    if not ciphertext or len(ciphertext) % 16:
        raise CryptoError(f"ciphertext length {len(ciphertext)} is not a multiple of 16")
    padded = _chain(key).decrypt(ciphertext)
    fill = padded[-1]
    if not 1 <= fill <= 16 or padded[-fill:] != bytes((fill,)) * fill:
        raise CryptoError("bad padding: wrong key or corrupted data")
    return padded[:-fill]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"{what} is not valid base64") from None


def _json_object(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CryptoError(f"{what} did not decrypt to JSON (wrong key?)") from None


# ---------------------------------------------------------------- device and login key


def generate_imei(user_agent: str, device_uuid: str | None = None) -> str:
    """Device id: a random UUID, a dash, and ``md5(user_agent)``."""
    return f"{device_uuid or uuid.uuid4()}-{md5_hex(user_agent)}"


def make_zcid(imei: str, first_launch_ms: int, api_type: int = API_TYPE) -> str:
    """``zcid``: ``"<type>,<imei>,<ms>"`` encrypted with `ZCID_KEY`, upper-case hex."""
    plaintext = f"{api_type},{imei},{first_launch_ms}".encode()
    return _cbc_encrypt(ZCID_KEY.encode(), plaintext).hex().upper()


def random_zcid_ext(rng: random.Random | None = None) -> str:
    """A random lower-case hex string of 6 to 12 characters (sent in clear)."""
    r = rng or random.SystemRandom()
    return "".join(r.choice("0123456789abcdef") for _ in range(r.randint(6, 12)))


def derive_login_key(zcid: str, zcid_ext: str) -> str:
    """The 32-character login key: even chars of ``MD5(zcid_ext)``, then of ``zcid``, ...

    ``E(upper(md5(zcid_ext)))[:8] + E(zcid)[:12] + reversed(O(zcid))[:12]`` where ``E``/``O``
    take the characters at even/odd indices.
    """
    digest = md5_hex(zcid_ext).upper()
    return digest[0::2][:8] + zcid[0::2][:12] + zcid[1::2][::-1][:12]


def encrypt_login_params(key: str, imei: str, language: str, ts_ms: int) -> str:
    """Base64 of the encrypted ``{computer_name, imei, language, ts}`` login params."""
    plaintext = compact_json(
        {"computer_name": "Web", "imei": imei, "language": language, "ts": ts_ms}
    )
    return base64.b64encode(_cbc_encrypt(key.encode(), plaintext.encode())).decode()


def decrypt_login_response(key: str, data: str) -> Any:
    """Decrypt the ``data`` string of a ``getLoginInfo`` answer into its JSON object.

    Raises:
        CryptoError: wrong key, truncated or non-JSON data.
    """
    # decodeURIComponent, not unquote_plus: base64 contains '+'.
    raw = _b64decode(unquote(data), "login response")
    return _json_object(_cbc_decrypt(key.encode(), raw), "login response")


def sign_key(type_name: str, params: Mapping[str, Any]) -> str:
    """``md5("zsecure" + type_name + values of params in sorted key order)``."""
    # JS sort compares UTF-16 code units; plain str sort matches for the ASCII keys used.
    joined = "".join(js_string(params[k]) for k in sorted(params))
    return md5_hex("zsecure" + type_name + joined)


class LoginQuery:
    """The ``getLoginInfo`` query (ordered pairs) and the key that opens its answer."""

    __slots__ = ("key", "pairs")

    def __init__(self, pairs: list[tuple[str, str]], key: str) -> None:
        self.pairs = pairs
        self.key = key

    def __repr__(self) -> str:
        return "LoginQuery(<redacted>)"


def build_login_query(
    imei: str,
    *,
    language: str,
    client_version: int,
    now_ms: int,
    zcid_ext: str,
    api_type: int = API_TYPE,
) -> LoginQuery:
    """Every query parameter of ``getLoginInfo`` (enc_ver v2), in the reference order."""
    zcid = make_zcid(imei, now_ms, api_type)
    key = derive_login_key(zcid, zcid_ext)
    signed: dict[str, Any] = {
        "zcid": zcid,
        "zcid_ext": zcid_ext,
        "enc_ver": "v2",
        "params": encrypt_login_params(key, imei, language, now_ms),
        "type": api_type,
        "client_version": client_version,
    }
    pairs = [(k, js_string(v)) for k, v in signed.items()]
    pairs.append(("signkey", sign_key("getlogininfo", signed)))
    pairs += [
        ("nretry", "0"),
        ("zpw_ver", str(client_version)),
        ("zpw_type", str(api_type)),
    ]
    return LoginQuery(pairs, key)


def build_server_info_query(
    imei: str, *, client_version: int, api_type: int = API_TYPE
) -> list[tuple[str, str]]:
    """The ``getServerInfo`` query (signed, no ``zpw_ver``)."""
    signed: dict[str, Any] = {
        "imei": imei,
        "type": api_type,
        "client_version": client_version,
        "computer_name": "Web",
    }
    pairs = [(k, js_string(v)) for k, v in signed.items()]
    pairs.append(("signkey", sign_key("getserverinfo", signed)))
    return pairs


# ---------------------------------------------------------------- session envelope


@functools.lru_cache(maxsize=64)
def _session_key(secret_key: str) -> bytes:
    key = _b64decode(secret_key, "session key")
    if len(key) not in (16, 24, 32):
        raise CryptoError(f"session key has {len(key)} bytes; AES needs 16, 24 or 32")
    return key


def encrypt_session_params(secret_key: str, params: Mapping[str, Any]) -> str:
    """Base64 of ``JSON(params)`` encrypted with the session key (``zpw_enk``).

    Keys whose value is ``None`` are dropped first, as the web client does.
    """
    cleaned = {k: v for k, v in params.items() if v is not None}
    ciphertext = _cbc_encrypt(_session_key(secret_key), compact_json(cleaned).encode())
    return base64.b64encode(ciphertext).decode()


def decrypt_session_payload(secret_key: str, data: str) -> Any:
    """Decrypt an encrypted session answer (or request) ``data`` string into JSON.

    Raises:
        CryptoError: wrong key, truncated or non-JSON data.
    """
    raw = _b64decode(unquote(data), "session payload")
    return _json_object(_cbc_decrypt(_session_key(secret_key), raw), "session payload")
