"""Scenarios 1-4 (consent, state, code exchange) and the PKCE vector."""

from __future__ import annotations

import urllib.parse

import httpx2
import pytest

from zalogate.oa import (
    InvalidRedirectUriError,
    OAuthClient,
    OAuthError,
    StateMismatchError,
    pkce_challenge,
)
from zalogate.testing import FakeZaloOA


def test_pkce_challenge_matches_the_rfc_7636_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_consent_url_carries_app_id_redirect_state_and_challenge() -> None:
    client = OAuthClient("123", "s3cret", oauth_url="https://oauth.zaloapp.com")
    consent = client.consent("https://gw.example/zalooa/oauth", now=1000.0)
    parts = urllib.parse.urlsplit(consent.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://oauth.zaloapp.com/v4/oa/permission"
    )
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert set(query) == {"app_id", "redirect_uri", "state", "code_challenge"}
    assert query["state"] == consent.state
    assert query["code_challenge"] == pkce_challenge(consent.verifier or "")
    assert "s3cret" not in consent.url
    plain = OAuthClient("123", "s3cret", pkce=False).consent("https://gw.example/cb")
    assert "code_challenge" not in plain.url
    # The state is kept for at most 10 minutes.
    with pytest.raises(StateMismatchError):
        client.take_state(consent.state, now=1000.0 + 601)


async def _consent_code(fake: FakeZaloOA, url: str) -> tuple[str, str]:
    async with httpx2.AsyncClient(trust_env=False) as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302
    callback = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.headers["location"]).query))
    assert callback["oa_id"] == fake.oa_id
    return callback["code"], callback["state"]


async def test_a_mismatched_state_refuses_the_exchange(
    fake: FakeZaloOA, oauth: OAuthClient
) -> None:
    consent = oauth.consent(fake.redirect_uri)
    code, _ = await _consent_code(fake, consent.url)
    with pytest.raises(StateMismatchError):
        await oauth.exchange(code, "forged-state")
    assert not [c for c in fake.calls if c.path == "/v4/oa/access_token"]


async def test_the_code_exchange_is_a_form_post_with_the_secret_in_a_header(
    fake: FakeZaloOA, oauth: OAuthClient
) -> None:
    consent = oauth.consent(fake.redirect_uri)
    code, state = await _consent_code(fake, consent.url)
    pair = await oauth.exchange(code, state)
    call = next(c for c in fake.calls if c.path == "/v4/oa/access_token")
    form = dict(urllib.parse.parse_qsl(call.body.decode()))
    assert form["grant_type"] == "authorization_code"
    assert form["app_id"] == fake.app_id
    assert form["code"] == code
    assert call.headers["secret_key"] == fake.secret_key
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert fake.secret_key not in call.body.decode()
    assert fake.secret_key not in call.query
    # expires_in came as the string "90000".
    assert pair.expires_at - fake.clock() == pytest.approx(90000, abs=5)
    assert pair.access_token in fake.grant.access
    assert "access_token" not in repr(pair) or pair.access_token not in repr(pair)


async def test_a_200_error_body_from_the_token_endpoint_is_an_error(fake: FakeZaloOA) -> None:
    client = OAuthClient(fake.app_id, fake.secret_key, oauth_url=fake.base_url)
    try:
        consent = client.consent("https://elsewhere.example/cb")
        async with httpx2.AsyncClient(trust_env=False) as browser:
            answer = await browser.get(consent.url)
        assert answer.status_code == 200
        assert answer.json()["error"] == -14003
        # The exchange itself with a bad code: refused, nothing returned.
        fake.redirect_uri = "https://elsewhere.example/cb"
        with pytest.raises(OAuthError, match="-14019"):
            await client.exchange("not-a-code", consent.state)
    finally:
        await client.aclose()


async def test_invalid_redirect_uri_maps_to_its_own_error() -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json={"error": -14003, "error_name": "Invalid redirect uri"})

    client = OAuthClient("1", "s", transport=httpx2.MockTransport(answer))
    consent = client.consent("https://gw.example/cb")
    with pytest.raises(InvalidRedirectUriError, match="Invalid redirect uri"):
        await client.exchange("code", consent.state)
    await client.aclose()
