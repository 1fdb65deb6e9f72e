"""Scenario coverage of issue 3: every access, pairing, group-gating, history, session-key and
chunking scenario of the reference documents, and the test that checks it.

Sources: G = ``gateway-behaviour.md`` (section), B = ``zalo-bot-api.md`` §10 (number) and §6,
P = ``zalo-personal.md`` §8 (number) and §5, PD = ``product-decisions.md``. Test files are in
``tests/core/`` unless named; ``scen`` = this module. Where the reference holds several
historical behaviours, the row says which one we follow and why.

Pairing (G §1, PD Access)
* G1.1 8 chars, alphabet without 0 O 1 I, crypto RNG
    test_pairing::test_codes_are_eight_characters_of_the_unambiguous_alphabet
* G1.1 code unique among pending requests
    scen::test_pairing_code_is_regenerated_until_unique
* G1.1 TTL 1 h from createdAt
    test_pairing::test_requests_expire_after_one_hour
* G1.1 max 3 pending per channel account (PD)
    test_pairing::test_at_most_three_pending_per_account_and_extra_senders_are_ignored
* G1.1 approval trimmed + upper-cased
    test_pairing::test_approval_is_case_insensitive_and_adds_sender_to_allow_store
    scen::test_approval_code_is_trimmed_and_upper_cased
* G1.1 meta.accountId always, meta.name
    scen::test_request_meta_carries_account_and_name
    tests/cli/test_pairing_cmd.py::test_list_json_shape
* G1.2 step 2 same sender and account: refresh lastSeenAt, keep the code, created false (no
  new message)
    test_pairing::test_second_message_from_pending_sender_gets_no_new_code
* G1.2 step 3 over the cap: trim to the 3 most recently seen
    scen::test_over_cap_requests_are_trimmed_to_the_most_recently_seen
* G1.2 step 4 at the cap: new sender silently ignored
    test_pairing::test_at_most_three_pending_per_account_and_extra_senders_are_ignored
    scen::test_fourth_stranger_gets_no_reply
* G1.2 reply only when created; send failure never thrown
    test_pairing::test_challenge_is_sent_once_even_when_the_first_send_failed
    scen::test_failed_pairing_send_is_not_raised_and_not_repeated
* G1.2 expired request → fresh code
    test_pairing::test_expired_request_lets_the_sender_get_a_fresh_code
* G1.3 text: id line, code, `zalogate pairing approve <channel> <CODE>`
    scen::test_pairing_text_is_exactly_the_reference_shape_with_our_command
* G1.3 the message is not processed
    test_pipeline::test_unknown_sender_gets_one_pairing_code_and_is_not_processed
* G1.4 allow store scoped per account; `*` never stored
    test_pairing::test_approved_sender_passes_pairing_policy_of_that_account_only
    test_pairing::test_allow_store_entries_are_normalised_and_never_wildcards
* G1.4 store persists (SQLite, same semantics)
    test_pairing::test_requests_survive_a_restart
* G1.4 concurrent requests: cap and uniqueness hold
    test_pairing::test_concurrent_requests_never_exceed_the_cap
* G1.5 list: empty text / table / idLabel / --json
    tests/cli/test_pairing_cmd.py (list_* tests)
* G1.5 list sorted by createdAt ascending
    test_pairing::test_list_filters_by_channel_and_account_sorted_by_creation
* G1.5 listing prunes expired requests (rows deleted)
    scen::test_listing_deletes_expired_requests
* G1.5 approve: `Approved <ch> sender <id>.` / unknown code error
    tests/cli/test_pairing_cmd.py::test_approve_prints_the_sender_and_fills_the_allow_store
    tests/cli/test_pairing_cmd.py::test_approve_unknown_code_is_a_one_line_error
    test_pairing::test_unknown_code_is_an_error_with_the_reference_text
* G1.5 approve without --account matches any account; with --account only that account
    scen::test_approval_without_account_matches_any_account
* G1.5 other channel's code does not approve
    test_pairing::test_code_of_another_channel_or_account_does_not_approve
* G1.5 --notify text; failure warns, approval stands
    test_pairing::test_approved_text_for_zalo_channels
    tests/cli/test_pairing_cmd.py::test_notify_*
* G1.5 owner bootstrap (commands.ownerAllowFrom)
    not implemented (no owner concept in zalogate yet)
* G1.6 store read failure: no code issued (transient)
    scen::test_pairing_store_failure_issues_no_code_and_is_retried
* G1.7 pairing grants DM access only
    test_access::test_pairing_approval_does_not_grant_group_access
    scen::test_paired_sender_still_needs_group_allowlists
* B25 pairing: one request, one reply to chat.id, replay → nothing dispatched
    scen::test_pairing_reply_goes_out_once_across_redelivery_and_restart
* B26 request existed / first send failed before a replay → no further reply
    scen::test_failed_pairing_send_is_not_raised_and_not_repeated
* P18 pairing scoped to account `beta`
    scen::test_pairing_is_scoped_to_the_account

DM policy and allowFrom (G §2.1-2.2, B §6.1, PD Access)
* G2.1 pairing: allowFrom or pairing store
    test_access::test_pairing_policy_admits_config_and_store_entries
    test_pipeline::test_approved_sender_is_processed
* G2.1 store counts only under pairing
    test_access::test_store_approvals_count_only_under_pairing
* G2.1 allowlist: others dropped silently
    test_access::test_allowlist_admits_listed_sender_and_silently_drops_others
* G2.1 open needs "*"; concrete entries restrict
    test_access::test_open_with_wildcard_admits_everyone
    test_access::test_open_without_wildcard_admits_only_listed_entries
* G2.1 disabled ignores all DMs
    test_access::test_disabled_drops_every_dm
* G2.1 reason codes
    every decide_* test asserts its reason
* G2.2 entries trimmed, stringified, prefixes stripped case-insensitively, "*" wildcard
    test_access::test_allow_entries_are_trimmed_prefix_stripped_and_case_folded
* G2.2 ids only; names only with dangerouslyAllowNameMatching
    test_access::test_display_names_match_only_with_dangerous_flag
* B6.1 ["zalo:12345","zl:999"] admits 12345; ["999","zalo:abc"] rejects
    test_access::test_zalo_allowlist_prefixes_admit_the_bare_id
* B27 allowlist ["zalo:12345"]: 12345 dispatched, 999 dropped with no reply
    scen::test_bot_allowlist_dispatches_listed_sender_and_drops_others
* B28 disabled: no reply and no dispatch
    scen::test_disabled_dm_policy_sends_nothing
* B29 image from a stranger: pairing reply, no download
    scen::test_media_from_stranger_gets_pairing_reply_only ("no download" is the
    channel's job: the core never downloads)
* P15 pairing store read only when it can matter
    scen::test_allowlist_and_open_dms_never_read_the_pairing_store
* PD  cost independent of allowlist size
    test_access::test_large_allowlist_is_a_set_lookup
    bench/core_pipeline.py

Group policy, routes, commands (G §2.3-2.5, §2.8, B §6.2, P §5.5)
* G2.3 disabled drops all; open admits any member
    test_access::test_disabled_group_policy_drops_every_group_message
    test_access::test_open_group_policy_admits_any_member
* G2.3 allowlist with empty lists → empty_allowlist
    test_access::test_empty_group_allowlist_blocks_everything
* G2.3/PD unset → channels.defaults.groupPolicy → open
    test_access::test_group_policy_defaults_to_channel_defaults_then_open
* P2   zalouser default `allowlist`: superseded by PD ("Unset: channels.defaults.groupPolicy,
  else open"); set `channels.defaults.groupPolicy: allowlist` to get it
    scen::test_unset_group_policy_follows_product_decision_for_zalouser
* G2.4/PD groupAllowFrom falls back to allowFrom; ["*"] admits all
    test_access::test_group_allow_from_falls_back_to_allow_from
    test_access::test_group_allow_from_wildcard_admits_every_member
* G2.5 candidates id → group:<id> → names (dangerous) → "*"; first wins
    test_access::test_group_key_precedence_id_then_alias_then_wildcard
    test_access::test_group_candidates_order (P31)
* G2.5 enabled:false / legacy allow:false → route_disabled even under open
    test_access::test_disabled_group_entry_drops_even_under_open
    test_access::test_legacy_allow_is_an_alias_of_enabled
* G2.5 allowlist without a match → route_not_allowlisted
    test_access::test_group_not_in_groups_is_not_allowlisted
* G2.5 requireMention from the same entry, default true, no fall-through to "*"
    test_access::test_require_mention_defaults_true_and_does_not_fall_through_to_wildcard
* G2.5 zalo bot groups always mention-gated
    test_access::test_zalo_bot_groups_are_always_mention_gated
* PD   names resolved to ids at startup match by id
    test_access::test_startup_resolved_group_name_matches_by_id
* B30  groupAllowFrom ["zl:12345"]; disabled; open
    test_access::test_zalo_group_allowlist_by_sender
    scen::test_bot_group_policies_through_the_pipeline
* P9   allowlisted group, sender outside allowFrom (zalo falls back; zalouser does not)
    test_access::test_allowlisted_group_blocks_sender_outside_fallback_allow_from
    test_access::test_zalouser_group_allow_from_never_falls_back_to_allow_from
* P10  sender not in groupAllowFrom
    test_access::test_sender_not_in_group_allow_from_is_blocked
* P11  spoofed group name does not match by default
    test_access::test_spoofed_group_name_does_not_match_by_default
* P12  name matches only with the dangerous flag
    test_access::test_group_name_matches_only_with_dangerous_flag
* G2.8 commands: standalone "/..."
    test_access::test_control_commands_are_standalone_slash_words
* G2.8 commands.allowFrom is the only source when set
    test_access::test_command_allow_from_is_the_only_source_when_set
    scen::test_command_allow_from_from_settings
* G2.8/PD nothing configured → refused (fail closed)
    test_access::test_group_commands_are_refused_when_nothing_is_configured
    test_pipeline::test_control_command_in_group_needs_an_allowlist
* G2.8 groups never use pairing-store entries
    test_access::test_group_commands_never_use_pairing_store
* G2.8 unauthorised group command dropped and logged
    scen::test_unauthorised_group_command_is_dropped_with_the_reference_log
* P7   command auth with only allowFrom
    test_access::test_command_auth_with_only_allow_from
* P8   command auth via groupAllowFrom
    test_access::test_command_auth_via_group_allow_from

Mention gating (G §2.6, P §5.6)
* P1   unmentioned group message skipped: no dispatch, no typing
    test_history::test_unmentioned_group_message_is_skipped
    scen::test_unmentioned_group_message_is_skipped_without_typing
* P3   fail closed without mention detection
    test_history::test_fail_closed_when_mentions_cannot_be_detected
    scen::test_undetectable_mentions_drop_the_group_message
* P4   explicit mention dispatches with WasMentioned; reply and typing go to the group
    scen::test_explicit_mention_dispatches_to_the_group_with_typing
* P5   authorised command bypasses the mention gate
    test_history::test_authorised_command_bypasses_mention_gating
    scen::test_authorised_command_bypasses_mention_in_the_pipeline
* P6   `@Bot /new` is the command `/new`
    scen::test_mention_prefixed_command_is_recognised
* G2.6 regex on normalised text (zero-width removed, lower-case)
    test_access::test_mention_patterns_are_case_insensitive_on_normalised_text
    test_history::test_pattern_mention_counts
* G2.6 invalid / unsafe patterns ignored
    test_access::test_invalid_and_unsafe_patterns_are_ignored
* G2.6 quoting the bot counts, switchable
    test_history::test_quoting_the_bot_counts_as_a_mention_unless_switched_off
    scen::test_quoted_bot_switch_reaches_the_pipeline
* G2.6 bypass needs authorisation and no other mention
    test_history::test_command_bypass_needs_authorisation_and_no_other_mention

Pending group history (G §2.7, PD)
* G2.7 markers exactly, entries, blank line, current
    test_history::test_history_is_wrapped_in_the_two_markers
    scen::test_history_body_is_exactly_the_reference_layout
* G2.7 no history → only the current message
    test_history::test_without_history_only_the_current_message_is_sent
* G2.7 limit per key (oldest dropped); default 50; 0 disables
    test_history::test_history_keeps_only_the_newest_limit_entries
    test_history::test_limit_zero_keeps_nothing
    test_access::test_policy_from_empty_settings_uses_defaults
    scen::test_history_limit_of_the_account_is_applied
* G2.7 at most 1000 keys, least recently used evicted
    test_history::test_least_recently_used_keys_are_evicted_beyond_max_keys
* G2.7 cleared after dispatch; kept when dispatch fails
    test_pipeline::test_skipped_group_messages_are_prepended_to_the_next_mention
    scen::test_history_is_kept_until_a_dispatch_succeeds
* G2.7 history is per group
    test_history::test_history_is_per_group_and_clear_forgets
    scen::test_history_of_one_group_never_reaches_another
* G2.7 at most 4 images per entry
    test_history::test_history_survives_a_restart
* PD   persisted (survives a restart)
    test_history::test_history_survives_a_restart
    scen::test_pending_history_survives_a_gateway_restart
* P16 limit 5: InboundHistory [{Alice, first line}] on the next dispatch, then []
    scen::test_inbound_history_is_passed_structured_then_cleared
* G2.7 media-only skipped messages
    deliberate deviation: we keep them as `<media:…>` placeholders with their image
    paths (zalouser drops them; the agent learns more and it costs nothing)
    scen::test_media_only_skipped_message_is_kept_as_placeholder

Session keys (G §4.2, PD Delivery)
* G4.2 main / per-peer / per-channel-peer / per-account-channel-peer
    test_sessions::test_zalo_dm_keys_follow_dm_scope
    scen::test_dm_scopes_through_the_pipeline
* PD   Bot API DMs share main by default
    test_sessions::test_zalo_bot_dms_share_the_main_session_by_default
    test_pipeline::test_allowed_dm_is_answered_in_the_same_chat
* P13  zalouser forces per-channel-peer
    test_sessions::test_zalouser_forces_per_channel_peer_when_scope_is_main
    scen::test_zalouser_dm_session_key_in_the_pipeline
* P14  legacy zalouser group-kind DM key reused
    test_sessions::test_legacy_zalouser_dm_session_is_reused_when_only_it_exists
    scen::test_legacy_zalouser_session_is_reused_by_the_pipeline
* G4.2 group key, groupScope main
    test_sessions::test_group_key_uses_channel_and_group_id
    scen::test_group_session_key_in_the_pipeline
* G4.2 agent id / main key / peers lower-cased
    test_sessions::test_agent_id_and_main_key_are_lower_cased
    test_sessions::test_peer_ids_are_lower_cased
* G4.2 identityLinks
    test_sessions::test_identity_links_map_linked_ids_to_one_peer
* G4.2 main-DM route pinning (lastRoute)
    not applicable: zalogate keeps no lastRoute (replies always go to the origin)

Chunking and reply dispatch (G §4.6, PD Delivery, B34/B37/B5, P17/P24-P26)
* PD   limit in UTF-16 code units; never split a pair
    test_chunking::test_utf16_len_counts_astral_characters_twice
    test_chunking::test_emoji_are_never_split
    test_chunking::test_property_chunks_fit_and_lose_only_split_whitespace
    scen::test_reply_chunks_respect_utf16_limit_in_the_pipeline
* B5   2500-char caption ending in emoji → ≤ 2000 units
    test_chunking::test_truncate_caption_keeps_whole_emoji
* B34 3000-char reply → ≥ 2 sends ≤ 2000 at newline/space
    test_chunking::test_3000_char_reply_is_split_at_newline_or_space
* G4.6 prefer newline, then whitespace (outside parens), then hard cut
    test_chunking::test_prefers_the_last_newline_in_the_window
    test_chunking::test_falls_back_to_the_last_whitespace
    test_chunking::test_hard_cut_when_there_is_no_break_point
    test_chunking::test_prefers_breaks_outside_parentheses
* G4.6 code fence closed and reopened
    test_chunking::test_code_fence_is_closed_and_reopened_with_its_info_string
    test_chunking::test_property_fences_never_stay_open_across_chunks
* G4.6 newline mode: paragraphs first
    test_chunking::test_newline_mode_sends_each_paragraph_separately
    test_chunking::test_newline_mode_paragraph_then_long_paragraph (P26)
* P25  a*2501 → 2000+501; limit 1200
    test_chunking::test_length_mode_hard_splits_long_single_word
* G4.6 limit: account → channel textChunkLimit → 2000; chunkMode keys
    test_access::test_policy_from_openclaw_style_settings
    test_access::test_policy_from_empty_settings_uses_defaults
* P17/P24 zalouser chunks after Markdown formatting
    scen::test_channel_that_chunks_itself_gets_the_whole_reply
* G4.6 serial in order; prefix; NO_REPLY any case; empty skipped
    test_pipeline::test_replies_are_prefixed_chunked_and_silent_ones_suppressed
    test_pipeline::test_silent_token
    test_pipeline::test_response_prefix_rules
* G4.6/PD first media carries the text; the rest follow
    test_pipeline::test_replies_are_prefixed_chunked_and_silent_ones_suppressed
* B37  second of three chunks fails → first id recorded as delivered, error raised
    scen::test_failure_on_second_of_three_chunks_keeps_the_first_as_delivered
* P20  delivery failure propagates
    test_pipeline::test_send_failure_propagates_and_is_recorded
* P19  messagePrefix on the inbound body
    scen::test_message_prefix_is_prepended_to_the_agent_body
* G4.8 typing failures never fatal
    test_pipeline::test_typing_is_shown_and_its_failures_ignored

Durable inbox (issue 3 item 7, B11/B20/B22, G §4.5)
* B20/B11 same update twice → dispatched once
    test_ingress::test_duplicate_message_is_acknowledged_but_processed_once
* B22 re-posted after completion with new text → not dispatched again
    scen::test_redelivery_after_completion_with_new_text_is_not_processed
* B22  malformed persisted event → dead letter
    test_ingress::test_unparseable_journal_row_is_dead_lettered
* B22  401/403 → dead letter; generic failure retried
    test_ingress::test_authentication_status_in_cause_chain_is_not_retried
    test_ingress::test_transient_failure_is_retried_until_success
* item7 non-retryable → dead letter at once
    test_ingress::test_non_retryable_failure_is_dead_lettered_at_once
* item7 tombstones 30 days or 20,000 per account
    test_ingress::test_tombstones_are_pruned_by_count_and_age
    scen::test_tombstone_defaults_are_30_days_and_20000_per_account
* item7 unfinished rows replayed on start
    test_ingress::test_unfinished_messages_are_replayed_in_order_after_restart
    test_crash_replay::test_killed_worker_resumes_and_answers_every_message_exactly_once
    test_crash_replay::test_killed_pipeline_resumes_without_loss_and_repeats_only_unrecorded_sends
* item7 done marks committed before wait_idle/stop return (the lane does not wait for them)
    test_ingress::test_done_marks_are_committed_by_wait_idle_and_stop
* item7 serial per conversation, parallel across, bounded
    test_ingress::test_messages_of_one_conversation_run_serially_in_admission_order
    test_ingress::test_different_conversations_are_processed_in_parallel
    test_ingress::test_concurrency_is_bounded
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from zalogate.agents.transcripts import SqliteTranscriptStore
from zalogate.backoff import BackoffConfig
from zalogate.core import presence
from zalogate.core.access import (
    AccountPolicy,
    GroupRule,
    authorize_command,
    decide_group,
    effective_group_policy,
    normalize_allow_list,
    policy_from_settings,
)
from zalogate.core.agent import Turn
from zalogate.core.channel import Channel as BaseChannel
from zalogate.core.channel import ChannelAccount, ProbeResult
from zalogate.core.errors import DeliveryError
from zalogate.core.history import CURRENT_MESSAGE_MARKER, HISTORY_MARKER, SqliteGroupHistory
from zalogate.core.ingress import Inbox, InboxConfig
from zalogate.core.model import (
    ChatType,
    DeliveryReceipt,
    InboundMessage,
    MediaRef,
    MentionFacts,
    ReplyPayload,
)
from zalogate.core.pairing import (
    PAIRING_TTL_SECONDS,
    PairingError,
    PairingStore,
    SqlitePairingStore,
    pairing_challenge_text,
)
from zalogate.core.pipeline import Outcome, Pipeline, SessionOptions
from zalogate.store import Store
from zalogate.text import utf16_len

FAST = BackoffConfig(min_delay=0.001, max_delay=0.002)


# --------------------------------------------------------------------------- fixtures


class Clock:
    def __init__(self) -> None:
        self.now = 1_770_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Channel(BaseChannel):
    """An in-memory channel recording sends and typing; ``fail`` queues send failures."""

    id: str = "zalo"
    text_limit: int = 2000
    accounts_: tuple[str, ...] = ("default",)
    sent: list[tuple[str, str, ReplyPayload]] = field(default_factory=list)
    typing_calls: list[str] = field(default_factory=list)
    fail: list[Exception | None] = field(default_factory=list)

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ChannelAccount(self.id, a, True, {}) for a in self.accounts_]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        if self.fail:
            error = self.fail.pop(0)
            if error is not None:
                raise error
        self.sent.append((account.account_id, target, reply))
        return DeliveryReceipt(message_ids=(f"out-{len(self.sent)}",))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)

    @property
    def presence(self) -> Channel:
        return self

    async def typing(self, account: ChannelAccount, target: str) -> None:
        self.typing_calls.append(target)

    @property
    def texts(self) -> list[str]:
        return [reply.text for _, _, reply in self.sent]


class SelfChunkingChannel(Channel):
    chunks_replies = True


class Agent:
    """Records turns; echoes the text, or replies with fixed payloads; can fail once."""

    def __init__(self, replies: Sequence[ReplyPayload] | None = None) -> None:
        self.replies = replies
        self.turns: list[Turn] = []
        self.fail_next: Exception | None = None

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.turns.append(turn)
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        if self.replies is None:
            yield ReplyPayload(text=f"echo: {turn.text}")
            return
        for reply in self.replies:
            yield reply


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "state", synchronous="NORMAL") as opened:
        yield opened


def dm(
    n: int,
    sender: str = "u1",
    *,
    channel: str = "zalo",
    account: str = "default",
    text: str | None = None,
    media: tuple[MediaRef, ...] = (),
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account_id=account,
        chat_type=ChatType.DIRECT,
        chat_id=sender,
        sender_id=sender,
        sender_name="An",
        message_id=f"{sender}-{n}",
        timestamp_ms=1_770_000_000_000 + n,
        text=f"hello {n}" if text is None else text,
        media=media,
    )


def grp(
    n: int,
    text: str,
    *,
    chat: str = "g-1",
    sender: str = "123",
    name: str = "Alice",
    channel: str = "zalouser",
    mentions: MentionFacts | None = None,
    command_text: str | None = None,
    media: tuple[MediaRef, ...] = (),
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account_id="default",
        chat_type=ChatType.GROUP,
        chat_id=chat,
        sender_id=sender,
        sender_name=name,
        message_id=f"{chat}-{n}",
        timestamp_ms=1_770_000_000_000 + n,
        text=text,
        mentions=mentions or MentionFacts(),
        group_name="Team",
        command_text=command_text,
        media=media,
    )


MENTIONED = MentionFacts(was_mentioned=True, has_any_mention=True)


def pipeline(
    store: Store,
    channel: Channel,
    agent: Agent,
    policy: AccountPolicy,
    *,
    pairing: PairingStore | None = None,
    session: SessionOptions | None = None,
) -> Pipeline:
    return Pipeline(
        store=store,
        channels={channel.id: channel},
        policy_for=lambda message: policy,
        agent=agent,
        pairing=pairing,
        session=session,
        sessions=SqliteTranscriptStore(store),
        notes=SqliteTranscriptStore(store),
    )


def fixture_policy(**overrides: object) -> AccountPolicy:
    """zalo-personal §8 fixture: open group policy, ``groups: {"*": {requireMention: true}}``."""
    values: dict[str, object] = {
        "channel": "zalouser",
        "group_policy": "open",
        "groups": {"*": GroupRule(require_mention=True)},
    }
    values.update(overrides)
    return AccountPolicy(**values)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- pairing store


async def test_pairing_code_is_regenerated_until_unique(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """G §1.1: a new code differs from every pending code of the store."""
    pairing = SqlitePairingStore(store)
    codes = iter(["AAAA2222", "AAAA2222", "AAAA2222", "BBBB3333"])
    monkeypatch.setattr("zalogate.core.pairing.generate_code", lambda: next(codes))
    first = await pairing.request("zalo", "default", "1")
    second = await pairing.request("zalouser", "other", "2")
    assert (first.code, second.code) == ("AAAA2222", "BBBB3333")


async def test_approval_code_is_trimmed_and_upper_cased(store: Store) -> None:
    """G §1.1: the code is trimmed and upper-cased before comparison."""
    pairing = SqlitePairingStore(store)
    result = await pairing.request("zalo", "default", "42")
    assert result.code is not None
    approved = await pairing.approve("zalo", f"  {result.code.lower()}\n")
    assert approved.id == "42"
    assert await pairing.allowed_senders("zalo", "default") == frozenset({"42"})


async def test_request_meta_carries_account_and_name(store: Store) -> None:
    """G §1.1: ``meta.accountId`` always (normalised, ``default`` when blank), ``meta.name``."""
    pairing = SqlitePairingStore(store)
    await pairing.request("zalouser", " Beta ", "7", sender_name=" Eve ")
    await pairing.request("zalouser", "", "8", meta={"empty": ""})
    by_id = {r.id: r for r in await pairing.list_pending("zalouser")}
    assert dict(by_id["7"].meta) == {"accountId": "beta", "name": "Eve"}
    assert by_id["7"].account_id == "beta"
    assert dict(by_id["8"].meta) == {"accountId": "default"}


async def test_over_cap_requests_are_trimmed_to_the_most_recently_seen(store: Store) -> None:
    """G §1.2 step 3: over the cap, keep the 3 most recently seen, then refuse the newcomer."""
    clock = Clock()
    roomy = SqlitePairingStore(store, clock=clock, max_pending=5)
    for sender in ("1", "2", "3", "4", "5"):
        await roomy.request("zalo", "default", sender)
        clock.advance(1)
    await roomy.request("zalo", "default", "1")  # "1" is seen again: now the most recent
    strict = SqlitePairingStore(store, clock=clock)
    newcomer = await strict.request("zalo", "default", "6")
    assert newcomer.capped
    assert sorted(r.id for r in await strict.list_pending("zalo")) == ["1", "4", "5"]


async def test_listing_deletes_expired_requests(store: Store) -> None:
    """G §1.5: listing also prunes expired requests (they are gone from the table)."""
    clock = Clock()
    pairing = SqlitePairingStore(store, clock=clock)
    await pairing.request("zalo", "default", "1")
    clock.advance(PAIRING_TTL_SECONDS / 2)
    await pairing.request("zalo", "default", "2")
    clock.advance(PAIRING_TTL_SECONDS / 2)
    assert [r.id for r in await pairing.list_pending("zalo")] == ["2"]
    rows = await store.fetchall("SELECT sender_id FROM pairing_requests")
    assert [row["sender_id"] for row in rows] == ["2"]


async def test_approval_without_account_matches_any_account(store: Store) -> None:
    """G §1.5: without ``--account`` a code of any account matches and lands in that
    account's allow store; with ``--account`` only that account's code does."""
    pairing = SqlitePairingStore(store)
    beta = await pairing.request("zalo", "beta", "9")
    assert beta.code is not None
    with pytest.raises(PairingError, match="No pending pairing request found for code"):
        await pairing.approve("zalo", beta.code, account_id="default")
    approved = await pairing.approve("zalo", beta.code)
    assert approved.account_id == "beta"
    assert await pairing.allowed_senders("zalo", "beta") == frozenset({"9"})
    assert await pairing.allowed_senders("zalo", "default") == frozenset()


def test_pairing_text_is_exactly_the_reference_shape_with_our_command() -> None:
    """G §1.3 (plain shape) and PD: id line, code, ``zalogate pairing approve <ch> <CODE>``."""
    assert pairing_challenge_text("zalouser", "1234567890123456789", "ABCD2345") == (
        "zalogate: access not configured.\n"
        "\n"
        "Your Zalo user id: 1234567890123456789\n"
        "\n"
        "Pairing code: ABCD2345\n"
        "\n"
        "Ask the bot owner to approve with:\n"
        "zalogate pairing approve zalouser ABCD2345"
    )


# --------------------------------------------------------------------------- pairing, pipeline


async def test_pairing_reply_goes_out_once_across_redelivery_and_restart(tmp_path: Path) -> None:
    """B25: an unknown sender's text, redelivered and replayed: one request for that account,
    one reply with the code to the chat, nothing dispatched."""
    state = tmp_path / "state"
    channel, agent = Channel(), Agent()
    policy = policy_from_settings("zalo", {"dmPolicy": "pairing", "allowFrom": []})
    async with await Store.open(state, synchronous="NORMAL") as store:
        inbox = Inbox(store, pipeline(store, channel, agent, policy).process)
        async with inbox:
            await inbox.admit(dm(1, "555"))
            await inbox.admit(dm(1, "555"))  # the webhook redelivers it
            await asyncio.wait_for(inbox.wait_idle(), 10)
    async with await Store.open(state, synchronous="NORMAL") as store:
        # A restart: the row is done (a tombstone), a redelivery is still rejected.
        inbox = Inbox(store, pipeline(store, channel, agent, policy).process)
        async with inbox:
            assert (await inbox.admit(dm(1, "555"))).duplicate
            await asyncio.wait_for(inbox.wait_idle(), 10)
        [request] = await SqlitePairingStore(store).list_pending("zalo")
    assert (request.id, request.account_id) == ("555", "default")
    assert [(acct, target) for acct, target, _ in channel.sent] == [("default", "555")]
    assert request.code in channel.texts[0]
    assert agent.turns == []


async def test_failed_pairing_send_is_not_raised_and_not_repeated(store: Store) -> None:
    """B26 / G §1.2: a failed pairing send is logged, not raised (the message is done, not
    retried or dead-lettered); a later message of that sender gets no further reply."""
    channel, agent = Channel(fail=[ConnectionError("zalo down")]), Agent()
    p = pipeline(store, channel, agent, AccountPolicy(channel="zalo"))
    inbox = Inbox(store, p.process, config=InboxConfig(backoff=FAST))
    async with inbox:
        await inbox.admit(dm(1, "555"))
        await asyncio.wait_for(inbox.wait_idle(), 10)
        assert channel.sent == []
        await inbox.admit(dm(2, "555"))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert channel.sent == []
    assert (inbox.counters.retried, inbox.counters.dead_lettered) == (0, 0)
    assert len(await SqlitePairingStore(store).list_pending("zalo")) == 1
    row = await store.fetchone("SELECT status, error FROM pipeline_deliveries")
    assert row is not None
    assert (row["status"], "zalo down" in row["error"]) == ("failed", True)
    assert agent.turns == []


async def test_fourth_stranger_gets_no_reply(store: Store) -> None:
    """G §1.2 step 4: with 3 requests pending on the account, a new sender is ignored."""
    channel = Channel()
    p = pipeline(store, channel, Agent(), AccountPolicy(channel="zalo"))
    outcomes = [await p.handle(dm(1, sender)) for sender in ("1", "2", "3", "4")]
    assert [o.reason for o in outcomes] == ["pairing_code_sent"] * 3 + ["pairing_capped"]
    assert [target for _, target, _ in channel.sent] == ["1", "2", "3"]


async def test_pairing_is_scoped_to_the_account(store: Store) -> None:
    """P18: on account ``beta`` the request carries ``accountId: beta`` and the reply goes out
    through ``beta``; approval admits the sender on ``beta`` only."""
    channel, agent = Channel(accounts_=("default", "beta")), Agent()
    pairing = SqlitePairingStore(store)
    p = pipeline(store, channel, agent, AccountPolicy(channel="zalo"), pairing=pairing)
    assert (await p.handle(dm(1, "attacker", account="beta"))).reason == "pairing_code_sent"
    [request] = await pairing.list_pending("zalo")
    assert (request.account_id, request.meta["accountId"]) == ("beta", "beta")
    assert [acct for acct, _, _ in channel.sent] == ["beta"]
    await pairing.approve("zalo", request.code)
    assert (await p.handle(dm(2, "attacker", account="beta"))).action == "replied"
    assert (await p.handle(dm(3, "attacker"))).reason == "pairing_code_sent"


async def test_pairing_store_failure_issues_no_code_and_is_retried(store: Store) -> None:
    """G §1.6: a pairing-store read failure issues no code; the message is retried later."""

    class BrokenStore(SqlitePairingStore):
        broken = True

        async def allowed_senders(self, channel: str, account_id: str) -> frozenset[str]:
            if self.broken:
                self.broken = False
                raise OSError("disk unavailable")
            return await super().allowed_senders(channel, account_id)

    channel = Channel()
    p = pipeline(store, channel, Agent(), AccountPolicy(channel="zalo"), pairing=BrokenStore(store))
    inbox = Inbox(store, p.process, config=InboxConfig(backoff=FAST))
    async with inbox:
        await inbox.admit(dm(1, "555"))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert inbox.counters.retried == 1
    assert len(channel.sent) == 1  # the code went out once, on the successful attempt


async def test_paired_sender_still_needs_group_allowlists(store: Store) -> None:
    """G §1.7: a pairing approval grants DM access only."""
    pairing = SqlitePairingStore(store)
    await pairing.add_allowed("zalouser", "default", "123")
    policy = AccountPolicy(
        channel="zalouser", group_policy="allowlist", group_allow_from=frozenset({"999"})
    )
    p = pipeline(store, Channel(id="zalouser"), Agent(), policy, pairing=pairing)
    outcome = await p.handle(grp(1, "hi", mentions=MENTIONED))
    assert (outcome.action, outcome.reason) == ("dropped", "group_policy_not_allowlisted")
    assert (await p.handle(dm(1, "123", channel="zalouser"))).action == "replied"


# --------------------------------------------------------------------------- DM policies


async def test_bot_allowlist_dispatches_listed_sender_and_drops_others(store: Store) -> None:
    """B27: allowlist ``["zalo:12345"]``: 12345 is dispatched, 999 dropped with no reply."""
    channel, agent = Channel(), Agent()
    policy = policy_from_settings("zalo", {"dmPolicy": "allowlist", "allowFrom": ["zalo:12345"]})
    p = pipeline(store, channel, agent, policy)
    assert (await p.handle(dm(1, "12345"))).action == "replied"
    dropped = await p.handle(dm(1, "999"))
    assert (dropped.action, dropped.reason) == ("dropped", "dm_policy_not_allowlisted")
    assert [target for _, target, _ in channel.sent] == ["12345"]
    assert [t.sender_id for t in agent.turns] == ["12345"]


async def test_disabled_dm_policy_sends_nothing(store: Store) -> None:
    """B28: ``disabled``: no reply and no dispatch, whoever writes."""
    channel, agent = Channel(), Agent()
    policy = policy_from_settings("zalo", {"dmPolicy": "disabled", "allowFrom": ["*"]})
    outcome = await pipeline(store, channel, agent, policy).handle(dm(1))
    assert (outcome.action, outcome.reason) == ("dropped", "dm_policy_disabled")
    assert (channel.sent, agent.turns, channel.typing_calls) == ([], [], [])


async def test_media_from_stranger_gets_pairing_reply_only(store: Store) -> None:
    """B29: an image from an unauthorised sender under pairing: the pairing reply only."""
    channel, agent = Channel(), Agent()
    image = (MediaRef(kind="image", url="https://img.test/a.jpg"),)
    outcome = await pipeline(store, channel, agent, AccountPolicy(channel="zalo")).handle(
        dm(1, "555", text="", media=image)
    )
    assert outcome.reason == "pairing_code_sent"
    assert "Pairing code:" in channel.texts[0]
    assert agent.turns == []


async def test_allowlist_and_open_dms_never_read_the_pairing_store(store: Store) -> None:
    """P15 / G §2.1: the pairing store counts only under ``pairing``; other policies never
    read it."""

    class CountingStore(SqlitePairingStore):
        reads = 0

        async def allowed_senders(self, channel: str, account_id: str) -> frozenset[str]:
            type(self).reads += 1
            return await super().allowed_senders(channel, account_id)

    pairing = CountingStore(store)
    await pairing.add_allowed("zalo", "default", "42")
    for settings in (
        {"dmPolicy": "allowlist", "allowFrom": ["7"]},
        {"dmPolicy": "open", "allowFrom": ["*"]},
    ):
        p = pipeline(
            store, Channel(), Agent(), policy_from_settings("zalo", settings), pairing=pairing
        )
        await p.handle(dm(1, "42", text="/new"))
        await p.handle(dm(2, "42", text="hello there"))
    assert CountingStore.reads == 0
    # Under pairing the store is what admits the approved sender.
    p = pipeline(store, Channel(), Agent(), AccountPolicy(channel="zalo"), pairing=pairing)
    assert (await p.handle(dm(3, "42"))).action == "replied"
    assert CountingStore.reads == 1


# --------------------------------------------------------------------------- group policy


def test_unset_group_policy_follows_product_decision_for_zalouser() -> None:
    """P2 is superseded by product-decisions: unset → ``channels.defaults.groupPolicy`` →
    ``open``; the reference's zalouser default ``allowlist`` is reachable via the defaults."""
    assert effective_group_policy(policy_from_settings("zalouser", {})) == "open"
    strict = policy_from_settings("zalouser", {}, defaults_group_policy="allowlist")
    assert effective_group_policy(strict) == "allowlist"
    assert decide_group(strict, "g-1", "123").reason == "group_policy_empty_allowlist"


async def test_bot_group_policies_through_the_pipeline(store: Store) -> None:
    """B30: ``groupAllowFrom: ["zl:12345"]`` admits 12345 only; ``disabled`` drops all;
    ``open`` admits any member."""
    agent = Agent()

    async def outcome(settings: Mapping[str, object], sender: str) -> Outcome:
        policy = policy_from_settings("zalo", settings)
        p = pipeline(store, Channel(), agent, policy)
        return await p.handle(
            grp(len(agent.turns) + 100, "hi", sender=sender, channel="zalo", mentions=MENTIONED)
        )

    allowlist = {"groupPolicy": "allowlist", "groupAllowFrom": ["zl:12345"]}
    assert (await outcome(allowlist, "12345")).action == "replied"
    assert (await outcome(allowlist, "777")).reason == "group_policy_not_allowlisted"
    assert (await outcome({"groupPolicy": "disabled"}, "12345")).reason == "group_policy_disabled"
    assert (await outcome({"groupPolicy": "open"}, "777")).action == "replied"


def test_command_allow_from_from_settings() -> None:
    """G §2.8: ``commands.allowFrom``, when set, is the only source of authorisation."""
    policy = policy_from_settings(
        "zalouser", {"allowFrom": ["123"]}, command_allow_from=["zlu:999"]
    )
    assert policy.command_allow_from == frozenset({"999"})
    assert not authorize_command(policy, True, "123")
    assert authorize_command(policy, True, "999")


async def test_unauthorised_group_command_is_dropped_with_the_reference_log(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """G §2.8: ``<ch>: drop control command from unauthorized sender <id>``; not queued."""
    agent = Agent()
    p = pipeline(store, Channel(id="zalouser"), agent, fixture_policy())
    with caplog.at_level(logging.INFO, logger="zalogate.core.pipeline"):
        outcome = await p.handle(grp(1, "/new", mentions=MENTIONED))
    assert (outcome.action, outcome.reason) == ("dropped", "command_unauthorized")
    assert "zalouser: drop control command from unauthorized sender 123" in caplog.text
    assert agent.turns == []
    assert await SqliteGroupHistory(store).peek("zalouser:default:group:g-1") == []


# --------------------------------------------------------------------------- mention gating


async def test_unmentioned_group_message_is_skipped_without_typing(store: Store) -> None:
    """P1: requireMention and no mention: no dispatch, no typing."""
    channel, agent = Channel(id="zalouser"), Agent()
    outcome = await pipeline(store, channel, agent, fixture_policy()).handle(grp(1, "hello"))
    assert (outcome.action, outcome.reason) == ("skipped", "mention_required")
    assert (agent.turns, channel.sent, channel.typing_calls) == ([], [], [])


async def test_undetectable_mentions_drop_the_group_message(store: Store) -> None:
    """P3 / PD: mentions cannot be detected and no patterns: dropped (fail closed), and the
    message is not kept in the history either."""
    agent = Agent()
    p = pipeline(store, Channel(id="zalouser"), agent, fixture_policy())
    outcome = await p.handle(grp(1, "hello", mentions=MentionFacts(can_detect=False)))
    assert (outcome.action, outcome.reason) == ("dropped", "mention_detection_unavailable")
    assert await SqliteGroupHistory(store).peek("zalouser:default:group:g-1") == []


async def test_explicit_mention_dispatches_to_the_group_with_typing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P4: explicit mention → dispatched with WasMentioned, replies and typing go to the group."""
    monkeypatch.setattr(presence, "TYPING_GRACE", 0.0)  # the agent answers at once
    channel, agent = Channel(id="zalouser"), Agent()
    outcome = await pipeline(store, channel, agent, fixture_policy()).handle(
        grp(1, "@Bot hi", mentions=MENTIONED)
    )
    assert outcome.action == "replied"
    [turn] = agent.turns
    assert turn.was_mentioned
    assert [target for _, target, _ in channel.sent] == ["group:g-1"]
    assert channel.typing_calls == ["group:g-1"]


async def test_authorised_command_bypasses_mention_in_the_pipeline(store: Store) -> None:
    """P5: ``/status`` unmentioned from an authorised sender is dispatched, WasMentioned."""
    agent = Agent()
    policy = fixture_policy(allow_from=frozenset({"123"}))
    outcome = await pipeline(store, Channel(id="zalouser"), agent, policy).handle(grp(1, "/status"))
    assert outcome.action == "replied"
    assert agent.turns[0].was_mentioned
    # The same command from someone else is not a bypass: it is an ordinary skipped line.
    other = await pipeline(store, Channel(id="zalouser"), agent, policy).handle(
        grp(2, "/status", sender="456")
    )
    assert other.action == "skipped"


async def test_mention_prefixed_command_is_recognised(store: Store) -> None:
    """P6: ``@Bot /new`` is the control command ``/new`` (from the channel's command text,
    or, without it, by stripping the leading mention)."""
    agent = Agent()
    closed = pipeline(store, Channel(id="zalouser"), agent, fixture_policy())
    for message in (
        grp(1, "@Bot /new", mentions=MENTIONED, command_text="/new"),
        grp(2, "@Bot /new", mentions=MENTIONED),
    ):
        assert (await closed.handle(message)).reason == "command_unauthorized"
    allowed = pipeline(
        store, Channel(id="zalouser"), agent, fixture_policy(allow_from=frozenset({"123"}))
    )
    assert (await allowed.handle(grp(3, "@Bot /new", mentions=MENTIONED))).action == "replied"
    # Not a command: text that merely contains a slash later on.
    assert (await closed.handle(grp(4, "@Bot see a/b", mentions=MENTIONED))).action == "replied"


async def test_quoted_bot_switch_reaches_the_pipeline(store: Store) -> None:
    """G §2.6: quoting the bot counts as a mention unless ``implicitMentions.quotedBot`` is
    false."""
    quote = MentionFacts(quoted_bot=True)
    on = pipeline(store, Channel(id="zalouser"), Agent(), fixture_policy())
    assert (await on.handle(grp(1, "reply to bot", mentions=quote))).action == "replied"
    off_policy = policy_from_settings("zalouser", {"groupPolicy": "open"}, quoted_bot_counts=False)
    off = pipeline(store, Channel(id="zalouser"), Agent(), off_policy)
    assert (await off.handle(grp(2, "reply to bot", mentions=quote))).action == "skipped"


# --------------------------------------------------------------------------- pending history


async def test_history_body_is_exactly_the_reference_layout(store: Store) -> None:
    """G §2.7: the two marker lines, one line per skipped message, a blank line, the current
    message."""
    agent = Agent()
    p = pipeline(store, Channel(id="zalouser"), agent, fixture_policy())
    await p.handle(grp(1, "first line"))
    await p.handle(grp(2, "second line", sender="456", name="Bob"))
    await p.handle(grp(3, "@Bot what now?", mentions=MENTIONED, name="Carol", sender="789"))
    assert agent.turns[0].body == (
        f"{HISTORY_MARKER}\n"
        "Alice: first line [id:g-1-1]\n"
        "Bob: second line [id:g-1-2]\n"
        "\n"
        f"{CURRENT_MESSAGE_MARKER}\n"
        "Carol: @Bot what now?"
    )
    assert HISTORY_MARKER == "[Chat messages since your last reply - for context]"
    assert CURRENT_MESSAGE_MARKER == "[Current message - respond to this]"


async def test_inbound_history_is_passed_structured_then_cleared(store: Store) -> None:
    """P16: historyLimit 5: the next mentioned dispatch carries InboundHistory
    ``[{sender: Alice, body: first unmentioned line}]`` and its body contains it; the third
    dispatch has none."""
    agent = Agent()
    p = pipeline(store, Channel(id="zalouser"), agent, fixture_policy(history_limit=5))
    assert (await p.handle(grp(1, "first unmentioned line"))).action == "skipped"
    await p.handle(grp(2, "@Bot hi", mentions=MENTIONED))
    await p.handle(grp(3, "@Bot again", mentions=MENTIONED))
    first, third = agent.turns
    assert [(h.sender, h.body) for h in first.history] == [("Alice", "first unmentioned line")]
    assert "first unmentioned line" in first.body
    assert first.to_json()["history"][0]["body"] == "first unmentioned line"
    assert third.history == ()
    assert HISTORY_MARKER not in third.body


async def test_history_limit_of_the_account_is_applied(store: Store) -> None:
    """G §2.7: each group keeps at most ``historyLimit`` entries (oldest dropped); 0 keeps
    none."""
    agent = Agent()
    p = pipeline(
        store,
        Channel(id="zalouser"),
        agent,
        policy_from_settings("zalouser", {"groupPolicy": "open", "historyLimit": 2}),
    )
    for n in range(1, 5):
        await p.handle(grp(n, f"line {n}"))
    await p.handle(grp(9, "@Bot", mentions=MENTIONED))
    assert [h.body for h in agent.turns[0].history] == ["line 3", "line 4"]
    none = pipeline(
        store,
        Channel(id="zalouser"),
        agent,
        policy_from_settings("zalouser", {"groupPolicy": "open", "historyLimit": 0}),
    )
    await none.handle(grp(10, "lost line", chat="g-2"))
    await none.handle(grp(11, "@Bot", chat="g-2", mentions=MENTIONED))
    assert agent.turns[1].history == ()
    assert agent.turns[1].body == "Alice: @Bot"


async def test_history_is_kept_until_a_dispatch_succeeds(store: Store) -> None:
    """G §2.7: the window is cleared after dispatch; a failed dispatch keeps it for the
    retry."""
    agent = Agent()
    agent_error = RuntimeError("model endpoint down")
    p = pipeline(store, Channel(id="zalouser"), agent, fixture_policy())
    await p.handle(grp(1, "context line"))
    agent.fail_next = agent_error
    with pytest.raises(RuntimeError):
        await p.handle(grp(2, "@Bot hi", mentions=MENTIONED))
    await p.handle(grp(2, "@Bot hi", mentions=MENTIONED))
    assert [h.body for h in agent.turns[1].history] == ["context line"]
    assert await SqliteGroupHistory(store).peek("zalouser:default:group:g-1") == []


async def test_history_of_one_group_never_reaches_another(store: Store) -> None:
    agent = Agent()
    p = pipeline(store, Channel(id="zalouser"), agent, fixture_policy())
    await p.handle(grp(1, "secret of g-1"))
    await p.handle(grp(2, "@Bot hi", chat="g-2", mentions=MENTIONED))
    assert agent.turns[0].history == ()
    assert "secret of g-1" not in agent.turns[0].body


async def test_pending_history_survives_a_gateway_restart(tmp_path: Path) -> None:
    """PD: the pending history is persisted: a skip before a restart shows up after it."""
    state = tmp_path / "state"
    agent = Agent()
    async with await Store.open(state, synchronous="NORMAL") as store:
        await pipeline(store, Channel(id="zalouser"), agent, fixture_policy()).handle(
            grp(1, "before restart")
        )
    async with await Store.open(state, synchronous="NORMAL") as store:
        await pipeline(store, Channel(id="zalouser"), agent, fixture_policy()).handle(
            grp(2, "@Bot", mentions=MENTIONED)
        )
    assert [h.body for h in agent.turns[0].history] == ["before restart"]


async def test_media_only_skipped_message_is_kept_as_placeholder(store: Store) -> None:
    agent = Agent()
    p = pipeline(store, Channel(id="zalouser"), agent, fixture_policy())
    photo = (MediaRef(kind="image", path="/state/media/a.jpg"),)
    await p.handle(grp(1, "", media=photo))
    await p.handle(grp(2, "@Bot look", mentions=MENTIONED))
    [entry] = agent.turns[0].history
    assert (entry.body, entry.media) == ("<media:image>", ("/state/media/a.jpg",))


# --------------------------------------------------------------------------- session keys


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("main", "agent:main:main"),
        ("per-peer", "agent:main:direct:u9"),
        ("per-channel-peer", "agent:main:zalo:direct:u9"),
        ("per-account-channel-peer", "agent:main:zalo:work:direct:u9"),
    ],
)
async def test_dm_scopes_through_the_pipeline(store: Store, scope: str, expected: str) -> None:
    """G §4.2: the four DM scopes (peer ids lower-cased)."""
    agent = Agent()
    channel = Channel(accounts_=("work",))
    open_dm = AccountPolicy(channel="zalo", dm_policy="open", allow_from=frozenset({"*"}))
    p = pipeline(store, channel, agent, open_dm, session=SessionOptions(dm_scope=scope))
    await p.handle(dm(1, "U9", account="work"))
    assert agent.turns[0].session_key == expected


async def test_zalouser_dm_session_key_in_the_pipeline(store: Store) -> None:
    """P13: a zalouser DM under the default scope gets ``agent:main:zalouser:direct:321``."""
    agent = Agent()
    open_dm = AccountPolicy(channel="zalouser", dm_policy="open", allow_from=frozenset({"*"}))
    await pipeline(store, Channel(id="zalouser"), agent, open_dm).handle(
        dm(1, "321", channel="zalouser")
    )
    assert agent.turns[0].session_key == "agent:main:zalouser:direct:321"


async def test_legacy_zalouser_session_is_reused_by_the_pipeline(store: Store) -> None:
    """P14: when only the legacy ``agent:main:zalouser:group:321`` session exists (it has a
    transcript), a DM from 321 continues it; once a direct session exists, that one wins."""
    agent = Agent()
    open_dm = AccountPolicy(channel="zalouser", dm_policy="open", allow_from=frozenset({"*"}))
    p = pipeline(store, Channel(id="zalouser"), agent, open_dm)
    insert = (
        "INSERT INTO agent_transcripts (session_key, content, created_at_ms) VALUES (?, '{}', 0)"
    )
    await store.execute(insert, ("agent:main:zalouser:group:321",))
    await p.handle(dm(1, "321", channel="zalouser"))
    await store.execute(insert, ("agent:main:zalouser:direct:321",))
    await p.handle(dm(2, "321", channel="zalouser"))
    assert [t.session_key for t in agent.turns] == [
        "agent:main:zalouser:group:321",
        "agent:main:zalouser:direct:321",
    ]


async def test_group_session_key_in_the_pipeline(store: Store) -> None:
    """G §4.2: ``agent:<agent>:<channel>:group:<id>``; ``groupScope: main`` folds into main."""
    agent = Agent()
    policy = fixture_policy()
    await pipeline(store, Channel(id="zalouser"), agent, policy).handle(
        grp(1, "@Bot", chat="G-7", mentions=MENTIONED)
    )
    folded = pipeline(
        store, Channel(id="zalouser"), agent, policy, session=SessionOptions(group_scope="main")
    )
    await folded.handle(grp(2, "@Bot", chat="G-7", mentions=MENTIONED))
    assert [t.session_key for t in agent.turns] == [
        "agent:main:zalouser:group:g-7",
        "agent:main:main",
    ]


# --------------------------------------------------------------------------- delivery


async def test_reply_chunks_respect_utf16_limit_in_the_pipeline(store: Store) -> None:
    """PD: the limit counts UTF-16 units: 1500 emoji (3000 units) need two 2000-unit sends."""
    channel = Channel()
    agent = Agent([ReplyPayload(text="😀" * 1500)])
    open_dm = AccountPolicy(channel="zalo", dm_policy="open", allow_from=frozenset({"*"}))
    await pipeline(store, channel, agent, open_dm).handle(dm(1))
    assert [utf16_len(t) for t in channel.texts] == [2000, 1000]
    assert "".join(channel.texts) == "😀" * 1500


async def test_channel_that_chunks_itself_gets_the_whole_reply(store: Store) -> None:
    """P17: a channel that formats Markdown (zalouser) gets ``**a*2501**`` in one send and
    chunks after formatting; the prefix and NO_REPLY rules still apply."""
    channel = SelfChunkingChannel(id="zalouser")
    text = "**" + "a" * 2501 + "**"
    agent = Agent([ReplyPayload(text=text), ReplyPayload(text="NO_REPLY")])
    open_dm = AccountPolicy(channel="zalouser", dm_policy="open", allow_from=frozenset({"*"}))
    await pipeline(store, channel, agent, open_dm).handle(dm(1, channel="zalouser"))
    assert channel.texts == [text]


async def test_the_first_piece_keeps_the_quoted_message(store: Store) -> None:
    """The agent's ``reply_to_id`` reaches the channel on the first piece only, whether the
    core chunks the reply or the channel does (``chunks_replies``)."""
    open_dm = AccountPolicy(
        channel="zalo", dm_policy="open", allow_from=frozenset({"*"}), text_chunk_limit=5
    )
    quoted = ReplyPayload(text="one two three", reply_to_id="m1")
    chunked = Channel()
    await pipeline(store, chunked, Agent([quoted]), open_dm).handle(dm(1))
    assert [(r.text, r.reply_to_id) for _, _, r in chunked.sent] == [
        ("one", "m1"),
        ("two", None),
        ("three", None),
    ]
    whole = SelfChunkingChannel(id="zalouser")
    policy = AccountPolicy(channel="zalouser", dm_policy="open", allow_from=frozenset({"*"}))
    await pipeline(store, whole, Agent([quoted]), policy).handle(dm(2, channel="zalouser"))
    assert [(r.text, r.reply_to_id) for _, _, r in whole.sent] == [("one two three", "m1")]


async def test_a_conversation_event_is_noted_in_the_transcript_without_a_turn(
    store: Store,
) -> None:
    """``event``: after access control the text goes into the session's transcript, the
    agent is not asked; an unpaired sender's event is dropped, with no pairing code."""
    channel = Channel()
    agent = Agent()
    allowed = AccountPolicy(channel="zalo", dm_policy="pairing", allow_from=frozenset({"u1"}))
    p = pipeline(store, channel, agent, allowed)
    recall = dm(1).model_copy(update={"text": "(message 7 was recalled)", "event": "recall"})
    outcome = await p.handle(recall)
    assert (outcome.action, outcome.reason) == ("handled", "event_recall")
    assert outcome.session_key is not None
    notes = await SqliteTranscriptStore(store).recent(outcome.session_key, 10)
    assert notes == [{"role": "user", "content": "(message 7 was recalled)"}]
    stranger = dm(2, "u9").model_copy(update={"event": "recall"})
    assert (await p.handle(stranger)).reason == "event_from_unpaired_sender"
    assert agent.turns == []
    assert channel.sent == []


async def test_failure_on_second_of_three_chunks_keeps_the_first_as_delivered(
    store: Store,
) -> None:
    """B37: the second of three chunks fails: the error propagates, the first chunk's message
    id is recorded as delivered, and the retry sends only what is missing."""
    channel = Channel(fail=[None, DeliveryError("zalo 502", retryable=True)])
    agent = Agent([ReplyPayload(text="one two three")])
    policy = AccountPolicy(
        channel="zalo", dm_policy="open", allow_from=frozenset({"*"}), text_chunk_limit=5
    )
    p = pipeline(store, channel, agent, policy)
    inbox = Inbox(store, p.process, config=InboxConfig(backoff=FAST))
    async with inbox:
        await inbox.admit(dm(1))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert channel.texts == ["one", "two", "three"]
    rows = await store.fetchall(
        "SELECT seq, status, message_ids FROM pipeline_deliveries ORDER BY seq"
    )
    assert [(r["seq"], r["status"], r["message_ids"]) for r in rows] == [
        (0, "sent", '["out-1"]'),
        (1, "sent", '["out-2"]'),
        (2, "sent", '["out-3"]'),
    ]
    assert inbox.counters.retried == 1
    assert p.counters.chunks_already_sent == 1


async def test_message_prefix_is_prepended_to_the_agent_body(store: Store) -> None:
    """P19: ``messagePrefix: "[acct]"`` → body ``[acct] hello``; ``""`` adds nothing, and the
    response prefix only touches replies."""
    agent, channel = Agent(), Channel()
    prefixed = policy_from_settings(
        "zalo", {"dmPolicy": "open", "allowFrom": ["*"], "messagePrefix": "[acct]"}
    )
    await pipeline(store, channel, agent, prefixed).handle(dm(1, text="hello"))
    plain = policy_from_settings(
        "zalo",
        {"dmPolicy": "open", "allowFrom": ["*"], "messagePrefix": "", "responsePrefix": "[out]"},
    )
    await pipeline(store, channel, agent, plain).handle(dm(2, text="hello"))
    assert [t.body for t in agent.turns] == ["[acct] hello", "hello"]
    assert channel.texts == ["echo: hello", "[out] echo: hello"]


# --------------------------------------------------------------------------- inbox


async def test_redelivery_after_completion_with_new_text_is_not_processed(store: Store) -> None:
    """B22: the same message id re-posted after completion with different text is not
    dispatched again (the first text wins)."""
    agent = Agent()
    open_dm = AccountPolicy(channel="zalo", dm_policy="open", allow_from=frozenset({"*"}))
    inbox = Inbox(store, pipeline(store, Channel(), agent, open_dm).process)
    async with inbox:
        await inbox.admit(dm(1, text="first text"))
        await asyncio.wait_for(inbox.wait_idle(), 10)
        again = await inbox.admit(dm(1, text="changed text"))
        await asyncio.wait_for(inbox.wait_idle(), 10)
    assert again.duplicate
    assert [t.text for t in agent.turns] == ["first text"]


async def test_tombstone_defaults_are_30_days_and_20000_per_account(store: Store) -> None:
    """Issue 3 item 7: done rows reject redeliveries for 30 days (20,000 per account)."""
    assert (InboxConfig().tombstone_days, InboxConfig().tombstone_limit) == (30.0, 20_000)
    clock = Clock()

    async def handler(message: InboundMessage) -> None:
        return None

    inbox = Inbox(store, handler, clock=clock)
    async with inbox:
        await inbox.admit(dm(1))
        await asyncio.wait_for(inbox.wait_idle(), 10)
        clock.advance(29 * 86_400)
        await inbox.prune()
        assert (await inbox.admit(dm(1))).duplicate
        clock.advance(2 * 86_400)
        await inbox.prune()
        assert not (await inbox.admit(dm(1))).duplicate
        await asyncio.wait_for(inbox.wait_idle(), 10)


def test_allowlists_are_normalised_sets() -> None:
    """PD: allowlists are sets, whatever their size (see also bench/core_pipeline.py)."""
    entries = normalize_allow_list("zalo", [f"zl:{n}" for n in range(1000)])
    assert isinstance(entries, frozenset)
    assert "999" in entries
