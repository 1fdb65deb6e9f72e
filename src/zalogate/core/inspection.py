"""What a channel plugin tells about its accounts from the config alone, without being built.

``channels status`` shows where an account's credentials come from and what is wrong with its
settings even when the channel cannot be set up; ``zalogate doctor`` checks every account
without touching the network. Both ask the plugin's :class:`ConfigInspector`
(``ChannelPlugin(inspector=...)``), so the CLI names no channel. A plugin without one gets
only the CLI's channel-agnostic facts and checks. Subclass it and override what applies; the
defaults add nothing.

An inspector module is imported with the plugin (by entry-point discovery): keep it light,
import the config types only for type checking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from zalogate.config import ResolvedAccount, ZalogateConfig

__all__ = [
    "ConfigFinding",
    "ConfigInspector",
    "FindingLevel",
    "policy_findings",
    "setting_path",
    "setting_text",
]

FindingLevel = Literal["ok", "warning", "error"]


@dataclass(frozen=True, slots=True)
class ConfigFinding:
    """One ``zalogate doctor`` result about an account (the CLI adds ``<channel>/<account>``)."""

    level: FindingLevel
    message: str


class ConfigInspector:
    """A channel plugin's reading of its own config (no channel is built, no network).

    Every method gets the validated root config, one resolved account (merged ``settings``,
    its ``own`` keys and the section's ``base`` keys) and the environment. Nothing returned
    may hold a secret: only where one comes from.
    """

    def account_facts(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> Mapping[str, Any]:
        """Display-safe facts for ``channels status`` (camelCase keys: ``configured``,
        ``mode``, ``tokenSource``, ``groupPolicy`` when the channel's effective policy is not
        the written one); a built channel's ``account_snapshot`` overrides them."""
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
    ) -> Sequence[str]:
        """Channel-specific warnings of an enabled account for ``channels status``.

        Args:
            origin: Where the credentials come from (``tokenSource``), if known.
            policies: Include policy warnings (off when the built channel gives its own).
            token_file: Check credential files (off when the built channel reports on them).
        """
        return ()

    def doctor_findings(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> Sequence[ConfigFinding]:
        """Every ``zalogate doctor`` check of an enabled account (policies, credentials);
        :func:`policy_findings` checks the core access keys."""
        return ()

    def login_refusal(self, channel_id: str) -> str | None:
        """Why ``channels login``/``logout`` does not apply to this channel (e.g. its
        credentials are a token in the config), or None when it may."""
        return None


def setting_text(value: Any) -> str:
    """A setting as stripped text (``""`` when it is not a string)."""
    return value.strip() if isinstance(value, str) else ""


def setting_path(account: ResolvedAccount, name: str) -> str:
    """Where ``name`` is written for ``account``: under ``accounts.<id>`` or the section."""
    if name in account.own:
        return f"channels.{account.channel}.accounts.{account.account_id}.{name}"
    return f"channels.{account.channel}.{name}"


def _group_policy(settings: Mapping[str, Any], defaults_policy: str | None) -> tuple[str, str]:
    written = settings.get("groupPolicy")
    if isinstance(written, str):
        return written, "groupPolicy"
    if defaults_policy is not None:
        return defaults_policy, "channels.defaults.groupPolicy"
    return "open", "groupPolicy is unset and so is channels.defaults.groupPolicy"


def policy_findings(config: ZalogateConfig, account: ResolvedAccount) -> list[ConfigFinding]:
    """``doctor``'s checks of the core access keys (``dmPolicy``, ``groupPolicy``), for a
    channel whose accounts use them (:func:`zalogate.core.access.policy_from_settings`)."""
    settings = account.settings
    findings: list[ConfigFinding] = []
    if settings.get("dmPolicy") == "open":
        message = 'dmPolicy is "open": anyone can message the agent'
        findings.append(ConfigFinding("warning", message))
    policy, why = _group_policy(settings, config.channels.defaults.group_policy)
    if policy == "open":
        findings.append(
            ConfigFinding(
                "warning",
                f"group policy is OPEN ({why}): every group the account is in can talk "
                'to the agent; set groupPolicy: "allowlist" and list the groups',
            )
        )
    return findings
