"""`ApiBase`: what every group of `PersonalApi` endpoints shares.

The session and its HTTP seam, client ids, service URLs and the checks every send makes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from zalogate.personal.errors import ConfigurationError, ProtocolError
from zalogate.personal.file_done import FileDoneRegistry
from zalogate.personal.http import PersonalHttp
from zalogate.personal.outgoing import SentMessage
from zalogate.personal.session import Session, ThreadType

__all__ = ["NO_RETRY", "ApiBase", "in_chunks"]

#: The query of calls the web client marks as not to be retried by the server.
NO_RETRY: Final = (("nretry", "0"),)

_T = TypeVar("_T")


def in_chunks(items: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class ApiBase:
    """The session, the HTTP seam and the helpers the endpoint groups share.

    Args:
        session: the logged-in session (service map, key, imei).
        http: the HTTP layer with ``session`` attached.
    """

    def __init__(self, session: Session, http: PersonalHttp) -> None:
        self.session = session
        self.http = http
        self.file_done = FileDoneRegistry()
        self._last_client_id = 0

    def _client_id(self) -> int:
        """``Date.now()``-like ids, strictly increasing so two sends never share one."""
        now = int(time.time() * 1000)
        self._last_client_id = max(now, self._last_client_id + 1)
        return self._last_client_id

    def _url(self, service: str, path: str) -> str:
        return self.session.service_url(service) + path

    def _sharefile(self) -> Mapping[str, Any]:
        features = self.session.settings.get("features")
        sharefile = features.get("sharefile") if isinstance(features, Mapping) else None
        return sharefile if isinstance(sharefile, Mapping) else {}

    @staticmethod
    def _is_group(thread_type: ThreadType | str) -> bool:
        if thread_type is ThreadType.USER:  # the usual values: no enum lookup
            return False
        if thread_type is ThreadType.GROUP:
            return True
        try:
            return ThreadType(thread_type) == ThreadType.GROUP
        except ValueError:
            raise ConfigurationError(
                f"thread_type must be 'user' or 'group', got {thread_type!r}"
            ) from None

    @staticmethod
    def _sent(result: Any, client_id: int | str, path: str) -> SentMessage:
        if not isinstance(result, Mapping) or result.get("msgId") is None:
            raise ProtocolError(f"send answer lacks msgId ({path})")
        return SentMessage(msg_id=str(result["msgId"]), cli_msg_id=str(client_id))
