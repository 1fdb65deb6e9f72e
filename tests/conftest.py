"""The network guard: a test that tries to reach beyond this machine fails.

Tests talk to fakes on loopback only (conventions: "the network is a test failure"). At
import, before any test module, this conftest wraps the few calls every Python connection
goes through, and lets pass only loopback (127.0.0.0/8, ``::1``, ``localhost``) and
``AF_UNIX``:

* ``socket.socket.connect`` / ``connect_ex`` (blocking sockets, and asyncio's selector loop,
  which connects non-blocking sockets with them; ``ssl.SSLSocket`` inherits them);
* ``socket.create_connection``, ``socket.getaddrinfo`` and ``gethostbyname(_ex)`` (a name
  other than ``localhost`` is refused before any DNS query; IP literals resolve without one
  and are checked at the connect);
* ``create_connection``, ``sock_connect`` and ``getaddrinfo`` of asyncio's loops and of
  ``uvloop.Loop``, whose C code connects and resolves without the ``socket`` module.

A refused call raises `NetworkAccessError` and is also recorded, and the test fails after
its setup, call or teardown even if the code under test caught the error (a retry loop, a
probe that reports "unreachable"). Child processes are out of reach: the zca-js conformance
tests (node), the ``zalogate`` CLI subprocess tests and the crash workers run their own
interpreters, which this guard does not patch; UDP ``sendto`` without ``connect`` is not
watched either (nothing here sends datagrams).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import pytest

pytest_plugins = ["pytester"]

_F = TypeVar("_F", bound=Callable[..., Any])

_attempts: list[str] = []
"""Refused destinations since the current test phase began."""


class NetworkAccessError(RuntimeError):
    """A test tried to reach a host that is not this machine."""


def _loopback_host(host: object) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard, nothing is looked up
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def _numeric(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _refuse(what: str, host: object, port: object = None) -> None:
    target = f"{host}:{port}" if port is not None else str(host)
    _attempts.append(target)
    raise NetworkAccessError(f"{what} to {target}: tests may only reach loopback")


def _check_address(what: str, family: int, address: Any) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX and the like stay on this machine
    if isinstance(address, tuple) and address:
        host = address[0]
        port = address[1] if len(address) > 1 else None
        if not _loopback_host(host):
            _refuse(what, host, port)


def _connect_checked(original: _F) -> _F:
    @functools.wraps(original)
    def connect(self: socket.socket, address: Any, /) -> Any:
        _check_address("socket connect", self.family, address)
        return original(self, address)

    return connect  # type: ignore[return-value]


def _create_connection_checked(original: _F) -> _F:
    @functools.wraps(original)
    def create_connection(address: tuple[Any, ...], *args: Any, **kwargs: Any) -> Any:
        if not _loopback_host(address[0]):
            _refuse("socket.create_connection", address[0], address[1])
        return original(address, *args, **kwargs)

    return create_connection  # type: ignore[return-value]


def _lookup_checked(original: _F) -> _F:
    @functools.wraps(original)
    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not (_loopback_host(host) or _numeric(host)):
            _refuse("name lookup", host)
        return original(host, *args, **kwargs)

    return lookup  # type: ignore[return-value]


def _loop_methods_checked(loop_class: type[Any]) -> None:
    create_connection = loop_class.create_connection
    sock_connect = loop_class.sock_connect
    getaddrinfo = loop_class.getaddrinfo

    @functools.wraps(create_connection)
    async def guarded_create_connection(
        self: Any, protocol_factory: Any, host: Any = None, port: Any = None, **kwargs: Any
    ) -> Any:
        if host is not None and not _loopback_host(host):
            _refuse("loop.create_connection", host, port)
        return await create_connection(self, protocol_factory, host, port, **kwargs)

    @functools.wraps(sock_connect)
    async def guarded_sock_connect(self: Any, sock: socket.socket, address: Any) -> Any:
        _check_address("loop.sock_connect", sock.family, address)
        return await sock_connect(self, sock, address)

    @functools.wraps(getaddrinfo)
    async def guarded_getaddrinfo(self: Any, host: Any, *args: Any, **kwargs: Any) -> Any:
        if not (_loopback_host(host) or _numeric(host)):
            _refuse("loop.getaddrinfo", host)
        return await getaddrinfo(self, host, *args, **kwargs)

    loop_class.create_connection = guarded_create_connection
    loop_class.sock_connect = guarded_sock_connect
    loop_class.getaddrinfo = guarded_getaddrinfo


def _install() -> None:
    socket.socket.connect = _connect_checked(socket.socket.connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_checked(socket.socket.connect_ex)  # type: ignore[method-assign]
    socket.create_connection = _create_connection_checked(socket.create_connection)
    socket.getaddrinfo = _lookup_checked(socket.getaddrinfo)
    socket.gethostbyname = _lookup_checked(socket.gethostbyname)
    socket.gethostbyname_ex = _lookup_checked(socket.gethostbyname_ex)
    _loop_methods_checked(asyncio.BaseEventLoop)
    try:
        import uvloop
    except ImportError:  # no uvloop on this platform: asyncio's loop is all there is
        return
    _loop_methods_checked(uvloop.Loop)


_install()


def _guarded_phase(phase: str) -> Callable[[pytest.Item], Generator[None, None, None]]:
    """A ``pytest_runtest_<phase>`` wrapper that fails the test for what the guard refused."""

    @pytest.hookimpl(wrapper=True)
    def hook(item: pytest.Item) -> Generator[None, None, None]:
        if phase == "setup":
            _attempts.clear()  # a new test begins
        try:
            return (yield)
        finally:
            if _attempts:
                refused, _attempts[:] = list(_attempts), []
                pytest.fail(
                    f"the network guard refused {', '.join(refused)} during {phase}"
                    " (tests may only reach loopback)",
                    pytrace=False,
                )

    return hook


pytest_runtest_setup = _guarded_phase("setup")
pytest_runtest_call = _guarded_phase("the test")
pytest_runtest_teardown = _guarded_phase("teardown")


@pytest.fixture
def refused_connections() -> list[str]:
    """What the guard refused so far in this test; a test that empties it does not fail."""
    return _attempts


@pytest.fixture(autouse=True, scope="session")
def _default_port_is_taken() -> Generator[None, None, None]:
    """Hold the gateway's default port for the whole run, so that a test which forgets
    ``gateway.port: 0`` fails at once ("address in use") instead of failing only when some
    other run, or a real gateway on this machine, happens to hold it."""
    from zalogate.runtime.endpoint import DEFAULT_PORT

    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", DEFAULT_PORT))
        holder.listen(1)
    except OSError:
        pass  # already held by someone else: the effect is the same
    try:
        yield
    finally:
        holder.close()
