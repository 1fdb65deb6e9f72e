"""The inbox on JetStream: admit = a replicated publish, processing by partition consumers.

``admit`` publishes the message to ``<prefix>.in.<partition>`` with ``Nats-Msg-Id`` =
channel:account:message id and returns once JetStream acknowledged it (the stream is
replicated, so the message survives the loss of a NATS server); a redelivered message inside
the dedupe window is answered as a duplicate and not stored again.

A conversation always lands in the same partition. Each partition has one durable pull
consumer shared by every node, with at most one unacknowledged message: a partition is
processed one message at a time across the cluster (so a conversation keeps its order, also
when its node dies mid-message) while the partitions run in parallel on all nodes, at most
``max_concurrency`` per node. Before a message runs, the node claims it
(:mod:`zalogate.cluster.claims`, every delivery, the first too): a message already done (its
ack lost with a NATS server, or its delivery forgotten by a consumer leader that died) is
acknowledged without running again, one that a live node runs is handed back with a delay,
and one whose node is gone is taken over and run as a replay, with the outcomes of the reply
chunks that node wrote into the claim. The claim is set done before the ack; claim, done
mark and ack are retried through a leader election (``settle_time``), and a claim without an
answer hands the message back unrun. A node that dies leaves its message
unacknowledged and JetStream hands it to another node after the ack wait
(the lease TTL); a node that stops cleanly hands its claims back and naks what it fetched and
did not finish, so another node takes it at once. A transient failure hands the claim back and
is retried with a growing delay (the partition waits, as
a lane does in the single-node inbox); after ``max_attempts`` or on a non-retryable error the
message goes to the dead-letter stream.

A node whose slots are all taken issues no new pull request (the parked ones run out), so a
partition's next message goes to a node that can start it instead of waiting, with its whole
partition, behind a busy node's queue; a freed slot goes to the waiting message with the most
messages of its partition behind it (the longest chain first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from zalogate.cluster.claims import Claim, Claims, Verdict
from zalogate.cluster.connection import Handles, settle
from zalogate.cluster.slots import PrioritySlots
from zalogate.core.channel import Admission
from zalogate.core.errors import describe_error, is_retryable
from zalogate.core.ingress import EntryContext, Handler, current_entry
from zalogate.core.model import InboundMessage

__all__ = ["JetStreamInbox", "JetStreamInboxConfig", "message_id_header"]

log = logging.getLogger("zalogate.cluster")


def message_id_header(message: InboundMessage) -> str:
    """The ``Nats-Msg-Id`` of ``message``: JetStream drops a second publish of it."""
    return f"{message.channel}:{message.account_id}:{message.message_id}"


@dataclass(frozen=True, slots=True)
class JetStreamInboxConfig:
    """Tuning of the JetStream inbox (from ``gateway.cluster``)."""

    max_concurrency: int = 64
    max_attempts: int = 8
    ack_wait: float = 10.0
    """Seconds before an unacknowledged message goes to another node (the lease TTL)."""
    publish_timeout: float = 10.0
    settle_time: float = 30.0
    """Seconds the ack is retried (the claims have their own): after the loss of a NATS
    server JetStream answers nothing until the new leaders are elected."""
    retry_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 15.0, 60.0, 180.0)
    fetch_expiry: float = 5.0
    """Seconds a pull request waits at the server for its partition's next message."""


class JetStreamInbox:
    """The ``Admitter``/inbox seam over a partitioned, replicated JetStream stream."""

    def __init__(
        self,
        handles: Handles,
        handler: Handler,
        *,
        claims: Claims,
        config: JetStreamInboxConfig | None = None,
    ) -> None:
        self._client = handles.client
        self._js = handles.js
        self._layout = handles.layout
        self._claims = claims
        self._handler = handler
        self.config = config or JetStreamInboxConfig()
        self._slots = PrioritySlots(self.config.max_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._subs: list[Any] = []
        self._held: dict[int, Msg] = {}
        """Fetched and not yet acknowledged, by stream sequence: naked on a clean stop."""
        self._room = asyncio.Event()
        self._room.set()
        self._running = False
        self.asking = 0
        """Pull requests of this node waiting at the server for a message."""
        self.processed = 0
        self.dead_lettered = 0
        self.skipped = 0
        """Redeliveries of messages already handled (their first ack was lost)."""
        self.deferred = 0
        """Deliveries handed back unrun because another live node runs the message."""

    async def admit(self, message: InboundMessage) -> Admission:
        """Publish ``message`` to its partition; return after JetStream's acknowledgement."""
        partition = self._layout.partition_of(message.conversation_key)
        ack = await self._js.publish(
            self._layout.inbox_subject(partition),
            message.model_dump_json().encode(),
            timeout=self.config.publish_timeout,
            headers={"Nats-Msg-Id": message_id_header(message)},
        )
        return Admission(int(ack.seq), duplicate=bool(ack.duplicate))

    async def start(self) -> None:
        """Create (or join) the partition consumers and start fetching."""
        if self._running:
            return
        self._running = True
        partitions = range(self._layout.partitions)
        # Together: on a new stream each consumer waits for its own leader election.
        subs = await asyncio.gather(*(settle(partial(self._subscribe, p)) for p in partitions))
        self._subs = list(subs)
        for partition, sub in zip(partitions, subs, strict=True):
            task = asyncio.create_task(self._consume(sub), name=f"inbox-partition-{partition}")
            self._tasks.add(task)

    async def _subscribe(self, partition: int) -> Any:
        return await self._js.pull_subscribe(
            self._layout.inbox_subject(partition),
            durable=self._layout.consumer(partition),
            stream=self._layout.inbox_stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=1,
                ack_wait=self.config.ack_wait,
                max_deliver=-1,
            ),
        )

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 (a grace period)
        """Stop fetching; wait up to ``timeout`` for running handlers, then cancel them and nak
        every message this node holds unfinished, so that another node takes it at once."""
        if not self._running:
            return
        self._running = False
        for task in self._tasks - self._busy:
            task.cancel()
        if self._busy:
            _, still = await asyncio.wait(set(self._busy), timeout=timeout)
            for task in still:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # First: a pull request still parked at the server would get the naked message back.
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs.clear()
        await self._hand_back()

    async def _hand_back(self) -> None:
        """Nak the messages fetched and not finished, confirmed (as ``ack_sync`` confirms)."""
        held, self._held = list(self._held.values()), {}
        for msg in held:
            claim = self._claims.held.get(msg.metadata.sequence.stream)
            if claim is not None:  # first: the next node takes it over with its chunk outcomes
                await self._claims.release(claim, within=2.0)
            try:
                await self._client.request(msg.reply, Msg.Ack.Nak, timeout=2.0)
            except Exception as exc:  # then it goes to another node after the ack wait
                log.debug("inbox nak on stop: %s", exc)
        if held:
            log.info("inbox: %d unfinished message(s) handed back to the cluster", len(held))

    def stats(self) -> dict[str, int]:
        """Counters of this node, for status output."""
        return {
            "processed": self.processed,
            "dead_lettered": self.dead_lettered,
            "skipped": self.skipped,
        }

    @property
    def in_work(self) -> int:
        """Messages this node is processing (each holds a slot)."""
        return len(self._busy)

    @property
    def waiting(self) -> int:
        """Messages this node fetched that wait for a slot (their partitions wait with them)."""
        return len(self._held) - len(self._busy)

    def _update_room(self) -> None:
        if len(self._held) < self.config.max_concurrency:
            self._room.set()
        else:
            self._room.clear()

    async def _wait_for_room(self) -> None:
        """Wait until this node can start another message soon.

        Not woken by the subscription's own queue: a pull request that expired here a moment
        before the server's expiry leaves the server's "request timeout" status there, which
        a wake-up would answer with a new pull request while full (measured: a full node kept
        asking under load). A real message that landed there after such an expiry waits for
        room; if that takes longer than the ack wait, another node runs it and the claim
        tells this node so when it fetches it."""
        await self._room.wait()

    async def _consume(self, sub: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        while self._running:
            # A saturated node issues no new pull request: the partition's next message then
            # goes to a node with a free slot instead of waiting here, with its whole
            # partition, for one of ours. Pull requests already parked keep their expiry.
            await self._wait_for_room()
            self.asking += 1
            try:
                # Spread expiries: a partition's next message goes to the node whose pull
                # request is oldest, and one node's requests all expiring together made it the
                # oldest on every partition at once (it took a whole burst's first messages).
                expiry = self.config.fetch_expiry * random.uniform(0.5, 1.5)
                messages: list[Msg] = await sub.fetch(1, timeout=expiry)
            except NatsTimeoutError:
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a NATS server went away: the client reconnects
                log.debug("inbox fetch: %s", exc)
                await asyncio.sleep(0.5)
                continue
            finally:
                self.asking -= 1
            for msg in messages:
                seq = msg.metadata.sequence.stream
                self._held[seq] = msg
                self._update_room()
                # Kept alive from the fetch on: a message waiting for a free slot must not
                # look abandoned (JetStream would hand it to another node after the ack wait).
                keepalive = asyncio.create_task(self._keep_alive(msg))
                try:
                    # The partition with the most messages behind this one first: its
                    # chain is the longest way to the end of a burst (a waiting message
                    # holds up its whole partition).
                    async with self._slots.hold((-msg.metadata.num_pending, seq)):
                        self._busy.add(task)
                        await self._process(msg)
                except asyncio.CancelledError:
                    raise  # kept in _held: naked on the stop
                except Exception as exc:  # NATS went away mid-answer: the partition lives on
                    log.warning("inbox: message %d left to the ack wait: %s", seq, exc)
                    self._held.pop(seq, None)
                else:
                    self._held.pop(seq, None)  # acknowledged, naked or dead-lettered
                finally:
                    self._busy.discard(task)
                    self._update_room()
                    keepalive.cancel()

    async def _process(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        # Every delivery, the first too: a consumer leader that died before it replicated a
        # delivery hands the message out again as a first delivery.
        try:
            verdict, claim = await self._claims.claim(seq)
        except Exception as exc:  # unknown: running it might answer it twice
            log.warning("inbox: claim failed (%s); message %d retried later", exc, seq)
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.config.retry_delays[0])
            return
        if verdict is Verdict.DONE:
            if msg.metadata.num_delivered == 1:
                log.info("inbox: message %d handed out again as new; already handled", seq)
            self.skipped += 1
            await self._ack(msg)
            return
        if claim is None:  # another node runs it: ask again later, never run it twice
            self.deferred += 1
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.config.retry_delays[0])
            return
        # Attempts are runs (the claim counts them), not deliveries: a hand-back is none.
        context = EntryContext(seq, claim.attempt, replayed=claim.takeover)
        token = current_entry.set(context)
        try:
            await self._run(msg, claim, claim.attempt)
        except asyncio.CancelledError:
            if self._running:  # not a stop (a stray cancellation): hand the claim back now
                await asyncio.shield(self._claims.release(claim, within=2.0))
            raise
        except Exception:  # unexpected: the claim must not stay "run" by a live node
            await self._claims.release(claim)
            raise
        finally:
            current_entry.reset(token)

    async def _run(self, msg: Msg, claim: Claim, attempt: int) -> None:
        """Run a claimed message: done, handed back for a retry, or dead-lettered."""
        try:
            message = InboundMessage.model_validate_json(msg.data)
        except ValidationError as exc:
            await self._dead_letter(msg, None, attempt, f"payload does not parse: {exc}", claim)
            return
        self._claims.activate(claim, (message.channel, message.account_id, message.message_id))
        try:
            await self._handler(message)
        except asyncio.CancelledError:
            raise  # a stop: the claim is handed back with the message (``_hand_back``)
        except Exception as exc:
            if not is_retryable(exc) or attempt >= self.config.max_attempts:
                await self._dead_letter(msg, message, attempt, describe_error(exc), claim)
                return
            delays = self.config.retry_delays
            delay = delays[min(attempt - 1, len(delays) - 1)]
            log.warning(
                "inbox: %s failed (attempt %d/%d), retry in %gs: %s",
                message_id_header(message),
                attempt,
                self.config.max_attempts,
                delay,
                describe_error(exc),
            )
            # The chunk outcomes stay in the claim: whichever node retries reads them.
            await self._claims.release(claim)
            await msg.nak(delay=delay)
            return
        self.processed += 1
        # Before the ack: an ack lost with a NATS server then costs no second run elsewhere.
        await self._claims.finish(claim)
        await self._ack(msg)

    async def _keep_alive(self, msg: Msg) -> None:
        """Tell JetStream the message is still being worked on (a slow agent is no death)."""
        while True:
            await asyncio.sleep(self.config.ack_wait / 3)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    async def _ack(self, msg: Msg) -> None:
        # A confirmed ack; one that is lost anyway (its consumer leader died) costs a
        # redelivery, which the claim (done) recognises.
        try:
            await settle(lambda: msg.ack_sync(timeout=2.0), within=self.config.settle_time)
        except Exception:
            log.warning("inbox: ack not confirmed; the done claim answers a redelivery")

    async def _dead_letter(
        self,
        msg: Msg,
        message: InboundMessage | None,
        attempts: int,
        error: str,
        claim: Claim,
    ) -> None:
        log.error("inbox: message dead-lettered after %d attempt(s): %s", attempts, error)
        record = {
            "channel": message.channel if message else None,
            "account_id": message.account_id if message else None,
            "message_id": message.message_id if message else None,
            "lane": message.conversation_key if message else None,
            "attempts": attempts,
            "error": error,
            "payload": msg.data.decode(errors="replace"),
            "dead_at": int(time.time() * 1000),
        }
        subject = self._layout.dead_subject(message.channel if message else "unknown")
        await self._js.publish(subject, json.dumps(record).encode())
        self.dead_lettered += 1
        await self._claims.finish(claim)
        await self._ack(msg)
