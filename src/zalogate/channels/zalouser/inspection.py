"""What the ``zalouser`` config says without building the channel (``doctor``).

A personal account's credentials are a saved session (``channels login``), not config
values: only the core access keys are checked here. Imported with the plugin: core only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zalogate.core.inspection import ConfigFinding, policy_findings

if TYPE_CHECKING:
    from zalogate.config import ResolvedAccount, ZalogateConfig

__all__ = ["INSPECTOR", "ZalouserConfigInspector"]


class ZalouserConfigInspector:
    """The ``zalouser`` plugin's :class:`~zalogate.core.inspection.ConfigInspector`."""

    def account_facts(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> dict[str, Any]:
        """Nothing beyond the CLI's own facts: the session is known once the channel is built."""
        return {}

    def account_warnings(
        self,
        config: ZalogateConfig,
        account: ResolvedAccount,
        env: Mapping[str, str],
        *,
        origin: str | None,
        policies: bool,
        token_file: bool,
    ) -> list[str]:
        """None: the built channel reports a missing session itself."""
        return []

    def doctor_findings(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> list[ConfigFinding]:
        """The open DM and group policy checks."""
        return policy_findings(config, account)

    def login_refusal(self, channel_id: str) -> None:
        """None: accounts log in with a QR code."""


INSPECTOR = ZalouserConfigInspector()
