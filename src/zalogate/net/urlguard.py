"""A guard against server-side request forgery (SSRF) for URLs we fetch or hand to Zalo.

``UrlGuard.check(url)`` accepts only absolute ``http``/``https`` URLs whose host resolves to
public addresses: loopback, private (RFC 1918, ULA), link-local, multicast, reserved,
unspecified and carrier-grade NAT addresses are refused, and so is a host that does not
resolve. ``allow_loopback`` / ``allow_private`` loosen that on purpose (tests, a sandbox on
127.0.0.1). The resolver can be replaced, so that tests never touch DNS.

``UrlGuard.vet(url)`` does the same and also returns the addresses it vetted, so that a
download can connect to exactly those (:mod:`zalogate.net.download`): a second DNS
lookup at connect time could answer differently (DNS rebinding) and reach a private address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

__all__ = ["Resolver", "UnsafeUrlError", "UrlGuard", "VettedUrl", "system_resolver"]

Resolver = Callable[[str], Awaitable[Sequence[str]]]
"""``host -> addresses`` (IPv4/IPv6 literals)."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeUrlError(ValueError):
    """A URL was refused by the SSRF guard (the message never quotes the URL's query).

    ``zalogate.botapi`` raises its own subclass, also an ``InvalidRequestError``.
    """


async def system_resolver(host: str) -> Sequence[str]:
    """Resolve ``host`` with the system resolver (in a thread)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _is_loopback(address: IPAddress) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _is_private(address: IPAddress) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    target = mapped if mapped is not None else address
    return bool(
        target.is_private
        or target.is_link_local
        or target.is_multicast
        or target.is_reserved
        or target.is_unspecified
        or (isinstance(target, ipaddress.IPv4Address) and target in _CGNAT)
    )


@dataclass(frozen=True, slots=True)
class VettedUrl:
    """A URL the guard accepted, and where it may be connected to.

    Attributes:
        url: The normalised URL (what :meth:`UrlGuard.check` returns).
        host: Its host name (lower case, IPv6 without brackets).
        port: Its port, or the scheme's default.
        addresses: The addresses the host resolved to, each one allowed; empty when the
            guard allows every address (``allow_private``) and did not resolve.
    """

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UrlGuard:
    """Refuses URLs that point at this machine or a private network.

    Args:
        allow_loopback: Accept 127.0.0.0/8, ::1 and ``localhost``.
        allow_private: Accept every address (loopback included).
        resolver: ``host -> addresses``; default the system resolver.
    """

    allow_loopback: bool = False
    allow_private: bool = False
    resolver: Resolver | None = None

    def address_allowed(self, address: str) -> bool:
        """Whether one resolved address may be contacted."""
        if self.allow_private:
            return True
        try:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if _is_loopback(parsed):
            return self.allow_loopback
        return not _is_private(parsed)

    async def check(self, url: str, *, what: str = "URL") -> str:
        """Return the normalised URL if it may be fetched.

        Raises:
            UnsafeUrlError: Not absolute http(s), a host that does not resolve, or one that
                resolves to a refused address.
        """
        return (await self.vet(url, what=what)).url

    async def vet(self, url: str, *, what: str = "URL") -> VettedUrl:
        """Like :meth:`check`, with the host, port and the addresses that were vetted.

        With ``allow_private`` nothing is resolved and ``addresses`` is empty: every address
        is allowed, so the connection may resolve the host itself.

        Raises:
            UnsafeUrlError: As :meth:`check`.
        """
        try:
            parts = urllib.parse.urlsplit(url.strip())
            host = parts.hostname
            port = parts.port
        except ValueError:
            raise UnsafeUrlError(f"{what} must be an absolute HTTP or HTTPS URL") from None
        if not parts.scheme or not parts.netloc or not host:
            raise UnsafeUrlError(f"{what} must be an absolute HTTP or HTTPS URL")
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise UnsafeUrlError(f"{what} must use HTTP or HTTPS")
        vetted = VettedUrl(parts.geturl(), host, port or _DEFAULT_PORTS[scheme], ())
        if self.allow_private:
            return vetted
        addresses: Sequence[str]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host.lower() == "localhost" or host.lower().endswith(".localhost"):
                addresses = ["127.0.0.1"]
            else:
                resolve = self.resolver or system_resolver
                try:
                    addresses = await resolve(host)
                except (OSError, UnicodeError):
                    raise UnsafeUrlError(f"{what} host {host!r} does not resolve") from None
        else:
            addresses = [host]
        if not addresses:
            raise UnsafeUrlError(f"{what} host {host!r} does not resolve")
        for address in addresses:
            if not self.address_allowed(address):
                raise UnsafeUrlError(
                    f"{what} host {host!r} resolves to a private or loopback address"
                )
        return replace(vetted, addresses=tuple(dict.fromkeys(addresses)))
