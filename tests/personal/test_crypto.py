"""Every login/session vector of reference §2.8, plus the failure modes of decryption."""

from __future__ import annotations

import base64
import random
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zalogate.personal import crypto
from zalogate.personal.errors import CryptoError
from zalogate.text import utf16_len

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
IMEI = "0f8fad5b-d9cb-469f-a165-70867728950e-a69b52f9d7f760edf3fd052bcda2542f"
TS = 1700000000000
ZCID_EXT = "a1b2c3d4e5"
ZCID = (
    "591A63B878019D47FD491E58A2409354A72A7FD37703E24D810BC824E5CB406F715DBD46261550A6D92EB691C3E8"
    "F7C8301DB7280165139195CD1151275EAE105BEBA029D8D2F754AF7C7C93DE41E36E15BE48C5094D68C1B9B4E76B"
    "AB24D71F"
)
LOGIN_KEY = "C3A3B143516B7094F415F74BB74918D9"
PARAMS = (
    "kN50sOiCvBaMoQbdEM4eu5sNarcxhTXSMYULpzEQLmNoDfhgWu4UNV+VBfv6H5UWd6oTo+NYLsayGs2Ycz2ztz/4J7+1"
    "Je6Z1IH1oZledp1YEUq4ejg9hSmTrADbnID4246pfTBatgLnEchTzim/FkWzEl36xTvlsHiV44T6VQVPL8ixfGQOSSf1"
    "R28zzmMa"
)
LOGIN_RESPONSE = (
    "V4FaM/f8Qdb3SZcB0koUqNc8ACvhDnPwe9yuKRV39F1VcaKGxLAbIVHcfpwF4aIWHOKiBI2Pr+oaRoLvMZVPMccYNlw"
    "gem7a81lSdfs9jF9zR1ja7lohg6/kiUG78MwmqfA2heni70xfgpvB55ZKXNbKnKo4X8BdryqvGN80kBAthZHstajhxt8"
    "yrW73FB8r4wvp5qUHcchHoa5bq7Dd5MVEN+HbOiSNZmUl2OLXw5yiCzAx+7z20J26lw2JMAxMgmTvEss2BzZfUoWUZt8"
    "LVLz0Nwj+pgeM3ca31VNoeYU="
)
LOGIN_RESPONSE_PLAIN = {
    "error_code": 0,
    "error_message": "",
    "data": {
        "uid": "1234567890123456789",
        "zpw_enk": "AAECAwQFBgcICQoLDA0ODw==",
        "zpw_ws": ["wss://ws1.chat.zalo.me/ws/v2"],
        "zpw_service_map_v3": {"chat": ["https://tt-chat2-wpa.chat.zalo.me"]},
    },
}
SESSION_KEY = "AAECAwQFBgcICQoLDA0ODw=="
SENDMSG = {
    "message": "xin chào",
    "clientId": 1700000000000,
    "imei": IMEI,
    "ttl": 0,
    "toid": "2000000000000000001",
}
SENDMSG_PARAMS = (
    "uiX9qv8Q+Z1SHUrO+B06tKlGV3D8NcFBhmOhqHCjibw9Y/X2OCwCtjVGqY7/L46BOPP0yVMcDPP4m5fbe1E5KRYVOw5Y+"
    "2Li+pQsoxPTZsEUuV0S5F6w6JZpBbmmo3ghR1M7LjvoGI2uUbuxWFZ1gGmEFVvv5N/7R+apW6Z6UD1OKlbH+ZJE59K1Z"
    "FV9ZVeU/5w/LcZW70piOTSPKJhzAtG/gRFLUsdsjvV+oKC2l00="
)
SENDMSG_RESPONSE = (
    "xM8stAIW28htiNwUylMQII+ZEcy5PtoJNUEwlHjMVSjutauKPhispl7C2vGZCv5VOwCwOiAjrc5dM605ysyvFPt1Nxs"
    "i3rLtJC/jwf1RFeQ="
)


def test_md5_of_user_agent_and_imei() -> None:
    assert crypto.md5_hex(UA) == "a69b52f9d7f760edf3fd052bcda2542f"
    assert crypto.generate_imei(UA, UUID) == IMEI


def test_random_imei_keeps_the_user_agent_digest() -> None:
    imei = crypto.generate_imei(UA)
    assert imei.endswith("-a69b52f9d7f760edf3fd052bcda2542f")
    assert imei != crypto.generate_imei(UA)


def test_zcid_vector() -> None:
    assert crypto.make_zcid(IMEI, TS) == ZCID


def test_zcid_ext_is_short_lower_hex() -> None:
    rng = random.Random(7)
    for _ in range(50):
        ext = crypto.random_zcid_ext(rng)
        assert 6 <= len(ext) <= 12
        assert set(ext) <= set("0123456789abcdef")


def test_login_key_vector() -> None:
    assert crypto.md5_hex(ZCID_EXT).upper() == "CB3BAE31BB1C443FBF3DB8889055F2FE"
    assert crypto.derive_login_key(ZCID, ZCID_EXT) == LOGIN_KEY


def test_login_params_vector() -> None:
    assert crypto.encrypt_login_params(LOGIN_KEY, IMEI, "vi", TS) == PARAMS


def test_signkey_vectors() -> None:
    signed = {
        "zcid": ZCID,
        "zcid_ext": ZCID_EXT,
        "enc_ver": "v2",
        "params": PARAMS,
        "type": 30,
        "client_version": 671,
    }
    assert crypto.sign_key("getlogininfo", signed) == "547f81cc8d723fb88e6661958c8f390b"
    server = {"imei": IMEI, "type": 30, "client_version": 671, "computer_name": "Web"}
    assert crypto.sign_key("getserverinfo", server) == "1ddf5d432e27df913e38cc5899f23cb1"


def test_get_login_info_url_vector() -> None:
    query = crypto.build_login_query(
        IMEI, language="vi", client_version=671, now_ms=TS, zcid_ext=ZCID_EXT
    )
    assert query.key == LOGIN_KEY
    url = "https://wpa.chat.zalo.me/api/login/getLoginInfo?" + urlencode(
        query.pairs, quote_via=quote, safe=""
    )
    expected = (
        f"https://wpa.chat.zalo.me/api/login/getLoginInfo?zcid={ZCID}&zcid_ext=a1b2c3d4e5"
        f"&enc_ver=v2&params={quote(PARAMS, safe='')}&type=30&client_version=671"
        "&signkey=547f81cc8d723fb88e6661958c8f390b&nretry=0&zpw_ver=671&zpw_type=30"
    )
    assert url == expected
    assert "kN50sOiCvBaMoQbdEM4eu5sNarcxhTXSMYULpzEQLmNoDfhgWu4UNV%2BVBfv6H5UWd6oTo%2BNY" in url


def test_server_info_query_vector() -> None:
    pairs = dict(crypto.build_server_info_query(IMEI, client_version=671))
    assert pairs == {
        "imei": IMEI,
        "type": "30",
        "client_version": "671",
        "computer_name": "Web",
        "signkey": "1ddf5d432e27df913e38cc5899f23cb1",
    }


def test_login_response_vector_decrypts() -> None:
    assert crypto.decrypt_login_response(LOGIN_KEY, LOGIN_RESPONSE) == LOGIN_RESPONSE_PLAIN
    # The same data URL-encoded (decodeURIComponent is applied first) decrypts too.
    assert crypto.decrypt_login_response(LOGIN_KEY, quote(LOGIN_RESPONSE, safe="")) == (
        LOGIN_RESPONSE_PLAIN
    )


def test_session_params_vector() -> None:
    assert crypto.encrypt_session_params(SESSION_KEY, SENDMSG) == SENDMSG_PARAMS


def test_session_response_vector() -> None:
    assert crypto.decrypt_session_payload(SESSION_KEY, SENDMSG_RESPONSE) == {
        "error_code": 0,
        "error_message": "Successful.",
        "data": {"msgId": 7000000000001},
    }
    inner = {"error_code": 0, "error_message": "Successful.", "data": {"msgId": 7000000000001}}
    assert crypto.encrypt_session_params(SESSION_KEY, inner) == SENDMSG_RESPONSE


def test_none_values_are_dropped_before_encryption() -> None:
    with_none = {**SENDMSG, "mentionInfo": None}
    assert crypto.encrypt_session_params(SESSION_KEY, with_none) == SENDMSG_PARAMS


@pytest.mark.parametrize(
    ("key", "data", "fragment"),
    [
        (SESSION_KEY, "not base64!!", "base64"),
        (SESSION_KEY, base64.b64encode(b"short").decode(), "multiple of 16"),
        (base64.b64encode(bytes(range(16, 32))).decode(), SENDMSG_RESPONSE, "wrong key"),
        (base64.b64encode(b"12345").decode(), SENDMSG_RESPONSE, "16, 24 or 32"),
    ],
)
def test_bad_session_data_raises_crypto_error(key: str, data: str, fragment: str) -> None:
    with pytest.raises(CryptoError, match=fragment):
        crypto.decrypt_session_payload(key, data)


def test_wrong_login_key_raises_crypto_error() -> None:
    with pytest.raises(CryptoError):
        crypto.decrypt_login_response("0" * 32, LOGIN_RESPONSE)


@given(
    payload=st.dictionaries(
        st.text(max_size=10), st.text(max_size=30) | st.integers(-(2**60), 2**60), max_size=6
    ),
    key=st.binary(min_size=16, max_size=16) | st.binary(min_size=32, max_size=32),
)
def test_session_envelope_round_trips(payload: dict[str, object], key: bytes) -> None:
    secret = base64.b64encode(key).decode()
    sealed = crypto.encrypt_session_params(secret, payload)
    assert crypto.decrypt_session_payload(secret, sealed) == payload


def test_utf16_length_counts_surrogate_pairs() -> None:
    assert utf16_len("chào 👋") == 7
    assert crypto.js_string(True) == "true"
    assert crypto.js_string(None) == "null"


def test_reused_cbc_contexts_match_fresh_zero_iv_ones() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    rng = random.Random(7)
    keys = [rng.randbytes(n) for n in (16, 24, 32)]
    for round_ in range(300):
        key = keys[round_ % 3]
        plain = rng.randbytes(rng.randrange(0, 90))
        fill = 16 - len(plain) % 16
        fresh = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
        expected = fresh.update(plain + bytes((fill,)) * fill) + fresh.finalize()
        assert crypto._cbc_encrypt(key, plain) == expected
        assert crypto._cbc_decrypt(key, expected) == plain
        if round_ % 5 == 0:  # a failed decryption must not shift the next message
            with pytest.raises(CryptoError):
                crypto._cbc_decrypt(key, expected[:-16] + bytes(16))
