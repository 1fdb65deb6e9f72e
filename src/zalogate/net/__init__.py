"""HTTP plumbing shared by the protocol clients and the channels.

* ``transport``: ``LeanTransport``, the keep-alive HTTP/1.1 pool under ``httpx2`` clients;
  ``answer``: what a client reads of a response from either transport.
* ``tls``: the one TLS client context of the process.
* ``urlguard``: ``UrlGuard``, the SSRF check for URLs we fetch or hand to Zalo.
* ``download``: ``Downloader``, guarded downloads pinned to the vetted addresses.

The bottom layer beside ``config`` and ``store``: it imports nothing else from zalogate.
"""

from zalogate.net.answer import Answer, RawHeaders, RawResponse
from zalogate.net.download import Download, Downloader, DownloadError, PinnedTransport, pinned
from zalogate.net.tls import shared_tls_context
from zalogate.net.transport import DEFAULT_MAX_RESPONSE_BYTES, LeanTransport
from zalogate.net.urlguard import Resolver, UnsafeUrlError, UrlGuard, VettedUrl, system_resolver

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "Answer",
    "Download",
    "DownloadError",
    "Downloader",
    "LeanTransport",
    "PinnedTransport",
    "RawHeaders",
    "RawResponse",
    "Resolver",
    "UnsafeUrlError",
    "UrlGuard",
    "VettedUrl",
    "pinned",
    "shared_tls_context",
    "system_resolver",
]
