"""DM pairing on the real store (gateway-behaviour §1; zalo-bot-api §6.1 and §10 #25, #26;
zalo-personal §5.5 step 8 and §8 #18)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.core.access import AccountPolicy, decide_dm, normalize_allow_list
from zalogate.core.pairing import (
    CODE_ALPHABET,
    PAIRING_TTL_SECONDS,
    PairingError,
    PairingStore,
    SqlitePairingStore,
    generate_code,
    issue_pairing_challenge,
    pairing_approved_text,
    pairing_challenge_text,
)
from zalogate.store import Store


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "state") as opened:
        yield opened


@pytest.fixture
def pairing(store: Store, clock: FakeClock) -> PairingStore:
    return SqlitePairingStore(store, clock=clock)


def test_codes_are_eight_characters_of_the_unambiguous_alphabet() -> None:
    """gateway §1.1: 8 chars from ``ABCDEFGHJKLMNPQRSTUVWXYZ23456789`` (no 0 O 1 I)."""
    codes = {generate_code() for _ in range(200)}
    assert len(codes) > 190
    for code in codes:
        assert len(code) == 8
        assert set(code) <= set(CODE_ALPHABET)
    assert not set("01OI") & set(CODE_ALPHABET)


async def test_unknown_sender_gets_a_code_once(pairing: PairingStore) -> None:
    """zalo-bot-api §10 #25: one request is stored for that account, one reply is sent."""
    first = await pairing.request("zalo", "default", "42", sender_name="Alice")
    assert first.created
    assert first.code is not None
    assert not first.capped
    pending = await pairing.list_pending("zalo")
    assert [(r.id, r.code, r.account_id) for r in pending] == [("42", first.code, "default")]
    assert pending[0].meta == {"accountId": "default", "name": "Alice"}


async def test_second_message_from_pending_sender_gets_no_new_code(
    pairing: PairingStore, clock: FakeClock
) -> None:
    """zalo-bot-api §10 #26 / gateway §1.2 step 2: refresh lastSeenAt, keep code, send nothing."""
    first = await pairing.request("zalo", "default", "42")
    clock.advance(60)
    again = await pairing.request("zalo", "default", "42")
    assert (again.created, again.code) == (False, first.code)
    [request] = await pairing.list_pending("zalo")
    assert request.last_seen_at_ms - request.created_at_ms == 60_000


async def test_at_most_three_pending_per_account_and_extra_senders_are_ignored(
    pairing: PairingStore,
) -> None:
    """gateway §1.2 steps 3-4 / product-decisions: cap 3 per channel account."""
    for sender in ("1", "2", "3"):
        assert (await pairing.request("zalouser", "default", sender)).created
    fourth = await pairing.request("zalouser", "default", "4")
    assert (fourth.code, fourth.created, fourth.capped) == (None, False, True)
    assert len(await pairing.list_pending("zalouser")) == 3
    # The cap is per account: another account still gets codes.
    assert (await pairing.request("zalouser", "beta", "4")).created


async def test_requests_expire_after_one_hour(pairing: PairingStore, clock: FakeClock) -> None:
    """gateway §1.1: TTL 1 h from creation; listing prunes expired requests."""
    first = await pairing.request("zalo", "default", "42")
    clock.advance(PAIRING_TTL_SECONDS - 1)
    assert len(await pairing.list_pending("zalo")) == 1
    clock.advance(1)
    assert await pairing.list_pending("zalo") == []
    with pytest.raises(PairingError):
        await pairing.approve("zalo", first.code or "")


async def test_expired_request_lets_the_sender_get_a_fresh_code(
    pairing: PairingStore, clock: FakeClock
) -> None:
    """docs: a sender gets at most one pairing message per hour."""
    first = await pairing.request("zalo", "default", "42")
    clock.advance(PAIRING_TTL_SECONDS)
    second = await pairing.request("zalo", "default", "42")
    assert second.created
    assert second.code != first.code


async def test_expired_requests_free_the_cap(pairing: PairingStore, clock: FakeClock) -> None:
    for sender in ("1", "2", "3"):
        await pairing.request("zalo", "default", sender)
    clock.advance(PAIRING_TTL_SECONDS)
    assert (await pairing.request("zalo", "default", "4")).created


async def test_approval_is_case_insensitive_and_adds_sender_to_allow_store(
    pairing: PairingStore,
) -> None:
    """gateway §1.5: trimmed, upper-cased code; sender added to the request's account."""
    result = await pairing.request("zalouser", "beta", "777", sender_name="Bob")
    assert result.code is not None
    approved = await pairing.approve("zalouser", f"  {result.code.lower()} ")
    assert (approved.id, approved.account_id) == ("777", "beta")
    assert await pairing.allowed_senders("zalouser", "beta") == frozenset({"777"})
    assert await pairing.allowed_senders("zalouser", "default") == frozenset()
    assert await pairing.list_pending("zalouser") == []


async def test_unknown_code_is_an_error_with_the_reference_text(pairing: PairingStore) -> None:
    """gateway §1.5: ``No pending pairing request found for code: <CODE>``."""
    with pytest.raises(PairingError, match="No pending pairing request found for code: ABCD2345"):
        await pairing.approve("zalo", "abcd2345")


async def test_code_of_another_channel_or_account_does_not_approve(
    pairing: PairingStore,
) -> None:
    result = await pairing.request("zalo", "work", "42")
    code = result.code or ""
    with pytest.raises(PairingError):
        await pairing.approve("zalouser", code)
    with pytest.raises(PairingError):
        await pairing.approve("zalo", code, account_id="default")
    assert (await pairing.approve("zalo", code, account_id="WORK")).id == "42"


async def test_approved_sender_passes_pairing_policy_of_that_account_only(
    pairing: PairingStore,
) -> None:
    """zalo-personal §8 #18 / gateway §1.4: approvals are account-scoped."""
    result = await pairing.request("zalouser", "beta", "attacker")
    await pairing.approve("zalouser", result.code or "")
    policy = AccountPolicy("zalouser", dm_policy="pairing")
    beta = await pairing.allowed_senders("zalouser", "beta")
    default = await pairing.allowed_senders("zalouser", "default")
    assert decide_dm(policy, "attacker", store_allowed=beta).allowed
    assert decide_dm(policy, "attacker", store_allowed=default).action == "challenge"


async def test_allow_store_entries_are_normalised_and_never_wildcards(
    pairing: PairingStore,
) -> None:
    """gateway §1.4: entries normalised by the channel; ``*`` is never stored."""
    await pairing.add_allowed("zalo", "default", "zl:ABC")
    await pairing.add_allowed("zalo", "default", "abc")
    assert await pairing.allowed_senders("zalo", "default") == normalize_allow_list("zalo", ["abc"])
    with pytest.raises(PairingError):
        await pairing.add_allowed("zalo", "default", "*")
    assert await pairing.remove_allowed("zalo", "default", "ABC")
    assert await pairing.allowed_senders("zalo", "default") == frozenset()


async def test_concurrent_requests_never_exceed_the_cap(pairing: PairingStore) -> None:
    """The cap holds under concurrency (one writer transaction per request)."""
    results = await asyncio.gather(*(pairing.request("zalo", "default", str(i)) for i in range(10)))
    assert sum(r.created for r in results) == 3
    codes = [r.code for r in results if r.created]
    assert len(set(codes)) == 3


async def test_list_filters_by_channel_and_account_sorted_by_creation(
    pairing: PairingStore, clock: FakeClock
) -> None:
    await pairing.request("zalo", "b", "2")
    clock.advance(1)
    await pairing.request("zalo", "a", "1")
    clock.advance(1)
    await pairing.request("zalouser", "a", "3")
    assert [r.id for r in await pairing.list_pending()] == ["2", "1", "3"]
    assert [r.id for r in await pairing.list_pending("zalo", "A")] == ["1"]
    json_item = (await pairing.list_pending("zalouser"))[0].to_json()
    assert set(json_item) == {"id", "code", "createdAt", "lastSeenAt", "meta"}


async def test_requests_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    state = tmp_path / "state"
    async with await Store.open(state) as store:
        code = (await SqlitePairingStore(store, clock=clock).request("zalo", "default", "9")).code
    async with await Store.open(state) as store:
        again = SqlitePairingStore(store, clock=clock)
        assert (await again.request("zalo", "default", "9")).code == code


def test_challenge_text_names_id_code_and_our_command() -> None:
    """gateway §1.3 / product-decisions: user id, code and ``zalogate pairing approve``."""
    text = pairing_challenge_text("zalouser", "1234567890123456789", "ABCD2345")
    assert "Your Zalo user id: 1234567890123456789" in text
    assert "Pairing code: ABCD2345" in text
    assert text.endswith("zalogate pairing approve zalouser ABCD2345")
    assert "openclaw" not in text.lower()


def test_approved_text_for_zalo_channels() -> None:
    """zalo-personal §5.7: ``Your pairing request has been approved.``"""
    assert pairing_approved_text("zalo") == "Your pairing request has been approved."


async def test_challenge_is_sent_once_even_when_the_first_send_failed(
    pairing: PairingStore,
) -> None:
    """zalo-bot-api §9.2 #18 / §10 #26: one pairing reply per new request, also after a failed
    send and a replay; the send error is reported, not raised."""
    sent: list[str] = []
    errors: list[BaseException] = []

    async def failing_send(text: str) -> None:
        raise ConnectionError("network down")

    async def send(text: str) -> None:
        sent.append(text)

    first = await issue_pairing_challenge(
        pairing, "zalo", "default", "42", send=failing_send, on_send_error=errors.append
    )
    assert first.created
    assert [type(e) for e in errors] == [ConnectionError]
    replay = await issue_pairing_challenge(pairing, "zalo", "default", "42", send=send)
    assert not replay.created
    assert sent == []
    other = await issue_pairing_challenge(pairing, "zalo", "default", "43", send=send)
    assert other.code is not None
    assert sent == [pairing_challenge_text("zalo", "43", other.code)]


async def test_reject_drops_the_request_without_allowing_the_sender(tmp_path: Path) -> None:
    async with await Store.open(tmp_path) as store:
        pairing = SqlitePairingStore(store)
        created = await pairing.request("zalo", "default", "u1")
        assert created.code is not None
        with pytest.raises(PairingError, match="No pending pairing request"):
            await pairing.reject("zalo", created.code, "other")
        rejected = await pairing.reject("zalo", created.code.lower(), "default")
        assert (rejected.id, rejected.account_id) == ("u1", "default")
        assert await pairing.list_pending("zalo") == []
        assert await pairing.allowed_senders("zalo", "default") == frozenset()
        with pytest.raises(PairingError, match=created.code):
            await pairing.reject("zalo", created.code)
        # The sender may ask again: a new code.
        again = await pairing.request("zalo", "default", "u1")
        assert again.created
