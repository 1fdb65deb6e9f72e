"""The OAuth host of ``FakeZaloOA``: the consent page, the code exchange, the refresh."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import urllib.parse

from zalogate.testing.fake_oa.base import FakeOABase
from zalogate.testing.fake_oa.state import Code, RefusalError

__all__ = ["OAuthRoutes"]

_CODE_TTL = 600.0


def oauth_body(error: int, name: str) -> bytes:
    """The OAuth host's error body (HTTP 200): ``error``, ``error_name``, ``error_reason``."""
    return json.dumps(
        {
            "error": error,
            "error_name": name,
            "error_reason": "",
            "error_description": name,
            "ref_doc": "https://developers.zalo.me/docs",
        }
    ).encode()


class OAuthRoutes(FakeOABase):
    """Mixin of ``FakeZaloOA``: ``/v4/oa/permission`` and ``/v4/oa/access_token``."""

    def consent_redirect(self, query: str) -> str:
        """Where the consent page sends the admin after "Allow" (the callback URL with a code)."""
        params = dict(urllib.parse.parse_qsl(query))
        if params.get("app_id") != self.app_id:
            raise RefusalError(-14002, "Invalid appId")
        redirect = params.get("redirect_uri", "")
        if redirect != self.redirect_uri:
            raise RefusalError(-14003, "Invalid redirect uri")
        if "state" not in params:
            raise RefusalError(-14001, "Invalid param: state")
        code = secrets.token_urlsafe(32)
        self._codes[code] = Code(redirect, params.get("code_challenge"), self.clock())
        query_out = urllib.parse.urlencode(
            {"code": code, "state": params["state"], "oa_id": self.oa_id}
        )
        sep = "&" if "?" in redirect else "?"
        return f"{redirect}{sep}{query_out}"

    def token_answer(self, headers: dict[str, str], body: bytes) -> bytes:
        """Answer a code exchange or a refresh (a token pair or an OAuth error body)."""
        try:
            return json.dumps(self._token(headers, body)).encode()
        except RefusalError as refusal:
            return oauth_body(refusal.error, refusal.message)

    def _token(self, headers: dict[str, str], body: bytes) -> dict[str, str]:
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise RefusalError(-14001, "Invalid content type")
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        if "secret_key" in form:
            raise RefusalError(-14001, "secret_key belongs in the header")
        if form.get("app_id") != self.app_id:
            raise RefusalError(-14002, "Invalid appId")
        if headers.get("secret_key") != self.secret_key:
            raise RefusalError(-14004, "Invalid secret key")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            self._use_code(form)
        elif grant == "refresh_token":
            self.refresh_calls += 1
            self._use_refresh(form.get("refresh_token", ""))
        else:
            raise RefusalError(-14001, "Invalid grant_type")
        return self.issue_pair()

    def _use_code(self, form: dict[str, str]) -> None:
        code = self._codes.pop(form.get("code", ""), None)
        if code is None or self.clock() - code.issued > _CODE_TTL:
            raise RefusalError(-14019, "Invalid authorization code")
        verifier = form.get("code_verifier")
        if code.challenge is not None:
            digest = hashlib.sha256((verifier or "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != code.challenge:
                raise RefusalError(-14016, "Invalid code verifier")
        elif verifier is not None:
            raise RefusalError(-14016, "code_verifier without a code_challenge")

    def _use_refresh(self, token: str) -> None:
        grant = self.grant
        if self.refuse_refresh is not None or token not in grant.refresh:
            code = self.refuse_refresh if self.refuse_refresh is not None else -14014
            raise RefusalError(code, "Invalid refresh token")
        grant.refresh.discard(token)
        grant.burned.add(token)
        if self.revoke_on_refresh:
            grant.access.pop(grant.paired.pop(token, ""), None)

    def issue_pair(self) -> dict[str, str]:
        """A new token pair, registered (``expires_in`` as a string, like Zalo's example)."""
        access = secrets.token_urlsafe(48)
        refresh = secrets.token_urlsafe(48)
        self.grant.access[access] = self.clock() + self.access_ttl
        self.grant.refresh.add(refresh)
        self.grant.paired[refresh] = access
        return {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": str(int(self.access_ttl)),
        }
