"""Websocket frames and event payloads of the personal protocol, as pure functions.

A frame is a 4-byte header (``version`` u8, ``cmd`` u16 little-endian, ``sub_cmd`` u8) followed
by UTF-8 JSON. Server events carry an envelope ``{"data": <str>, "encrypt": 0|1|2|3}``:

====== ==============================================================================
0      ``data`` is a JSON text
1      base64 -> inflate (gzip or zlib) -> JSON
2      URL-decode -> base64 -> AES-GCM (IV 16 ‖ AAD 16 ‖ ciphertext ‖ tag 16) -> inflate -> JSON
3      URL-decode -> base64 -> AES-GCM -> JSON
====== ==============================================================================

The AES-GCM key is the base64 ``key`` of the first server frame (``1/1/1``). The tag is always
verified: a tampered, truncated or foreign payload raises :class:`FrameAuthError` (a
:class:`FrameError` and a ``CryptoError``); any other malformed input raises
:class:`FrameError` (a ``ProtocolError``). No decoder here raises anything else.

This module is a hot path (every inbound message passes through it): one cached ``AESGCM`` per
key, ``zlib`` directly, and no per-frame objects beyond what the JSON parser builds.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import struct
import zlib
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import quote, unquote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zalogate.personal.errors import CryptoError, ProtocolError

__all__ = [
    "CMD_DUPLICATE",
    "CMD_KEY",
    "CMD_PING",
    "ENCRYPT_GCM",
    "ENCRYPT_GCM_GZIP",
    "ENCRYPT_GZIP",
    "ENCRYPT_PLAIN",
    "PROTOCOL_VERSION",
    "EventCipher",
    "Frame",
    "FrameAuthError",
    "FrameError",
    "decode_event",
    "decode_event_frame",
    "decode_frame",
    "decode_header",
    "dumps",
    "encode_event",
    "encode_event_frame",
    "encode_frame",
    "key_frame",
    "parse_cipher_key",
    "ping_frame",
]

PROTOCOL_VERSION: Final = 1
CMD_KEY: Final = 1  # 1/1/1 from the server: {"key": <base64 AES-GCM key>}
CMD_PING: Final = 2  # 1/2/1 from the client: {"eventId": <ms>}
CMD_DUPLICATE: Final = 3000  # another Zalo Web session opened for this account

ENCRYPT_PLAIN: Final = 0
ENCRYPT_GZIP: Final = 1
ENCRYPT_GCM_GZIP: Final = 2
ENCRYPT_GCM: Final = 3

_HEADER = struct.Struct("<BHB")
_IV_LEN = 16
_AAD_LEN = 16
_TAG_LEN = 16
_MIN_GCM_BLOB = _IV_LEN + _AAD_LEN + _TAG_LEN  # 48, as the reference client checks
_AUTO_WBITS = 47  # 32 + 15: inflate gzip or zlib, whichever the header says (pako's default)
_GZIP_WBITS = 31  # 16 + 15: write a gzip member


class FrameError(ProtocolError, ValueError):
    """A websocket frame or event payload could not be decoded.

    Messages never contain the payload or the key.
    """


class FrameAuthError(FrameError, CryptoError):
    """An encrypted event failed AES-GCM authentication (tampered, truncated or wrong key)."""


class Frame(NamedTuple):
    """One decoded websocket frame; ``body`` is the parsed JSON (``None`` when empty)."""

    version: int
    cmd: int
    sub_cmd: int
    body: Any


def dumps(obj: Any) -> str:
    """Compact JSON, as ``JSON.stringify`` writes it (no spaces, non-ASCII kept)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- frames


def encode_frame(cmd: int, sub_cmd: int, payload: Any, *, version: int = PROTOCOL_VERSION) -> bytes:
    """Binary frame: version u8, cmd u16 LE, subCmd u8, then the UTF-8 JSON of ``payload``.

    Raises:
        ValueError: a header field does not fit its width.
    """
    try:
        header = _HEADER.pack(version, cmd, sub_cmd)
    except struct.error as exc:
        raise ValueError(
            f"frame header out of range (version={version}, cmd={cmd}, sub_cmd={sub_cmd})"
        ) from exc
    return header + dumps(payload).encode()


def decode_header(frame: bytes) -> tuple[int, int, int]:
    """``(version, cmd, sub_cmd)`` of a frame without touching its body."""
    if len(frame) < 4:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than its 4-byte header")
    version, cmd, sub_cmd = _HEADER.unpack_from(frame)
    return version, cmd, sub_cmd


# The C scanner behind json.loads, called directly: skips two regex matches and a Python
# frame per document (measurable at tens of thousands of frames per second).
_scan_once: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_JSON_SPACE = " \t\n\r"


def _loads(raw: bytes | str, what: str) -> Any:
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            obj, end = _scan_once(text, 0)
        except StopIteration:
            obj, end = json.loads(text), len(text)  # leading space, or raises a JSON error
        if end != len(text) and text[end:].strip(_JSON_SPACE):
            raise FrameError(f"{what} has data after the JSON value")
        return obj
    except UnicodeDecodeError as exc:
        raise FrameError(f"{what} is not UTF-8") from exc
    except FrameError:
        raise
    except (ValueError, RecursionError) as exc:
        raise FrameError(f"{what} is not valid JSON") from exc


def decode_frame(frame: bytes) -> Frame:
    """Split a frame into header fields and parsed JSON body (``None`` for an empty body)."""
    version, cmd, sub_cmd = decode_header(frame)
    body = _loads(frame[4:], "frame body") if len(frame) > 4 else None
    return Frame(version, cmd, sub_cmd, body)


def ping_frame(event_id: int) -> bytes:
    """The client keep-alive ``1/2/1 {"eventId": <ms>}`` (no ``req_id``)."""
    return encode_frame(CMD_PING, 1, {"eventId": event_id})


def key_frame(key: bytes) -> bytes:
    """The server's first frame ``1/1/1 {"key": <base64>}`` (for fakes and tests)."""
    return encode_frame(CMD_KEY, 1, {"key": base64.b64encode(key).decode()})


def parse_cipher_key(body: Any) -> bytes:
    """The AES-GCM key carried by a ``1/1/1`` frame body.

    Raises:
        FrameError: no usable key (missing, not base64, or not 16/24/32 bytes).
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("key"), str):
        raise FrameError("key frame has no 'key' string")
    try:
        key = base64.b64decode(body["key"], validate=True)
    except ValueError as exc:
        raise FrameError("key frame 'key' is not base64") from exc
    if len(key) not in (16, 24, 32):
        raise FrameError(f"key frame 'key' has {len(key)} bytes (need 16, 24 or 32)")
    return key


# --------------------------------------------------------------------------- event payloads


def _url_decode(data: str) -> str:
    # decodeURIComponent, never "+" -> " " (base64 contains "+"). URL-encoded base64 holds only
    # these three escapes, so the general decoder is needed only for odd input.
    if "%" not in data:
        return data
    fast = data.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")
    return fast if "%" not in fast else unquote(data)


def _b64(data: str) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except ValueError as exc:  # binascii.Error, or non-ASCII text
        raise FrameError("event data is not base64") from exc


def _inflate(raw: bytes) -> bytes:
    try:
        return zlib.decompress(raw, _AUTO_WBITS)
    except zlib.error as exc:
        raise FrameError("event data is not gzip/zlib compressed") from exc


@functools.lru_cache(maxsize=16)
def _aesgcm(key: bytes) -> AESGCM:
    return AESGCM(key)


class EventCipher:
    """Decodes event envelopes under one websocket cipher key (``None``: no key yet).

    Holding one per connection keeps the ``AESGCM`` object alive across frames.
    """

    __slots__ = ("_gcm",)

    def __init__(self, key: bytes | None) -> None:
        if key is not None and len(key) not in (16, 24, 32):
            raise FrameError(f"cipher key has {len(key)} bytes (need 16, 24 or 32)")
        self._gcm = AESGCM(key) if key is not None else None

    @property
    def has_key(self) -> bool:
        """Whether encrypted (2/3) envelopes can be decoded."""
        return self._gcm is not None

    def _open(self, data: str) -> bytes:
        gcm = self._gcm
        if gcm is None:
            raise FrameError("encrypted event before the cipher key frame")
        blob = _b64(_url_decode(data))
        if len(blob) < _MIN_GCM_BLOB:
            raise FrameError(f"encrypted event of {len(blob)} bytes is shorter than 48")
        view = memoryview(blob)
        try:
            return gcm.decrypt(view[:_IV_LEN], view[_IV_LEN + _AAD_LEN :], view[_IV_LEN:32])
        except InvalidTag as exc:
            raise FrameAuthError("event failed AES-GCM authentication") from exc

    def decode(self, envelope: Any) -> Any:
        """Decode an envelope ``{"data", "encrypt"}`` into its JSON value.

        Raises:
            FrameError: not an envelope, or any decoding/authentication step failed.
        """
        if not isinstance(envelope, dict):
            raise FrameError("event body is not a JSON object")
        data = envelope.get("data")
        encrypt = envelope.get("encrypt")
        if not isinstance(data, str):
            raise FrameError("event envelope has no 'data' string")
        if encrypt == ENCRYPT_GCM_GZIP:
            return _loads(_inflate(self._open(data)), "event payload")
        if encrypt == ENCRYPT_PLAIN:
            return _loads(data, "event payload")
        if encrypt == ENCRYPT_GZIP:
            return _loads(_inflate(_b64(data)), "event payload")
        if encrypt == ENCRYPT_GCM:
            return _loads(self._open(data), "event payload")
        raise FrameError(f"event envelope has unknown 'encrypt' {encrypt!r}")

    def decode_frame(self, frame: bytes) -> tuple[int, int, Any]:
        """``(cmd, sub_cmd, payload)`` of an event frame (header + envelope) in one step."""
        if len(frame) < 5:
            raise FrameError(f"event frame of {len(frame)} bytes has no body")
        _, cmd, sub_cmd = _HEADER.unpack_from(frame)
        return cmd, sub_cmd, self.decode(_loads(frame[4:], "frame body"))


def decode_event(envelope: Any, key: bytes | None) -> Any:
    """Decode an event envelope with ``key`` (the ``AESGCM`` object is cached per key)."""
    cipher = EventCipher.__new__(EventCipher)
    if key is not None and len(key) not in (16, 24, 32):
        raise FrameError(f"cipher key has {len(key)} bytes (need 16, 24 or 32)")
    cipher._gcm = _aesgcm(bytes(key)) if key is not None else None
    return cipher.decode(envelope)


def decode_event_frame(frame: bytes, key: bytes | None) -> tuple[int, int, Any]:
    """``(cmd, sub_cmd, payload)`` of a whole event frame; see :meth:`EventCipher.decode_frame`."""
    if len(frame) < 5:
        raise FrameError(f"event frame of {len(frame)} bytes has no body")
    _, cmd, sub_cmd = _HEADER.unpack_from(frame)
    return cmd, sub_cmd, decode_event(_loads(frame[4:], "frame body"), key)


# --------------------------------------------------------------------------- encoders


def encode_event(
    payload: Any,
    *,
    encrypt: int,
    key: bytes | None = None,
    iv: bytes | None = None,
    aad: bytes | None = None,
) -> dict[str, Any]:
    """Build the ``{"data", "encrypt"}`` envelope a server sends (inverse of decoding).

    ``iv``/``aad`` default to fresh random 16 bytes; gzip members carry ``mtime=0``.

    Raises:
        ValueError: unknown ``encrypt``, or 2/3 without a key, or IV/AAD not 16 bytes.
    """
    text = dumps(payload).encode()
    if encrypt == ENCRYPT_PLAIN:
        return {"data": text.decode(), "encrypt": 0}
    if encrypt not in (ENCRYPT_GZIP, ENCRYPT_GCM_GZIP, ENCRYPT_GCM):
        raise ValueError(f"unknown encrypt mode {encrypt!r} (need 0, 1, 2 or 3)")
    if encrypt != ENCRYPT_GCM:
        text = _gzip(text)
    if encrypt == ENCRYPT_GZIP:
        return {"data": base64.b64encode(text).decode(), "encrypt": 1}
    if key is None:
        raise ValueError("encrypt 2 and 3 need the websocket cipher key")
    iv = os.urandom(_IV_LEN) if iv is None else iv
    aad = os.urandom(_AAD_LEN) if aad is None else aad
    if len(iv) != _IV_LEN or len(aad) != _AAD_LEN:
        raise ValueError("iv and aad must be 16 bytes each")
    blob = iv + aad + _aesgcm(bytes(key)).encrypt(iv, text, aad)
    return {"data": quote(base64.b64encode(blob).decode(), safe=""), "encrypt": encrypt}


def _gzip(data: bytes) -> bytes:
    # A gzip member with mtime 0 (reproducible, like gzip.compress(mtime=0)).
    comp = zlib.compressobj(9, zlib.DEFLATED, _GZIP_WBITS)
    return comp.compress(data) + comp.flush()


def encode_event_frame(
    cmd: int,
    sub_cmd: int,
    payload: Any,
    *,
    encrypt: int,
    key: bytes | None = None,
    iv: bytes | None = None,
    aad: bytes | None = None,
) -> bytes:
    """A whole server event frame: header plus the envelope of ``payload``."""
    envelope = encode_event(payload, encrypt=encrypt, key=key, iv=iv, aad=aad)
    return encode_frame(cmd, sub_cmd, envelope)
