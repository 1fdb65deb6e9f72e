"""A sandbox session: a simulator plus a real gateway configured to talk to it.

Usage::

    async with Sandbox() as sandbox:
        await sandbox.say("xin chào")
        challenge = await sandbox.next_reply(timeout=10)   # the pairing code
        await sandbox.approve()
        await sandbox.say("hello")
        answer = await sandbox.next_reply(timeout=10)      # the agent's answer

Everything in between is the product: the channel's monitor, the durable inbox, the
pipeline with the DM policy and pairing, the agent, chunking and the channel's sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from zalogate.config import DEFAULT_ACCOUNT_ID, ZalogateConfig, parse_config
from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin
from zalogate.core.history import HistoryEntry, group_history_key
from zalogate.core.pairing import PairingError, PairingRequest
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.plugins import PluginError, load_plugin
from zalogate.sandbox.operator_lines import operator_lines
from zalogate.sandbox.simulators import BotReply, SandboxError, Simulator, simulator_for

__all__ = ["Sandbox", "sandbox_config_data"]

_APPROVE_POLL = 0.05


def sandbox_config_data(
    user_config: Mapping[str, Any] | None, simulator: Simulator
) -> dict[str, Any]:
    """The config the sandbox gateway runs with, as data for ``parse_config``.

    The user's config (agent, session, messages, policies of the simulated channel) is kept;
    the other channels are dropped, and the simulated channel's credentials and endpoints
    point at the simulator.
    """
    data = dict(user_config or {})
    channels = data.get("channels")
    channels = dict(channels) if isinstance(channels, Mapping) else {}
    block = channels.get(simulator.channel)
    block = block if isinstance(block, Mapping) else {}
    chosen: dict[str, Any] = {simulator.channel: simulator.channel_config(block)}
    if isinstance(channels.get("defaults"), Mapping):
        chosen["defaults"] = channels["defaults"]
    data["channels"] = chosen
    return data


class Sandbox:
    """A running sandbox: ``async with Sandbox(...) as sandbox``.

    Args:
        channel: The channel to simulate (``zalo``).
        user_config: The user's config as data (e.g. to try the ``openai`` agent); None for
            the defaults (the echo agent, DM policy ``pairing``).
        config_source: Names the user's config in error messages.
        state_dir: Where the gateway keeps its state; default: a temporary folder removed
            afterwards.
        env: Environment for ``${VAR}`` in the user's config; default ``os.environ``.
        info: Receives progress lines (a login step).

    Raises:
        SandboxError: No simulator for ``channel``.
        zalogate.config.ConfigError: The resulting config is invalid.
    """

    def __init__(
        self,
        channel: str = "zalo",
        *,
        user_config: Mapping[str, Any] | None = None,
        config_source: str = "<sandbox>",
        state_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        info: Callable[[str], None] | None = None,
    ) -> None:
        self.channel = channel
        self.simulator = simulator_for(channel)
        self._user_config = user_config
        self._config_source = config_source
        self._state_dir = state_dir
        self._env = env
        self._info = info or (lambda line: None)
        self._stack: contextlib.AsyncExitStack | None = None
        self._gateway: Gateway | None = None
        self.config: ZalogateConfig | None = None

    @property
    def gateway(self) -> Gateway:
        """The running gateway."""
        if self._gateway is None:
            raise SandboxError("the sandbox is not running")
        return self._gateway

    @property
    def state_dir(self) -> Path:
        """The gateway's state dir."""
        return self.gateway.state_dir

    @property
    def agent_name(self) -> str:
        """The agent type the gateway runs (``echo`` unless the config names another)."""
        return self.config.agent.type if self.config is not None else "echo"

    async def __aenter__(self) -> Sandbox:
        stack = contextlib.AsyncExitStack()
        try:
            await self._start(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        self._gateway = None
        if stack is not None:
            await stack.aclose()

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        if self._state_dir is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="zalogate-sandbox-"))
            state_dir = Path(folder) / "state"
        else:
            state_dir = self._state_dir
        await self.simulator.start()
        stack.push_async_callback(self.simulator.stop)
        data = sandbox_config_data(self._user_config, self.simulator)
        env = dict(os.environ if self._env is None else self._env)
        self.config = parse_config(data, env=env, source=self._config_source)
        await self.simulator.prepare(self.config, state_dir, self._info)
        stack.enter_context(operator_lines(self._info))
        gateway = Gateway(
            self.config,
            state_dir=state_dir,
            channels=[self._channel_plugin()],
            http_host="127.0.0.1",
            http_port=0,
            console_log=False,
            shutdown_timeout=5.0,
        )
        await gateway.start()
        stack.push_async_callback(gateway.stop)
        self._gateway = gateway
        self.simulator.attach(gateway.url)

    def _channel_plugin(self) -> ChannelPlugin:
        """The installed plugin of the simulated channel, handing it the simulator's extras."""
        try:
            plugin = load_plugin(self.channel)
        except PluginError as exc:
            raise SandboxError(str(exc)) from exc
        extras = self.simulator.context_extras()

        def create(context: ChannelContext) -> Channel:
            context.extras.update(extras)
            return plugin.create(context)

        return ChannelPlugin(
            id=plugin.id, label=plugin.label, create=create, description=plugin.description
        )

    def console_link(self) -> str:
        """A one-time login link to the sandbox gateway's operator console."""
        from zalogate.console import login_link
        from zalogate.runtime.control import read_token_file

        token = read_token_file(self.state_dir)
        if not token:
            raise SandboxError("the sandbox gateway has no control token (see its log)")
        return login_link(self.gateway.url, token)

    # -- playing the user ----------------------------------------------------------------

    async def say(self, text: str) -> None:
        """The sandbox user writes ``text`` to the bot in a direct chat."""
        await self.simulator.say(text)

    async def say_in_group(self, text: str, *, mention: bool = False) -> str | None:
        """The sandbox user writes ``text`` in the sandbox group.

        Returns:
            A note when the simulated Zalo does not pass the message on (see
            :meth:`Simulator.say_in_group`), else None.
        """
        return await self.simulator.say_in_group(text, mention=mention)

    async def next_reply(self, timeout: float) -> BotReply | None:  # noqa: ASYNC109
        """The bot's next reply, or None when none arrived within ``timeout`` seconds."""
        return await self.simulator.next_reply(timeout)

    async def group_history(self) -> list[HistoryEntry]:
        """The sandbox group's pending history, oldest first.

        These are the group messages the bot did not answer (no mention); the gateway keeps
        them and puts them before the next message it answers in that group, then clears
        them.
        """
        shared = self.gateway.shared
        if shared is None:  # pragma: no cover - a started gateway has its shared state
            raise SandboxError("the sandbox is not running")
        key = group_history_key(self.channel, DEFAULT_ACCOUNT_ID, self.simulator.group_id)
        return await shared.history.peek(key)

    async def approve(self, *, wait: float = 0.0) -> PairingRequest:
        """Approve the sandbox user's pending pairing request, as ``pairing approve`` does.

        Args:
            wait: Seconds to wait for the request to appear (the gateway records it while
                it handles the user's first message).

        Raises:
            SandboxError: Nothing is pending for the sandbox user.
        """
        shared = self.gateway.shared
        if shared is None:  # pragma: no cover - a started gateway has its shared state
            raise SandboxError("the sandbox is not running")
        pairing = shared.pairing
        deadline = time.monotonic() + wait
        while True:
            pending = await pairing.list_pending(self.channel)
            mine = [r for r in pending if r.id == self.simulator.user_id]
            if mine:
                break
            if time.monotonic() >= deadline:
                raise SandboxError("no pairing request is pending: send the bot a message first")
            await asyncio.sleep(_APPROVE_POLL)
        try:
            return await pairing.approve(self.channel, mine[-1].code)
        except PairingError as exc:
            raise SandboxError(str(exc)) from exc
