"""The configured OA accounts and the clients each one needs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zalogate.channels.zalooa.traits import CHANNEL_ID
from zalogate.channels.zalooa.window import Interactions
from zalogate.config.zalooa import ZalooaAccountConfig, ZalooaConfig
from zalogate.core.channel import ChannelAccount
from zalogate.core.errors import ChannelError, FailureKind
from zalogate.core.shared_state import ContactTimes
from zalogate.oa import (
    DEFAULT_API_URL,
    DEFAULT_OAUTH_URL,
    OAuthClient,
    TokenFile,
    TokenKeeper,
    TokenPair,
    TokenStore,
    TokenStores,
    ZaloOA,
)

__all__ = ["OAAccount", "configured_accounts"]

_log = logging.getLogger("zalogate.channels.zalooa")


def configured_accounts(section: dict[str, Any] | None) -> list[ChannelAccount]:
    """Every account of ``channels.zalooa`` (``default`` when no ``accounts`` are written)."""
    if section is None:
        return []
    try:
        config = ZalooaConfig.model_validate(section)
    except ValueError as exc:
        first = str(exc).splitlines()[1:2] or ["invalid"]
        raise ChannelError(f"channels.zalooa: {first[0].strip()}", kind=FailureKind.FATAL) from None
    top = config.model_dump(exclude={"accounts", "default_account"}, exclude_none=True)
    entries = config.accounts or {"default": ZalooaAccountConfig()}
    accounts = []
    for account_id, own in entries.items():
        merged = ZalooaAccountConfig.model_validate({**top, **own.model_dump(exclude_none=True)})
        accounts.append(
            ChannelAccount(CHANNEL_ID, account_id, merged.enabled is not False, merged, merged.name)
        )
    return accounts


@dataclass(slots=True)
class OAAccount:
    """The live parts of one OA account."""

    settings: ZalooaAccountConfig
    oauth: OAuthClient
    keeper: TokenKeeper
    client: ZaloOA
    interactions: Interactions
    oa_id_path: Path
    token_file: TokenFile
    store: TokenStore
    """Where the grant and a pending consent live: ``token_file``, or the cluster's."""

    @classmethod
    def build(
        cls,
        account: ChannelAccount,
        state_dir: Path,
        register_secret: Callable[[str], None] = lambda _secret: None,
        *,
        token_stores: TokenStores | None = None,
        contacts: ContactTimes | None = None,
    ) -> OAAccount:
        """Clients for ``account`` (``ChannelError`` FATAL when keys are missing); the tokens
        in the account's file, or shared through ``token_stores`` (cluster mode) keyed with
        the app secret; the reply window on ``contacts`` too when given (cluster mode)."""
        settings: ZalooaAccountConfig = account.settings
        if not settings.app_id or settings.secret_key is None:
            raise ChannelError(
                f"[{account.account_id}] set channels.zalooa appId and secretKey "
                "(Zalo developer console → your app → Settings)",
                kind=FailureKind.FATAL,
            )
        directory = state_dir / "zalooa" / account.account_id
        oauth = OAuthClient(
            settings.app_id,
            settings.secret_key.get_secret_value(),
            oauth_url=settings.oauth_url or DEFAULT_OAUTH_URL,
            pkce=settings.pkce is not False,
        )
        oa_id_path = directory / "oa_id"

        def hide(pair: TokenPair) -> None:
            register_secret(pair.access_token)
            register_secret(pair.refresh_token)

        token_file = TokenFile(directory, "grant", on_pair=hide)
        store: TokenStore = token_file
        if token_stores is not None:
            secret = settings.secret_key.get_secret_value()
            store = token_stores.shared(
                (CHANNEL_ID, account.account_id), secret=secret, local=token_file
            )
        keeper = TokenKeeper(
            oauth,
            store,
            oa_id=settings.oa_id or account.account_id,
            on_alert=lambda text: _log.error("[%s] %s", account.account_id, text),
        )
        client = ZaloOA(keeper, api_url=settings.api_url or DEFAULT_API_URL)
        interactions = Interactions(
            directory / "interactions.json",
            shared=contacts,
            scope=(CHANNEL_ID, account.account_id),
        )
        return cls(settings, oauth, keeper, client, interactions, oa_id_path, token_file, store)

    @property
    def oa_id(self) -> str | None:
        """The configured OA id, else the one the last consent reported."""
        if self.settings.oa_id:
            return self.settings.oa_id
        try:
            return self.oa_id_path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def remember_oa_id(self, oa_id: str) -> None:
        """Keep the OA id a consent callback reported."""
        self.oa_id_path.parent.mkdir(parents=True, exist_ok=True)
        self.oa_id_path.write_text(oa_id, encoding="utf-8")

    async def aclose(self) -> None:
        """Close the clients."""
        await self.client.aclose()
        await self.oauth.aclose()
