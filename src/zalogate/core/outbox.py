"""The outbox log: what happened to each reply chunk, written the instant it happened.

The pipeline's durable record of a chunk is its ``pipeline_deliveries`` row, but a store
commit may wait behind others (measured: 30-140 ms under a burst, with the event loop holding
the GIL), and a process killed in that window resent the chunk on replay. So each chunk also
gets a line in ``<state dir>/outbox.log``, its outcome right after Zalo answered, one
``write(2)`` on the event loop before anything else runs. The kernel keeps what was written
when the process dies (SIGKILL, OOM kill); only a power loss can drop the tail that SQLite has
not committed yet, unless ``fsync`` is on (``messages.delivery.fsync``: a send's slot is
freed only once its line is on the disk, :meth:`Outbox.flush`).

Lines are JSON: ``{"k": [channel, account, message id, seq], "s": status, "i": [ids]}``;
the last line of a key wins. Statuses (see :func:`next_step`):

* ``sending`` / ``resending``: the intent, written before the call when the chunk's send may
  already have happened once (a retry or a replay: :class:`~.delivery.Deliverer`), or when
  unknown outcomes are never resent; a first attempt writes none, since a chunk without a
  status is sent on replay anyway, which is the one resend ``resend_unknown`` allows;
* ``sent`` / ``partial``: Zalo confirmed it (``i``: its message ids);
* ``unknown``: the send may or may not have reached Zalo (reset after the request was
  written, read timeout); ``abandoned``: a resend whose outcome is unknown again;
* ``failed``: Zalo refused it or it never left (safe to send again).

The log is rewritten (write, fsync, rename) with only the chunks of messages still in
progress when it grows past ``max_bytes``, and read back at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import logging
import os
from collections.abc import Callable, Sequence
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Literal, Protocol

from zalogate.core.errors import describe_error

__all__ = [
    "OUTBOX_FILENAME",
    "ChunkKey",
    "DeliveryLog",
    "MessageKey",
    "Outbox",
    "Step",
    "next_step",
]

log = logging.getLogger(__name__)

OUTBOX_FILENAME = "outbox.log"
MessageKey = tuple[str, str, str]
"""(channel, account id, message id)."""
ChunkKey = tuple[str, str, str, int]
"""(channel, account id, message id, seq)."""
Step = Literal["send", "resend", "skip", "abandon"]

DONE_STATUSES = frozenset({"sent", "partial", "abandoned"})


def next_step(status: str | None, *, resend_unknown: bool) -> Step:
    """What to do with a chunk whose last recorded status is ``status`` (None: none).

    ``sending`` means the process died during the call, ``unknown`` that the call's outcome
    was lost: both may have reached Zalo, so they are resent once (``resend``) when
    ``resend_unknown``, else given up (``abandon``). A resend that was itself cut off
    (``resending``) is never resent again.
    """
    if status is None or status == "failed":
        return "send"
    if status in DONE_STATUSES:
        return "skip"
    if status in ("sending", "unknown"):
        return "resend" if resend_unknown else "abandon"
    return "abandon"  # resending: a resend of a resend would be one send too many


class DeliveryLog(Protocol):
    """Where the :class:`~.delivery.Deliverer` notes each chunk's status the instant it is
    known: :class:`Outbox` on one node; in a cluster, the message's claim as well
    (``zalogate.cluster.delivery_records``), so the node that takes a message over reads them.
    """

    fsync: bool
    """:meth:`flush` is awaited after each outcome, before the account's send slot is freed."""
    flush_intents: bool
    """:meth:`flush` is also awaited after an intent (``sending``), before the send."""

    def note(self, key: ChunkKey, status: str, ids: Sequence[str] = ()) -> None: ...

    async def flush(self, message: MessageKey | None = None) -> None:
        """Wait until the notes so far (of ``message``) are kept."""

    def has(self, key: MessageKey) -> bool: ...

    def statuses(self, key: MessageKey) -> dict[int, tuple[str, tuple[str, ...]]]: ...

    def finish(self, key: MessageKey) -> None: ...


class Outbox:
    """The log file and the statuses of the chunks of messages in progress.

    Args:
        path: The log file (created 0600).
        max_bytes: Size after which the log is rewritten with the live chunks only.
        fsync: :meth:`flush` waits until the lines are on the disk (they then survive a power
            loss, not only a kill); without it, it returns at once.
    """

    flush_intents = False  # the log is written at once: an intent needs no flush of its own

    def __init__(
        self, path: Path, *, max_bytes: int = 4 * 1024 * 1024, fsync: bool = False
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._lines = 0
        self._synced = 0
        self._flushing: asyncio.Future[None] | None = None
        self._live: dict[MessageKey, dict[int, tuple[str, tuple[str, ...]]]] = {}
        self._fd: int | None = None
        self._size = 0
        self._broken = False
        self._load()

    # -- reading ---------------------------------------------------------------------------
    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("outbox: cannot read %s: %s", self.path, describe_error(exc))
            return
        for line in data.splitlines():
            try:
                item = json.loads(line)
                channel, account, message_id, seq = item["k"]
                status, ids = str(item["s"]), tuple(str(i) for i in item.get("i") or ())
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by the crash: its chunk counts as not started
            self._remember((str(channel), str(account), str(message_id)), int(seq), status, ids)
        if self._live:
            log.info("outbox: %d message(s) had replies in progress", len(self._live))

    def statuses(self, key: MessageKey) -> dict[int, tuple[str, tuple[str, ...]]]:
        """The known chunk statuses of one message (seq -> (status, ids))."""
        return dict(self._live.get(key, {}))

    def has(self, key: MessageKey) -> bool:
        """True when something of this message is known here."""
        return key in self._live

    # -- writing ---------------------------------------------------------------------------
    def note(self, key: ChunkKey, status: str, ids: Sequence[str] = ()) -> None:
        """Append one line for ``key`` (one ``write``); never raises (a full disk is logged,
        the status is still kept in memory for this process)."""
        ids = tuple(ids)
        channel, account, message_id, seq = key
        self._live.setdefault((channel, account, message_id), {})[seq] = (status, ids)
        self._append(_line(key, status, ids))

    async def flush(self, message: MessageKey | None = None) -> None:
        """With ``fsync``: wait until every line written so far (of any ``message``) is on
        the disk. One ``fdatasync``, in a thread (the event loop keeps running), serves every
        caller that came meanwhile: under load a flush covers many sends' lines."""
        target = self._lines
        while self.fsync and self._synced < target:
            running = self._flushing
            if running is None:
                running = self._flushing = asyncio.ensure_future(self._sync())
            await asyncio.shield(running)

    async def _sync(self) -> None:
        upto, fd = self._lines, self._fd
        try:
            if fd is not None:
                await asyncio.to_thread(os.fdatasync, fd)
        except OSError as exc:  # the file is then as durable as without fsync
            log.error("outbox: cannot flush %s: %s", self.path, describe_error(exc))
        finally:
            self._synced = max(self._synced, upto)
            self._flushing = None

    def finish(self, key: MessageKey) -> None:
        """Forget a message whose chunks are all recorded in the store."""
        self._live.pop(key, None)
        if self._size > self.max_bytes:
            self._rewrite()

    def close(self) -> None:
        """Close the file (the statuses stay in memory)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _remember(self, key: MessageKey, seq: int, status: str, ids: tuple[str, ...]) -> None:
        self._live.setdefault(key, {})[seq] = (status, ids)

    def _append(self, data: bytes) -> None:
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._size = os.fstat(self._fd).st_size
            _write(self._fd, data)
            self._lines += 1
            self._size += len(data)
            self._broken = False
        except OSError as exc:
            if not self._broken:  # once per outage, not once per chunk
                log.error("outbox: cannot write %s: %s", self.path, describe_error(exc))
            self._broken = True

    def _rewrite(self) -> None:
        """Replace the log by the live chunks only (write a copy, fsync, rename)."""
        data = b"".join(
            _line((*key, seq), status, ids)
            for key, chunks in self._live.items()
            for seq, (status, ids) in chunks.items()
        )
        temp = self.path.with_name(self.path.name + ".new")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            self.close()
            os.replace(temp, self.path)
            self._size = len(data)
        except OSError as exc:
            log.error("outbox: cannot rewrite %s: %s", self.path, describe_error(exc))


def _line(key: ChunkKey, status: str, ids: Sequence[str]) -> bytes:
    """One log line, the JSON that ``json.dumps`` would give, built without an encoder per
    call (a hot path: one line per reply chunk)."""
    channel, account, message_id, seq = key
    quoted = ",".join(map(encode_basestring_ascii, ids))
    return (
        f'{{"k":[{encode_basestring_ascii(channel)},{encode_basestring_ascii(account)},'
        f'{encode_basestring_ascii(message_id)},{int(seq)}],"s":"{status}","i":[{quoted}]}}\n'
    ).encode()


def _libc_write() -> Callable[[int, bytes, int], int] | None:
    """libc's ``write`` called with the GIL held (``ctypes.PyDLL``), or None."""
    try:
        write = ctypes.PyDLL(None, use_errno=True).write
    except (OSError, AttributeError):
        return None
    # No argtypes: converting through them doubled the call's cost. ctypes passes the int
    # arguments as C ints, which libffi widens; a line is far below 2 GiB.
    write.restype = ctypes.c_ssize_t
    return write


_LIBC_WRITE = _libc_write()


def _write(fd: int, data: bytes) -> None:
    """Append ``data`` without letting go of the GIL.

    ``os.write`` releases the GIL, and the store's writer thread, usually waiting for it,
    takes it: the event loop then waits for it to be handed back, and the writer commits
    smaller batches more often. Measured on ``bench/core_pipeline.py``: 112 µs a line with
    ``os.write`` under cProfile, against a 3 µs syscall. A line is a few hundred bytes to a
    regular file, so the call does not block for long.
    """
    write = _LIBC_WRITE
    if write is None:
        os.write(fd, data)
        return
    while data:
        done = write(fd, data, len(data))
        if done < 0:
            code = ctypes.get_errno()
            if code == errno.EINTR:
                continue
            raise OSError(code, os.strerror(code))
        data = data[done:]
