"""HTTP plumbing shared by the protocol clients, the channels and the agents.

* ``transport``: ``LeanTransport``, the keep-alive HTTP/1.1 pool under ``httpx2`` clients;
  ``answer``: what a client reads of a response from either transport.
* ``tls``: the one TLS client context of the process.
* ``urlguard``: ``UrlGuard``, the SSRF check for URLs we fetch or hand to Zalo.
* ``download``: ``Downloader``, guarded downloads pinned to the vetted addresses.

The bottom layer beside ``config`` and ``store``: it imports nothing else from zalogate.
Import the modules themselves: this package re-exports nothing, so that a client that needs
only the transport (``zalogate.personal``) does not load httpcore2 for the downloader.
"""
