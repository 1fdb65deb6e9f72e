"""CookieJar: RFC 6265 matching, Set-Cookie parsing, and the tough-cookie/extension formats."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from zalogate.personal import CookieJar, Credentials
from zalogate.testing import FakeZaloPersonal

NOW = 1_800_000_000.0


def test_host_only_cookie_is_sent_to_its_host_on_any_port_only() -> None:
    jar = CookieJar()
    jar.set_cookie("zpw_sek=abc; Path=/; HttpOnly", "http://127.0.0.1:8000/account/checksession")
    assert jar.header_for("http://127.0.0.1:9999/api") == "zpw_sek=abc"
    assert jar.header_for("ws://127.0.0.1:4000/ws") == "zpw_sek=abc"
    assert jar.header_for("http://127.0.0.2/api") == ""


def test_domain_cookie_reaches_subdomains_but_not_other_sites() -> None:
    jar = CookieJar()
    jar.set_cookie("zpw_sek=s; Domain=.zalo.me; Path=/; Secure", "https://id.zalo.me/account")
    assert jar.header_for("https://tt-chat1-wpa.chat.zalo.me/api/message/sms") == "zpw_sek=s"
    assert jar.header_for("wss://ws1.chat.zalo.me/ws") == "zpw_sek=s"
    assert jar.header_for("http://chat.zalo.me/") == ""  # secure cookie, plain http
    assert jar.header_for("https://notzalo.me/") == ""
    assert jar.header_for("https://127.0.0.1/") == ""


def test_cookie_for_a_foreign_domain_is_ignored() -> None:
    jar = CookieJar()
    jar.set_cookie("evil=1; Domain=example.org", "https://id.zalo.me/")
    assert len(jar) == 0


def test_path_expiry_max_age_and_deletion() -> None:
    jar = CookieJar()
    url = "https://id.zalo.me/account/x"
    jar.set_cookie("a=1; Path=/account", url, now=NOW)
    jar.set_cookie("b=2; Max-Age=10", url, now=NOW)
    jar.set_cookie("c=3; Expires=Wed, 21 Oct 2015 07:28:00 GMT", url, now=NOW)
    assert jar.header_for("https://id.zalo.me/account/y", now=NOW) == "a=1; b=2"
    assert jar.header_for("https://id.zalo.me/accounts", now=NOW) == ""
    assert jar.header_for("https://id.zalo.me/account/y", now=NOW + 11) == "a=1"
    jar.set_cookie("a=gone; Path=/account; Max-Age=0", url, now=NOW)
    assert "a" not in jar.names()
    assert jar.names() == {"b"}


def test_longer_paths_come_first_and_values_are_replaced() -> None:
    jar = CookieJar()
    jar.set_cookie("k=root; Path=/", "https://chat.zalo.me/")
    jar.set_cookie("k=deep; Path=/api", "https://chat.zalo.me/")
    assert jar.header_for("https://chat.zalo.me/api/x") == "k=deep; k=root"
    jar.set_cookie("k=new; Path=/", "https://chat.zalo.me/")
    assert jar.header_for("https://chat.zalo.me/") == "k=new"


def test_imports_tough_cookie_jar_bare_list_and_extension_json() -> None:
    tough = {
        "version": "tough-cookie@4.1.4",
        "cookies": [
            {
                "key": "zpw_sek",
                "value": "v1",
                "domain": "chat.zalo.me",
                "path": "/",
                "hostOnly": False,
                "expires": "2099-01-01T00:00:00.000Z",
                "creation": "2024-01-01T00:00:00.000Z",
            }
        ],
    }
    extension = [
        {
            "name": "zpw_sek",
            "value": "v1",
            "domain": ".chat.zalo.me",
            "path": "/",
            "expirationDate": 4070908800.5,
            "hostOnly": False,
            "httpOnly": True,
            "secure": True,
        }
    ]
    for data in (tough, tough["cookies"], extension):
        jar = CookieJar.from_json(data)
        assert jar.header_for("https://tt-chat2-wpa.chat.zalo.me/api") == "zpw_sek=v1"
    exported = CookieJar.from_json(extension).to_json()[0]
    assert exported["key"] == "zpw_sek"
    assert exported["domain"] == "chat.zalo.me"
    assert exported["expires"] == "2099-01-01T00:00:00.500Z"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ("nope", "expected a list"),
        ([{"value": "x"}], r"cookies\[0\]\.key"),
        ([{"key": "a", "value": "1"}, {"key": "b", "value": 2}], r"cookies\[1\]\.value"),
        ([{"key": "a", "value": "1", "expires": True}], r"cookies\[0\]\.expires"),
        ([3], r"cookies\[0\]: expected an object"),
    ],
)
def test_bad_cookie_json_names_the_key_path(data: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        CookieJar.from_json(data)


def test_expired_imported_cookies_are_not_sent_or_saved() -> None:
    jar = CookieJar.from_json(
        [{"key": "old", "value": "1", "domain": "zalo.me", "expires": "2001-01-01T00:00:00Z"}]
    )
    assert jar.header_for("https://chat.zalo.me/") == ""
    assert jar.to_json() == []


def test_save_is_0600_and_load_round_trips(tmp_path: Path) -> None:
    jar = CookieJar()
    jar.set_cookie("zpw_sek=secret; Domain=zalo.me; Secure", "https://id.zalo.me/")
    target = tmp_path / "cookies.json"
    jar.save(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["cookies"][0]["key"] == "zpw_sek"
    again = CookieJar.load(target)
    assert again.header_for("https://chat.zalo.me/") == "zpw_sek=secret"
    assert "secret" not in repr(again)


def test_credentials_accept_zcajs_shape_and_hide_cookies(fake_creds: dict[str, object]) -> None:
    creds = Credentials.from_json(fake_creds)
    assert "zpw_sek" not in repr(creds)
    assert Credentials.from_json(creds.to_json()) == creds
    assert Credentials.from_json(creds.to_zca_json()) == creds
    assert set(creds.to_zca_json()) == {"imei", "cookie", "userAgent", "language"}
    jar = CookieJar(creds.cookies)
    # Cookies with domain zalo.me (as zca-js stores them) go to service hosts, not loopback.
    assert "zpw_sek=" in jar.header_for("https://tt-chat1-wpa.chat.zalo.me/api")
    assert jar.header_for("http://127.0.0.1:8000/api") == ""


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "JSON object"),
        ({"user_agent": "u", "cookies": []}, "credentials.imei"),
        ({"imei": "i", "cookies": []}, "credentials.user_agent"),
        ({"imei": "i", "userAgent": "u"}, "credentials.cookies"),
        ({"imei": "i", "userAgent": "u", "cookie": [{"key": 1}]}, r"credentials.cookies\[0\]"),
    ],
)
def test_bad_credentials_name_the_key_path(data: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Credentials.from_json(data)


@pytest.fixture
async def fake_creds() -> dict[str, object]:
    async with FakeZaloPersonal() as fake:
        fake.add_account("1001", "Bot")
        return fake.credentials("1001")


def test_repeated_lookups_follow_every_change_of_the_jar() -> None:
    jar = CookieJar()
    url = "https://chat.zalo.me/api/message/sms?zpw_ver=671&params=abc"
    assert jar.header_for(url, now=NOW) == ""
    jar.set_cookie("zpsid=1; Max-Age=100", "https://chat.zalo.me/", now=NOW)
    assert jar.header_for(url, now=NOW) == "zpsid=1"
    assert jar.header_for(url.replace("abc", "other"), now=NOW + 1) == "zpsid=1"
    jar.set_cookie("zpsid=2; Max-Age=100", "https://chat.zalo.me/", now=NOW)
    assert jar.header_for(url, now=NOW + 2) == "zpsid=2"
    assert jar.header_for(url, now=NOW + 101) == ""
    assert jar.header_for("https://other.example/api", now=NOW) == ""
