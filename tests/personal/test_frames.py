"""Websocket frames and event envelopes: the §2.8 vectors, round trips, and garbage."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zalogate.personal import errors
from zalogate.personal import frames as f
from zalogate.testing.fake_personal import wire

from .vectors import VECTOR_PAYLOAD

# ---------------------------------------------------------------- reference vectors (§2.8)

CIPHER_KEY_B64 = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="
CIPHER_KEY = bytes(range(0x20, 0x40))
IV = bytes(range(16))
AAD = bytes(range(0x80, 0x90))
VECTOR_PLAINTEXT = (
    '{"data":{"msgs":[{"actionId":"1","msgId":"7000000000002","cliMsgId":"1700000000123",'
    '"msgType":"webchat","uidFrom":"2000000000000000001","idTo":"0","dName":"Alice",'
    '"ts":"1700000000123","status":1,"content":"hello","notify":"1","ttl":0,"userId":"0",'
    '"uin":"0","cmd":501,"st":3,"at":5,"realMsgId":"0"}]},"error_code":0}'
)
VECTOR_GZIP_B64 = (
    "H4sIAAAAAAACA22PMQvCMBCF/8vNGZKWImRzERx0chORmEQbSBNJrkgp/e9ealUQb3p5L3f33QhGoQI5QpdvGeRxBK"
    "XRxbA1IEEAK/6sV/xbFfnau90SiU8mqvrVchjulpKHvehWIXm9M5sUO/Iq/ltljTOHSCEnafaqK81r77SlN+Y/OzIq"
    "7CkQRBID2oD0qbXeRwpDRHcdlgMQPUhOBNmmGZfPOGFRuiOv4aKMBFkzIFzZMEhW+feBHKbTxMCmFNNZR0N0fHoCwz"
    "ywvjsBAAA="
)
VECTOR_DATA = (
    "AAECAwQFBgcICQoLDA0OD4CBgoOEhYaHiImKi4yNjo8UkMbf0qaN7k9WFLu9LuZ%2F9ww3nztek1M9sFUByF%2FClML"
    "ucrUZ3YxHv1Nq1CSHDuZ1uiWCVB9ntIyS5WKvQxt1cCbAOW4VdTjF7IjuoitLKD7QJm5g28C6ZbrCLm05s78N6Nu3"
    "iw5SP7HlM1QPh5odzK3kkDYqvSVgO18mBld9hdh2aYBAuHSYT8nSNx5d%2Bl0ClpBCwezIk0drP7kVQcvafrd0X7pB"
    "I4NQ0yaLVLNItIncg%2Bu6du5grFa2fWjJXUaGcGkXNfJm22LeC8Yy4mYe95Phy9JqQ6FpVcRi1UffFWw%3D"
)


def test_ping_frame_matches_vector() -> None:
    assert f.ping_frame(1700000000000).hex() == (
        "010200017b226576656e744964223a313730303030303030303030307d"
    )
    frame = f.decode_frame(f.ping_frame(1700000000000))
    assert frame == f.Frame(1, 2, 1, {"eventId": 1700000000000})


def test_old_messages_request_frame_matches_vector() -> None:
    body: dict[str, Any] = {"first": True, "lastId": None, "preIds": [], "req_id": "req_0"}
    assert f.encode_frame(510, 1, body).hex() == (
        "01fe01017b226669727374223a747275652c226c6173744964223a6e756c6c2c22707265496473223a5b5d"
        "2c227265715f6964223a227265715f30227d"
    )


@pytest.mark.parametrize(
    ("cmd", "header"), [(501, "01f50100"), (521, "01090200"), (3000, "01b80b00")]
)
def test_event_headers_match_vectors(cmd: int, header: str) -> None:
    assert f.encode_frame(cmd, 0, {})[:4].hex() == header
    assert f.decode_header(bytes.fromhex(header)) == (1, cmd, 0)
    assert f.decode_frame(bytes.fromhex(header)) == f.Frame(1, cmd, 0, None)


def test_key_frame_carries_the_vector_cipher_key() -> None:
    frame = f.decode_frame(f.key_frame(CIPHER_KEY))
    assert (frame.version, frame.cmd, frame.sub_cmd) == (1, 1, 1)
    assert frame.body == {"key": CIPHER_KEY_B64}
    assert f.parse_cipher_key(frame.body) == CIPHER_KEY


def test_gzip_member_matches_vector() -> None:
    assert f.dumps(VECTOR_PAYLOAD) == VECTOR_PLAINTEXT
    assert f.encode_event(VECTOR_PAYLOAD, encrypt=1) == {"data": VECTOR_GZIP_B64, "encrypt": 1}
    assert f.decode_event({"data": VECTOR_GZIP_B64, "encrypt": 1}, None) == VECTOR_PAYLOAD


def test_encrypted_event_matches_vector_both_ways() -> None:
    env = f.encode_event(VECTOR_PAYLOAD, encrypt=2, key=CIPHER_KEY, iv=IV, aad=AAD)
    assert env == {"data": VECTOR_DATA, "encrypt": 2}
    assert f.decode_event({"data": VECTOR_DATA, "encrypt": 2}, CIPHER_KEY) == VECTOR_PAYLOAD
    frame = f.encode_frame(501, 0, {"data": VECTOR_DATA, "encrypt": 2})
    assert f.EventCipher(CIPHER_KEY).decode_frame(frame) == (501, 0, VECTOR_PAYLOAD)
    assert f.decode_event_frame(frame, CIPHER_KEY) == (501, 0, VECTOR_PAYLOAD)


def test_decoder_agrees_with_the_fakes_independent_wire_module() -> None:
    for encrypt in range(4):
        env = wire.encode_event(VECTOR_PAYLOAD, encrypt=encrypt, key=CIPHER_KEY)
        assert f.decode_event(env, CIPHER_KEY) == VECTOR_PAYLOAD
        ours = f.encode_event(VECTOR_PAYLOAD, encrypt=encrypt, key=CIPHER_KEY)
        assert wire.decode_event(ours, CIPHER_KEY) == VECTOR_PAYLOAD


def test_zlib_streams_inflate_like_pako_auto_detect() -> None:
    data = base64.b64encode(zlib.compress(VECTOR_PLAINTEXT.encode())).decode()
    assert f.decode_event({"data": data, "encrypt": 1}, None) == VECTOR_PAYLOAD


def test_big_ids_survive_exactly() -> None:
    payload = {"data": {"msgId": 2**63 + 7}}
    env = f.encode_event(payload, encrypt=3, key=CIPHER_KEY)
    assert f.decode_event(env, CIPHER_KEY)["data"]["msgId"] == 2**63 + 7


# ---------------------------------------------------------------- failures are typed


def _tampered(data: str, index: int) -> str:
    raw = bytearray(base64.b64decode(f._url_decode(data)))
    raw[index] ^= 0x01
    return wire.quote_data(base64.b64encode(bytes(raw)).decode())


@pytest.mark.parametrize("index", [0, 16, 40, -1], ids=["iv", "aad", "ciphertext", "tag"])
def test_tampering_any_part_of_the_gcm_blob_is_an_auth_error(index: int) -> None:
    env = {"data": _tampered(VECTOR_DATA, index), "encrypt": 2}
    with pytest.raises(f.FrameAuthError) as caught:
        f.decode_event(env, CIPHER_KEY)
    assert isinstance(caught.value, errors.CryptoError)
    assert isinstance(caught.value, f.FrameError)
    assert VECTOR_DATA[:20] not in str(caught.value)


def test_wrong_key_is_an_auth_error() -> None:
    with pytest.raises(f.FrameAuthError):
        f.decode_event({"data": VECTOR_DATA, "encrypt": 2}, bytes(32))


@pytest.mark.parametrize(
    ("envelope", "key", "message"),
    [
        ({"data": VECTOR_DATA, "encrypt": 2}, None, "before the cipher key"),
        ({"data": "QUJD", "encrypt": 3}, CIPHER_KEY, "shorter than 48"),
        ({"data": "not base64!", "encrypt": 1}, None, "not base64"),
        ({"data": "QUJD", "encrypt": 1}, None, "not gzip"),
        ({"data": "{oops", "encrypt": 0}, None, "not valid JSON"),
        ({"data": '{"a":1} x', "encrypt": 0}, None, "after the JSON value"),
        ({"data": "{}", "encrypt": 7}, None, "unknown 'encrypt'"),
        ({"data": 5, "encrypt": 0}, None, "no 'data' string"),
        (["data"], None, "not a JSON object"),
    ],
)
def test_bad_envelopes_raise_frame_errors_that_say_why(
    envelope: Any, key: bytes | None, message: str
) -> None:
    with pytest.raises(f.FrameError, match=message) as caught:
        f.decode_event(envelope, key)
    assert isinstance(caught.value, errors.ProtocolError)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (b"\x01\x02", "shorter than its 4-byte header"),
        (b"\x01\xf5\x01\x00{", "not valid JSON"),
        (b"\x01\xf5\x01\x00\xff\xfe", "not UTF-8"),
        (b"\x01\xf5\x01\x00" + b"[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_frames_raise_frame_errors(frame: bytes, message: str) -> None:
    with pytest.raises(f.FrameError, match=message):
        f.decode_frame(frame)


@pytest.mark.parametrize(
    "body", [{}, {"key": 5}, {"key": "***"}, {"key": base64.b64encode(b"short").decode()}]
)
def test_unusable_key_frames_are_rejected(body: Any) -> None:
    with pytest.raises(f.FrameError):
        f.parse_cipher_key(body)


def test_encoders_reject_what_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="out of range"):
        f.encode_frame(70_000, 0, {})
    with pytest.raises(ValueError, match="need the websocket cipher key"):
        f.encode_event({}, encrypt=2)
    with pytest.raises(ValueError, match="unknown encrypt"):
        f.encode_event({}, encrypt=9)
    with pytest.raises(f.FrameError):
        f.EventCipher(b"x" * 10)


# ---------------------------------------------------------------- properties

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=15,
)
keys = st.sampled_from([bytes(16), bytes(range(24)), CIPHER_KEY])


@settings(max_examples=150, deadline=None)
@given(payload=json_values, encrypt=st.integers(0, 3), key=keys)
def test_event_envelopes_round_trip(payload: Any, encrypt: int, key: bytes) -> None:
    env = f.encode_event(payload, encrypt=encrypt, key=key)
    assert f.decode_event(env, key) == payload
    # and through a whole frame, as the listener sees it
    frame = f.encode_event_frame(612, 3, payload, encrypt=encrypt, key=key)
    assert f.EventCipher(key).decode_frame(frame) == (612, 3, payload)


@settings(max_examples=150, deadline=None)
@given(
    cmd=st.integers(0, 0xFFFF),
    sub_cmd=st.integers(0, 0xFF),
    version=st.integers(0, 0xFF),
    body=json_values,
)
def test_frames_round_trip(cmd: int, sub_cmd: int, version: int, body: Any) -> None:
    frame = f.encode_frame(cmd, sub_cmd, body, version=version)
    assert f.decode_frame(frame) == f.Frame(version, cmd, sub_cmd, body)


def _decode_all(frame: bytes, cipher: f.EventCipher) -> None:
    with contextlib.suppress(f.FrameError):
        f.decode_frame(frame)
    with contextlib.suppress(f.FrameError):
        cipher.decode_frame(frame)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage=st.binary(max_size=300))
def test_random_bytes_only_ever_raise_frame_error(garbage: bytes) -> None:
    _decode_all(garbage, f.EventCipher(CIPHER_KEY))


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, 700), flip=st.integers(0, 700), bit=st.integers(0, 7))
def test_truncated_or_bit_flipped_event_frames_never_decode_silently(
    cut: int, flip: int, bit: int
) -> None:
    frame = bytearray(f.encode_frame(501, 0, {"data": VECTOR_DATA, "encrypt": 2}))
    cipher = f.EventCipher(CIPHER_KEY)
    truncated = bytes(frame[: min(cut, len(frame) - 1)])
    with pytest.raises(f.FrameError):
        cipher.decode_frame(truncated)
    index = flip % len(frame)
    frame[index] ^= 1 << bit
    try:
        cmd, _, payload = cipher.decode_frame(bytes(frame))
    except f.FrameError:
        return
    # Only the header, or a URL-escape / JSON spelling change that keeps the same bytes
    # meaning, can survive; the authenticated payload itself must be intact.
    assert payload == VECTOR_PAYLOAD
    assert index < 4 or cmd == 501


@settings(max_examples=150, deadline=None)
@given(data=st.text(max_size=120), encrypt=st.integers(0, 3))
def test_arbitrary_data_strings_only_ever_raise_frame_error(data: str, encrypt: int) -> None:
    with contextlib.suppress(f.FrameError):
        f.decode_event({"data": data, "encrypt": encrypt}, CIPHER_KEY)


@settings(max_examples=100, deadline=None)
@given(blob=st.binary(min_size=0, max_size=200), encrypt=st.sampled_from([1, 2, 3]))
def test_arbitrary_base64_blobs_only_ever_raise_frame_error(blob: bytes, encrypt: int) -> None:
    data = base64.b64encode(blob).decode()
    with pytest.raises(f.FrameError):
        f.decode_event({"data": wire.quote_data(data), "encrypt": encrypt}, CIPHER_KEY)


def test_url_decoding_never_turns_plus_into_space() -> None:
    assert f._url_decode("a+b%2Bc%2fd%3d") == "a+b+c/d="
    assert binascii.a2b_base64(f._url_decode("%2B%2F%3D%3D")) == base64.b64decode("+/==")
    assert json.loads(f.dumps({"x": "ệ"})) == {"x": "ệ"}
