"""The ``user:password@`` part of a URL in a config (a NATS server, a proxy): never shown,
never logged."""

from __future__ import annotations

__all__ = ["hide_userinfo", "url_password"]


def _split(url: str) -> tuple[str, str, str] | None:
    """``(scheme, userinfo, rest)`` of ``url`` when it has a userinfo part, else None."""
    scheme, sep, after = url.partition("://")
    if not sep or not scheme or " " in scheme:
        return None
    authority, slash, path = after.partition("/")
    if "@" not in authority:
        return None
    userinfo, _, host = authority.rpartition("@")
    return scheme, userinfo, f"{host}{slash}{path}"


def hide_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` part replaced by ``***@`` (for messages)."""
    parts = _split(url)
    return url if parts is None else f"{parts[0]}://***@{parts[2]}"


def url_password(url: str) -> str | None:
    """The password of ``url``'s ``user:password@`` part (the user name alone is not one)."""
    parts = _split(url)
    if parts is None:
        return None
    _, sep, password = parts[1].partition(":")
    return password if sep and password else None
