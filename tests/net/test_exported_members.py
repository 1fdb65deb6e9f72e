"""The public surface of zalogate.net is exactly what we mean it to be."""

from __future__ import annotations

import zalogate.net

EXPECTED = {
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
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(zalogate.net.__all__) == EXPECTED
    assert len(zalogate.net.__all__) == len(EXPECTED)


def test_every_exported_class_belongs_here() -> None:
    for name in zalogate.net.__all__:
        member = getattr(zalogate.net, name)
        if isinstance(member, type):
            assert member.__module__.startswith("zalogate.net."), name
