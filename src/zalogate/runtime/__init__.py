"""The runtime: the gateway process, its HTTP server, status records and logging.

Import what you need from its modules (so that a command needing only ``runtime.logging``,
most of the CLI, does not import the gateway, the HTTP server and uvicorn with it):

* :mod:`zalogate.runtime.gateway` — ``Gateway``: start-up, shutdown, the control operations;
* :mod:`zalogate.runtime.supervisor` — one supervised monitor per enabled channel account;
* :mod:`zalogate.runtime.wiring` — the default agent, pipeline and inbox, the configured
  channel plugins;
* :mod:`zalogate.runtime.secrets` — which config values are secrets (for log redaction);
* :mod:`zalogate.runtime.http`, :mod:`zalogate.runtime.control`, :mod:`zalogate.runtime.status`,
  :mod:`zalogate.runtime.logging`, :mod:`zalogate.runtime.plugins`.
"""
