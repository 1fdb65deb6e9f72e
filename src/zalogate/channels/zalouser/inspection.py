"""What the ``zalouser`` config says without building the channel (``doctor``).

A personal account's credentials are a saved session (``channels login``), not config
values: only the core access keys are checked here. Imported with the plugin: core only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from zalogate.core.inspection import ConfigFinding, ConfigInspector, policy_findings

if TYPE_CHECKING:
    from zalogate.config import ResolvedAccount, ZalogateConfig

__all__ = ["INSPECTOR", "ZalouserConfigInspector"]


class ZalouserConfigInspector(ConfigInspector):
    """The ``zalouser`` plugin's :class:`~zalogate.core.inspection.ConfigInspector`: the
    session is known once the channel is built, so only ``doctor`` has checks to add."""

    def doctor_findings(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> list[ConfigFinding]:
        """The open DM and group policy checks."""
        return policy_findings(config, account)


INSPECTOR = ZalouserConfigInspector()
