"""What the ``zalooa`` config says without building the channel (``channels status``, ``doctor``).

The OA's tokens come from a consent (``channels login``), not from the config; the config holds
the app's keys. Imported with the plugin: core only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zalogate.core.inspection import (
    ConfigFinding,
    ConfigInspector,
    policy_findings,
    setting_path,
    setting_text,
)

if TYPE_CHECKING:
    from zalogate.config import ResolvedAccount, ZalogateConfig

__all__ = ["INSPECTOR", "ZalooaConfigInspector"]


def _written(settings: Mapping[str, Any], key: str) -> bool:
    value = settings.get(key)
    return bool(setting_text(value)) or (value is not None and not isinstance(value, str))


class ZalooaConfigInspector(ConfigInspector):
    """The ``zalooa`` plugin's :class:`~zalogate.core.inspection.ConfigInspector`."""

    def account_facts(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> Mapping[str, Any]:
        """``configured`` when the app's keys are written; tokens come from a consent."""
        settings = account.settings
        return {
            "configured": _written(settings, "appId") and _written(settings, "secretKey"),
            "mode": "webhook",
            "tokenSource": "consent (channels login)",
        }

    def doctor_findings(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> list[ConfigFinding]:
        """The app keys, the webhook signing key, the callback URL, and the policies."""
        settings = account.settings
        findings = list(policy_findings(config, account))
        for key, where in (("appId", "the app id"), ("secretKey", "the app's Secret Key")):
            if not _written(settings, key):
                findings.append(
                    ConfigFinding(
                        "error",
                        f"{setting_path(account, key)} is not set: copy {where} from the "
                        "Zalo developer console (app → Settings)",
                    )
                )
        if not _written(settings, "oaSecretKey"):
            findings.append(
                ConfigFinding(
                    "warning",
                    f"{setting_path(account, 'oaSecretKey')} is not set: webhook events are "
                    "acknowledged and dropped until the OA Secret Key is configured",
                )
            )
        if not _written(settings, "redirectUri"):
            findings.append(
                ConfigFinding(
                    "warning",
                    f"{setting_path(account, 'redirectUri')} is not set: `channels login` "
                    "needs the Callback URL saved in the Zalo console",
                )
            )
        return findings


INSPECTOR = ZalooaConfigInspector()
