"""Scenario coverage of the zalouser channel (issue 6): every behavioural scenario of
``zalo-personal.md`` §8 (P1-P40) and the issue's own requirements, and the test that checks
each. Test files are in ``tests/channels/zalouser/`` unless a path is given; ``core/...`` is
``tests/core/``, ``cli/...`` is ``tests/cli/``. End-to-end tests run FakeZaloPersonal with
the real gateway (Store, Inbox, Pipeline, agent). Where the reference holds several
behaviours, the row says which one we follow (PD = product-decisions.md).

The last test of this module checks that every test named below exists.

Group gating (fixture: groups ``{"*": {requireMention: true}}``, groupPolicy open)
* P1  unmentioned group message: no dispatch, no typing (and no receipts)
    test_group_gating.py::test_unmentioned_message_is_skipped_without_typing_or_receipts
    core/test_scenarios.py::test_unmentioned_group_message_is_skipped_without_typing
* P2  default groupPolicy: superseded by PD (unset -> channels.defaults.groupPolicy -> open,
  and status warns); the reference's ``allowlist`` is one ``channels.defaults`` away
    test_group_gating.py::test_unset_group_policy_is_open_and_warned_about
    core/test_scenarios.py::test_unset_group_policy_follows_product_decision_for_zalouser
* P3  no way to detect mentions (no own uid, no patterns): dropped, error logged
    test_inbound.py::test_without_own_uid_mentions_cannot_be_detected
    core/test_scenarios.py::test_undetectable_mentions_drop_the_group_message
* P4  explicit mention of the own uid: dispatched, WasMentioned, reply + typing to the group
    test_group_gating.py::test_explicit_mention_dispatches_to_the_group_with_typing
    test_inbound.py::test_own_mention_sets_facts_and_is_cut_from_the_command_text
* P5  authorised ``/status`` bypasses the mention gate
    test_group_gating.py::test_authorised_command_bypasses_the_mention_gate
* P6  ``@Bot /new`` is the command ``/new`` (own mention span cut out)
    test_inbound.py::test_own_mention_sets_facts_and_is_cut_from_the_command_text
    test_group_gating.py::test_mention_prefixed_command_from_an_unauthorised_sender_is_dropped
* P7  command authorisation from allowFrom alone
    test_group_gating.py::test_authorised_command_bypasses_the_mention_gate
* P8  command authorisation through groupAllowFrom
    test_group_gating.py::test_command_authorised_through_group_allow_from
* P9  allowlisted group, sender outside allowFrom: answered now (PD, OpenClaw PR 46663:
  groupAllowFrom no longer falls back to allowFrom)
    test_group_gating.py::test_allowlisted_group_admits_members_outside_allow_from
* P10 sender not in groupAllowFrom: blocked
    test_group_gating.py::test_sender_outside_group_allow_from_is_blocked
* P11 a (spoofed) group name does not match by default
    test_group_gating.py::test_renamed_group_matches_by_name_only_with_the_dangerous_flag
* P12 name matching only with dangerouslyAllowNameMatching
    test_group_gating.py::test_renamed_group_matches_by_name_only_with_the_dangerous_flag
* P16 pending group history: prepended to the next dispatch, then cleared
    test_group_gating.py::test_pending_history_reaches_the_next_processed_message
* P31 group rule candidates (id, group:id, names only when allowed, *)
    core/test_access.py::test_group_candidates_order
    test_group_gating.py::test_group_names_are_resolved_at_startup_and_logged
* mentionPatterns count as mentions; quoting the account's message counts
    test_group_gating.py::test_mention_patterns_count_as_mentions
    test_group_gating.py::test_quoting_the_account_counts_as_a_mention
* groups names resolved to ids at startup, mapping and unresolved logged
    test_group_gating.py::test_group_names_are_resolved_at_startup_and_logged

Direct messages, pairing, sessions
* P13 DM routing: per-sender session ``agent:main:zalouser:direct:<id>``
    test_dm.py::test_dm_session_is_per_sender
* P14 legacy ``agent:main:zalouser:group:<sender>`` session reused when only it exists
    test_dm.py::test_legacy_group_kind_dm_session_is_reused
* P15 the pairing store is read only when it can matter (PD: approvals count only under
  pairing)
    core/test_scenarios.py::test_allowlist_and_open_dms_never_read_the_pairing_store
* P18 pairing scoped to the account (``accountId: beta``), reply from that account
    test_dm.py::test_pairing_is_scoped_to_the_account
* P19 messagePrefix on the agent body; responsePrefix only outbound
    test_dm.py::test_message_prefix_on_the_agent_body
* pairing: one code, no second message, approval lets the sender in
    test_dm.py::test_stranger_gets_one_pairing_code_then_is_answered_after_approval
* allowFrom names resolved to ids at startup, mapping and unresolved logged; the last
  mapping serves replays and one-off commands until the monitor resolves again
    test_dm.py::test_allow_from_names_are_resolved_to_ids_at_startup
    test_dm.py::test_the_last_name_resolution_serves_before_the_monitor_runs
* dmPolicy disabled
    test_dm.py::test_disabled_dm_policy_drops_everything
* two accounts: pairing stores and sessions isolated per account
    test_multi_account.py::test_pairing_stores_are_isolated_per_account
    test_multi_account.py::test_sessions_are_isolated_per_account

Inbound
* photos downloaded (within mediaMaxMb, 0600) only after access control
    test_dm.py::test_photo_is_downloaded_only_for_an_admitted_sender
    test_dm.py::test_photo_over_the_size_cap_is_announced_unavailable
* other attachments: files, voice, video downloaded within mediaMaxMb; stickers, locations,
  contact cards, unknown kinds described (issue 14)
    test_dm.py::test_every_inbound_kind_reaches_the_agent
    test_inbound.py::test_other_attachments_are_placeholders
    test_inbound.py::test_location_contact_card_and_unknown_kinds_are_described
* group name and the first 20 member names from a cached lookup
    test_inbound.py::test_group_name_and_first_twenty_members_come_from_the_lookup
    test_inbound.py::test_group_cache_expires_bounds_its_size_and_survives_failures
* self messages ignored
    test_inbound.py::test_own_messages_and_empty_ones_are_ignored
* delivered + seen receipts only for processed messages (PD)
    test_group_gating.py::test_explicit_mention_dispatches_to_the_group_with_typing
    test_group_gating.py::test_allowlisted_group_admits_members_outside_allow_from
    test_dm.py::test_stranger_gets_one_pairing_code_then_is_answered_after_approval

Outbound
* P17 a long Markdown reply passes to the channel whole and is chunked after formatting
    test_outbound.py::test_long_markdown_reply_passes_whole_and_is_chunked_after_formatting
* P20 a delivery failure reaches the inbox (dead-lettered with the error)
    test_outbound.py::test_delivery_failure_reaches_the_inbox
* P21 transport sanitisation of hook-injected tool-failure lines: not applicable (zalogate
  has no reply hooks that add trace lines); the silent token is the core's
    core/test_pipeline.py::test_replies_are_prefixed_chunked_and_silent_ones_suppressed
* P22 plain text stays literal
    test_markdown_styles.py::test_plain_text_is_literal
    test_outbound.py::test_plain_text_goes_out_unchanged
* P23 ``**hello**`` -> bold ``hello``; caption ``_cap_`` -> ``cap`` (Zalo photo captions carry
  no styles, so the caption is the formatted plain text); an empty fence -> ""
    test_markdown_styles.py::test_caption_examples
    test_outbound.py::test_markdown_reply_is_sent_with_zalo_styles
    test_outbound.py::test_photo_with_caption_and_overflow_text
* P24 formatting that grows the text is re-chunked; every chunk <= 2000
    test_styled_chunks.py::test_formatting_can_push_text_over_the_limit
    test_outbound.py::test_formatting_that_grows_the_text_is_rechunked
* P25 styles survive splits; custom limit
    test_styled_chunks.py::test_long_bold_text_is_split_with_the_style_in_each_chunk
    test_styled_chunks.py::test_custom_limit
* P26 newline chunk mode
    test_styled_chunks.py::test_newline_mode_breaks_after_the_paragraph
    test_outbound.py::test_newline_chunk_mode_and_custom_limit
* P27 caption overflow follows as text after the photo
    test_outbound.py::test_photo_with_caption_and_overflow_text
* P28 outbound targets (group:, g:, g-, user:, u:, bare id = DM; foreign prefix refused)
    test_outbound.py::test_targets
    test_outbound.py::test_foreign_target_prefix_is_refused
    core/test_targets.py::test_zalouser_looks_like_id
    core/test_targets.py::test_zalouser_targets_normalise_to_canonical_form
* P29 reaction aliases
    test_reactions.py::test_reaction_aliases
    test_outbound.py::test_reaction_aliases_reach_zalo
* P30 message id pair helpers
    test_reactions.py::test_message_sid_parse_and_format
    test_reactions.py::test_resolve_message_ids_prefers_explicit_then_context_then_single
* P39 the Markdown parser (offsets, headings, quotes, lists, tags, escapes, code)
    test_markdown_styles.py::test_bold_italic_strike_have_the_reference_offsets
    test_markdown_styles.py::test_heading_quote_and_nested_list
    test_markdown_styles.py::test_small_tag_gives_no_style_and_colour_tags_do
    test_markdown_styles.py::test_escaped_markers_stay_literal
    test_markdown_styles.py::test_indented_code_keeps_its_text_with_no_break_spaces
* images, files (need the listener), links; retries on 5xx, none on other errors; partial
  deliveries carry the ids that went out; the SSRF guard
    test_outbound.py::test_photo_from_a_url_and_the_ssrf_guard
    test_outbound.py::test_file_send_needs_the_listener
    test_outbound.py::test_link_with_preview
    test_outbound.py::test_transient_failures_are_retried
    test_outbound.py::test_other_errors_are_not_retried
    test_outbound.py::test_failure_after_a_chunk_went_out_is_a_partial_delivery

Agent tool, probe, status, directory
* P32 the ``zalouser`` tool: missing fields, ambient conversation, explicit thread wins,
  foreign conversation ignored, failures as ``{error}``, friends/groups/me/status shapes
    test_tools.py::test_send_needs_thread_and_message
    test_tools.py::test_send_defaults_to_the_current_conversation
    test_tools.py::test_explicit_thread_wins_over_the_conversation
    test_tools.py::test_a_foreign_conversation_is_ignored
    test_tools.py::test_send_failure_is_an_error_result
    test_tools.py::test_friends_groups_me_status
    test_tools.py::test_me_and_status_without_a_session
    test_tools.py::test_the_gateway_offers_the_tool_bound_to_the_conversation
    test_tools.py::test_the_mcp_toolbox_offers_the_tool_with_an_account_argument
* P33 probe: ok / not authenticated / error / stalled lookup (timeout at least 1 s)
    test_probe_directory.py::test_probe_logged_in_reports_the_identity
    test_probe_directory.py::test_probe_without_a_session_says_how_to_log_in
    test_probe_directory.py::test_probe_of_a_stalled_lookup_times_out_after_at_least_a_second
    test_supervision.py::test_refused_session_is_reported_as_needing_login
* P34 status issues: auth issue without a session, open-policy warnings, none when disabled
    test_probe_directory.py::test_status_snapshot_and_warnings
* P37 lookup timeouts with specific messages
    test_probe_directory.py::test_stalled_lookups_time_out_with_specific_messages
    test_probe_directory.py::test_stalled_group_members_lookup
* P40 CLI-era argument injection: not applicable (nothing is passed to a subprocess); values
  starting with ``-`` are plain data
    test_tools.py::test_arguments_are_data_not_command_line
* directory: self, peers (exact first), groups (``group:<id>``), group members
    test_probe_directory.py::test_directory_self_peers_groups_and_members

Accounts, credentials, login
* P35 QR PNG written 0600 at a stable path, overwritten by a renewed code
    test_login.py::test_qr_login_saves_a_private_session_that_works
    test_login.py::test_expired_codes_are_renewed_then_the_login_gives_up
    cli/test_zalouser_cli.py::test_login_draws_the_qr_saves_it_private_and_the_phone_confirms
* P36 credentials: the final jar saved after QR login; refreshed cookies re-persisted keeping
  createdAt; reordered cookies not rewritten; sends without a session give a clear error.
  (Store: one JSON file per profile, 0600, as the issue asks, not OpenClaw's later SQLite.)
    test_credentials.py::test_refresh_writes_only_when_the_jar_changed
    test_credentials.py::test_touch_moves_last_used_at_and_keeps_created_at
    test_supervision.py::test_refreshed_cookies_are_written_back_while_running
    test_outbound.py::test_sending_without_a_session_is_a_clear_error
* P38 accounts: default, sorted ids, defaultAccount, profile precedence
    test_accounts.py::test_no_accounts_map_gives_the_default_account
    test_accounts.py::test_accounts_are_sorted_with_the_default_account_first
    test_accounts.py::test_missing_default_account_falls_back_to_the_first_sorted
    test_accounts.py::test_profile_precedence
* credential files 0600 in 0700 folders; names cannot leave the folder; unusable files
    test_credentials.py::test_saved_file_is_private_and_round_trips
    test_credentials.py::test_profile_names_cannot_leave_the_folder
    test_credentials.py::test_unusable_files_are_reported_without_values
* login: scan + confirm, decline, expiry, bounded wait, ask before replacing; logout
    test_login.py::test_qr_login_saves_a_private_session_that_works
    test_login.py::test_existing_session_is_kept_unless_the_user_agrees
    test_login.py::test_declined_login_fails_clearly_and_saves_nothing
    test_login.py::test_login_wait_is_bounded
    test_login.py::test_logout_clears_the_saved_session

Supervision (issue item 6)
* a listener that closes restarts its account with backoff (or reconnects by itself)
    test_supervision.py::test_closed_listener_restarts_the_account
    test_supervision.py::test_listener_reconnects_by_itself_on_an_abnormal_close
* duplicate connection (3000) stops only that account, clearly; the other keeps working
    test_supervision.py::test_duplicate_connection_stops_only_that_account
* no saved session: "needs QR login" status, picked up once the session exists
    test_supervision.py::test_missing_session_needs_qr_login_and_is_picked_up_later
* one profile cannot be listened to by two accounts
    test_supervision.py::test_two_accounts_cannot_share_one_profile
* no cookie or session key in logs, status, probe or reprs
    test_supervision.py::test_no_cookie_or_session_key_in_logs_and_credentials_stay_private
* the DM round trip from a saved session
    test_round_trip.py::test_dm_round_trip_from_saved_session
"""

from __future__ import annotations

import re
from pathlib import Path

_REFERENCE = re.compile(r"^\s{4}((?:core/|cli/)?[\w/]+\.py)::(\w+)", re.MULTILINE)
_HERE = Path(__file__).parent
_TESTS = _HERE.parent.parent


def _references() -> list[tuple[str, str]]:
    doc = __doc__ or ""
    return _REFERENCE.findall(doc)


def test_every_scenario_row_names_an_existing_test() -> None:
    refs = _references()
    assert len(refs) > 100
    missing = []
    for file, name in refs:
        path = _TESTS / file if file.startswith(("core/", "cli/")) else _HERE / file
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if not re.search(rf"^(?:async )?def {name}\(", text, re.MULTILINE):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_every_reference_scenario_is_listed() -> None:
    doc = __doc__ or ""
    listed = {int(n) for n in re.findall(r"^\* P(\d+)\b", doc, re.MULTILINE)}
    assert listed == set(range(1, 41))
