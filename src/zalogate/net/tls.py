"""The one TLS client context (system CAs) that every HTTP client of the process shares."""

from __future__ import annotations

import functools
import ssl

import httpx2

__all__ = ["shared_tls_context"]


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """One verifying TLS client context for every client this process creates.

    Loading the CA store costs 0.1-0.3 s; a context can be shared by any number of clients.
    It is httpx2's own default (``SSL_CERT_FILE``/``SSL_CERT_DIR``, else the system CAs), so
    a client on ``LeanTransport`` trusts what one on httpx2's transport (a proxy) trusts.
    """
    return httpx2.create_ssl_context()
