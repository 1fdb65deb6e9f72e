"""Configuration: the JSON5 file, ``${VAR}`` substitution, the strict schema, accounts.

Typical use::

    from zalogate.config import load_config, resolve_accounts, state_dir

    config = load_config()                   # or load_config(Path("zalogate.json5"))
    for account in resolve_accounts(config, "zalo"):
        print(account.account_id, account.enabled, account.settings.get("dmPolicy"))

Every problem in a config is collected into one :class:`ConfigError`.
"""

from __future__ import annotations

from zalogate.config.accounts import (
    DEFAULT_ACCOUNT_ID,
    ResolvedAccount,
    default_account_id,
    normalize_account_id,
    resolve_accounts,
)
from zalogate.config.channel_fields import MarkdownConfig
from zalogate.config.errors import ConfigError
from zalogate.config.loading import (
    CONFIG_ENV,
    CONFIG_FILE_NAME,
    STATE_DIR_ENV,
    config_path,
    installed_channel_ids,
    load_config,
    parse_config,
    state_dir,
)
from zalogate.config.schema import (
    AgentConfig,
    ChannelDefaults,
    ChannelsConfig,
    CommandAgentConfig,
    GatewayConfig,
    GroupChatConfig,
    MessagesConfig,
    OpenAIAgentConfig,
    PluginEntryConfig,
    PluginsConfig,
    SessionConfig,
    ZalogateConfig,
)
from zalogate.config.zalo import ZaloAccountConfig, ZaloConfig
from zalogate.config.zalouser import (
    ZalouserAccountConfig,
    ZalouserApiHosts,
    ZalouserConfig,
    ZalouserGroupConfig,
    ZalouserToolPolicy,
)

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE_NAME",
    "DEFAULT_ACCOUNT_ID",
    "STATE_DIR_ENV",
    "AgentConfig",
    "ChannelDefaults",
    "ChannelsConfig",
    "CommandAgentConfig",
    "ConfigError",
    "GatewayConfig",
    "GroupChatConfig",
    "MarkdownConfig",
    "MessagesConfig",
    "OpenAIAgentConfig",
    "PluginEntryConfig",
    "PluginsConfig",
    "ResolvedAccount",
    "SessionConfig",
    "ZaloAccountConfig",
    "ZaloConfig",
    "ZalogateConfig",
    "ZalouserAccountConfig",
    "ZalouserApiHosts",
    "ZalouserConfig",
    "ZalouserGroupConfig",
    "ZalouserToolPolicy",
    "config_path",
    "default_account_id",
    "installed_channel_ids",
    "load_config",
    "normalize_account_id",
    "parse_config",
    "resolve_accounts",
    "state_dir",
]
