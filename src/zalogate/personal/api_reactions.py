"""`ReactionApi`: adding and removing reactions (reference §4)."""

from __future__ import annotations

from typing import Any

from zalogate.personal.api_base import ApiBase
from zalogate.personal.crypto import compact_json
from zalogate.personal.errors import ConfigurationError
from zalogate.personal.reactions import REACTION_SOURCE, REACTIONS, CustomReaction
from zalogate.personal.session import ThreadType

__all__ = ["ReactionApi"]


def _int_id(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{what} must be a numeric id, got {value!r}") from None


class ReactionApi(ApiBase):
    """Reacting to a message and taking the reaction back."""

    async def add_reaction(
        self,
        icon: str | CustomReaction,
        *,
        thread_id: str,
        msg_id: str,
        cli_msg_id: str,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> Any:
        """React to a message with a built-in icon (see `REACTIONS`) or a `CustomReaction`.

        Raises:
            ConfigurationError: an unknown icon string.
        """
        if isinstance(icon, CustomReaction):
            r_type, source, icon_text = icon.r_type, icon.source, icon.icon
        else:
            if icon not in REACTIONS:
                raise ConfigurationError(f"unknown reaction icon {icon!r}; see REACTIONS")
            r_type, source, icon_text = REACTIONS[icon], REACTION_SOURCE, icon
        return await self._react(
            thread_id, msg_id, cli_msg_id, thread_type, r_type, source, icon_text
        )

    async def remove_reaction(
        self,
        *,
        thread_id: str,
        msg_id: str,
        cli_msg_id: str,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> Any:
        """Remove this account's reaction from a message (``rType -1``, empty icon)."""
        return await self._react(
            thread_id, msg_id, cli_msg_id, thread_type, -1, REACTION_SOURCE, ""
        )

    async def _react(
        self,
        thread_id: str,
        msg_id: str,
        cli_msg_id: str,
        thread_type: ThreadType | str,
        r_type: int,
        source: int,
        icon: str,
    ) -> Any:
        group = self._is_group(thread_type)
        body = compact_json(
            {
                "rMsg": [
                    {
                        "gMsgID": _int_id(msg_id, "msg_id"),
                        "cMsgID": _int_id(cli_msg_id, "cli_msg_id"),
                        "msgType": 1,
                    }
                ],
                "rIcon": icon,
                "rType": r_type,
                "source": source,
            }
        )
        params: dict[str, Any] = {"react_list": [{"message": body, "clientId": self._client_id()}]}
        if group:
            params.update(grid=thread_id, imei=self.session.imei)
        else:
            params["toid"] = thread_id
        scope = "group" if group else "message"
        return await self.http.call("POST", self._url("reaction", f"/api/{scope}/reaction"), params)
