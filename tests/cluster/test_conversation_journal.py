"""The console's conversation journal on the cluster's stream (real NATS servers): lines a
node writes are listed, in order, by every node's journal and takeover."""

from __future__ import annotations

from zalogate.cluster import ClusterNode
from zalogate.cluster.conversation_journal import KEEP_LINES
from zalogate.core.takeover import ConversationKey, Takeover, TranscriptLine

KEY = ConversationKey("zalo", "shop", "7100000000000000001")
GROUP = ConversationKey("zalo", "shop", "g.42", is_group=True)


async def test_lines_written_on_one_node_are_listed_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a = nodes[0]
    on_a, on_b = [await n.conversation_journal(keep_days=30) for n in nodes]
    assert await on_a.conversations(10) == []

    on_b.add(KEY, TranscriptLine("in", "Lan", "hello", 1_000), "Lan")
    on_b.add(KEY, TranscriptLine("out", "agent", "hi Lan", 1_001), None)
    on_b.add(GROUP, TranscriptLine("in", "Mai", "anyone?", 1_002), "Shop group")
    assert await on_a.conversations(10) == []  # nothing before the batch is written
    assert await on_b.flush() == 3

    listed = await on_a.conversations(10)
    assert [(c.key, c.last.text, c.title) for c in listed] == [
        (GROUP, "anyone?", "Shop group"),
        (KEY, "hi Lan", "Lan"),  # the reply carries the title the node last saw
    ]
    assert [c.key for c in await on_a.conversations(1)] == [GROUP]
    assert [(x.direction, x.text) for x in await on_a.lines(KEY, 10)] == [
        ("in", "hello"),
        ("out", "hi Lan"),
    ]
    assert [x.text for x in await on_a.lines(KEY, 1)] == ["hi Lan"]
    assert await on_a.lines(ConversationKey("zalo", "shop", "nobody"), 10) == []

    # Node A's takeover (its own ring knows nothing of KEY) lists and shows B's lines; a
    # line A handled itself later wins over the journal's older one.
    takeover = Takeover(a.shared.takeover, journal=on_a)
    titles = {
        c.key: (c.title, c.last.text if c.last else None) for c in await takeover.conversations()
    }
    assert titles[KEY] == ("Lan", "hi Lan")
    assert [x.text for x in await takeover.transcript(KEY)] == ["hello", "hi Lan"]
    for node in (on_a, on_b):
        await node.aclose()


async def test_a_conversation_keeps_its_latest_lines(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    journal = await nodes[0].conversation_journal(keep_days=1)
    for i in range(KEEP_LINES + 30):
        journal.add(KEY, TranscriptLine("in", "Lan", f"m{i}", 2_000 + i), "Lan")
    assert await journal.flush() == KEEP_LINES + 30
    kept = await journal.lines(KEY, 1_000)
    assert len(kept) == KEEP_LINES
    assert [x.text for x in kept[-2:]] == [f"m{KEEP_LINES + 28}", f"m{KEEP_LINES + 29}"]
    assert [x.at_ms for x in kept] == sorted(x.at_ms for x in kept)
    await journal.aclose()
