"""Checklist: the 40 scenarios of ``zalo-bot-api.md`` §10 and the tests that cover them.

Every entry names ``<file>::<test>`` (``botapi/...`` under ``tests/``, the others in this
folder); ``test_every_entry_exists`` fails when a test is renamed or removed, so the list
cannot silently rot.

API client
 1. getMe request shape
    botapi/test_client.py::test_get_me_posts_json_without_body_to_token_path
 2. 502 HTML / ok:false 401
    botapi/test_client.py::test_api_errors_map_to_typed_exceptions
    botapi/test_client.py::test_ok_false_keeps_code_and_description
    botapi/test_client.py::test_transport_error_text_and_chain_never_hold_the_token
 3. timeout string, 35/30/150 s
    botapi/test_client.py::test_get_updates_sends_timeout_as_string_and_waits_poll_plus_five_seconds
    botapi/test_client.py::test_default_deadline_is_30_seconds_and_send_photo_150
 4. bad photo URLs, SSRF
    botapi/test_client.py::test_send_photo_refuses_non_http_urls_without_a_request
    botapi/test_client.py::test_send_photo_refuses_private_and_loopback_hosts_without_a_request
 5. 2000-unit caption
    botapi/test_client.py::test_long_caption_is_cut_to_2000_utf16_units_without_breaking_an_emoji

Polling
 6. no webhook, one poll
    test_polling.py::test_no_webhook_means_no_delete_and_exactly_one_poll_in_flight
 7. stale webhook deleted
    test_polling.py::test_a_stale_webhook_is_deleted_before_the_first_poll
 8. getWebhookInfo 404
    test_polling.py::test_webhook_info_404_is_not_an_error
 9. transport error, abort
    test_polling.py::test_transport_error_backs_off_and_stop_during_the_pause_polls_no_more
10. empty polls (408 shapes)
    test_polling.py::test_empty_polls_are_silent_and_polling_continues_at_once
11. dedupe, crash replay
    test_polling.py::test_the_same_update_polled_twice_is_answered_once
    test_gateway.py::test_an_admitted_update_is_answered_once_after_a_crash

Webhook
12. GET -> 405
    test_webhook.py::test_get_is_405_with_allow_post
13. wrong secret -> 401
    test_webhook.py::test_a_wrong_secret_is_401_before_the_content_type
14. content types
    test_webhook.py::test_content_types
15. 400 / 413
    test_webhook.py::test_bad_bodies_are_400
    test_webhook.py::test_a_body_over_1_mib_is_413
16. same secret = ambiguous
    test_webhook.py::test_two_accounts_with_the_same_secret_on_one_path_are_ambiguous
17. different secrets
    test_webhook.py::test_two_accounts_with_different_secrets_each_admit_once
18. flood -> 429, one key
    test_webhook.py::test_a_flood_is_rate_limited_per_path_and_ip_before_auth
19. trusted forwarded IPs
    test_webhook.py::test_a_flood_from_one_forwarded_ip_does_not_block_another
20. posted twice, one reply
    test_webhook.py::test_a_redelivered_update_is_answered_once
21. journal fails -> 500
    test_webhook.py::test_a_failing_journal_gives_500_after_3_attempts_and_no_dispatch
22. first text wins, dead letters
    test_webhook.py::test_a_redelivered_update_is_answered_once
    test_inbound.py::test_malformed_events_are_ignored_with_a_reason
    test_delivery.py::test_a_401_from_send_message_dead_letters_without_retry
    test_delivery.py::test_a_transient_failure_is_retried_by_the_inbox_and_completes
23. http:// URL, 7-char secret
    test_webhook.py::test_invalid_webhook_settings_are_config_errors_naming_the_key
    test_webhook.py::test_the_channel_checks_webhook_settings_itself
24. route/setWebhook/abort order
    test_webhook.py::test_a_taken_route_fails_start_up_before_set_webhook
    test_webhook.py::test_a_failing_set_webhook_removes_the_routes
    test_webhook.py::test_shutdown_deletes_the_webhook_before_the_routes_go
    test_webhook.py::test_a_hanging_delete_webhook_is_capped

Access control
25. pairing, replayed
    test_access.py::test_pairing_sends_one_code_for_a_message_and_its_replay
26. no second pairing reply
    test_access.py::test_a_pending_sender_gets_no_second_code
    test_access.py::test_a_failed_pairing_send_is_not_retried_on_replay
27. allowlist
    test_access.py::test_allowlist_admits_listed_ids_and_silently_drops_others
28. disabled
    test_access.py::test_disabled_dms_get_no_reply_and_no_turn
29. unauthorised image
    test_access.py::test_an_unauthorised_image_gets_the_pairing_reply_and_is_never_downloaded
30. groups
    test_access.py::test_group_policy_and_group_allow_from
    test_access.py::test_without_a_zalo_section_groups_are_fail_closed_and_dms_pair
    test_access.py::test_the_no_section_warning_is_logged_once_per_process
    test_gateway.py::test_env_token_only_end_to_end_groups_fail_closed_and_dms_pair

Inbound content
31. image fetch, name, ms
    test_inbound.py::test_an_image_event_keeps_name_type_and_millisecond_timestamp
    test_inbound.py::test_an_image_is_downloaded_after_access_and_handed_to_the_agent
    test_inbound.py::test_second_timestamps_become_milliseconds_and_name_falls_back
32. failed download notice
    test_inbound.py::test_a_failed_download_still_reaches_the_agent_with_the_notice
33. blank: no turn; unsupported, sticker without image: one notice per conversation, no
    turn; sticker image: to the agent (issue 14, OpenClaw 47550)
    test_inbound.py::test_blank_texts_start_no_turn_unreadable_kinds_get_one_notice

Outbound
34. 3000-char reply
    test_outbound.py::test_3000_chars_with_newlines_split_at_a_newline
    test_outbound.py::test_long_text_is_split_into_messages_of_at_most_2000
35. caption on the first photo
    test_outbound.py::test_caption_goes_on_the_first_photo_only_and_no_text_message
36. hosted local media
    test_webhook.py::test_a_local_image_reply_is_hosted_under_the_webhook_path
    test_webhook.py::test_hosted_media_expires_with_410
37. partial delivery
    test_outbound.py::test_a_failure_after_the_first_chunk_is_a_partial_delivery
    test_delivery.py::test_a_chunk_that_went_out_is_not_sent_again_when_the_message_is_retried
38. targets, no token, no photo
    test_outbound.py::test_targets_are_normalised_to_chat_ids
    test_outbound.py::test_sending_without_a_token_says_so
    test_outbound.py::test_blank_media_and_no_text_is_no_photo_url

Config / status
39. token inheritance, env, case
    test_accounts.py::test_an_explicitly_blank_account_token_does_not_inherit
    test_accounts.py::test_env_token_configures_only_the_default_account
    test_accounts.py::test_no_section_with_an_env_token_is_the_default_account_at_its_defaults
    test_accounts.py::test_a_named_account_never_takes_the_env_token
    test_accounts.py::test_account_keys_match_case_insensitively_and_empty_accounts_inherit
40. probe, blank token, warning
    test_status.py::test_probe_reports_the_bot_name_and_mode_without_secrets
    test_status.py::test_probe_with_a_blank_token_says_no_token_provided
    test_status.py::test_open_dm_and_open_group_warnings

Beyond §10 (product decisions)
    test_outbound.py::test_transient_failures_are_retried_and_delivered_once
    test_outbound.py::test_client_errors_are_not_retried
    test_polling.py::test_unauthorized_poll_marks_the_account_unauthorized
    test_polling.py::test_a_slow_turn_never_blocks_the_next_poll
    test_accounts.py::test_a_symlinked_token_file_is_refused
    test_inbound.py::test_loopback_photo_urls_are_refused_by_default
    test_gateway.py::test_the_token_never_reaches_a_log_record
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1]
_ENTRY = re.compile(r"([\w/]+\.py)::(\w+)")


def _file(name: str) -> Path:
    return TESTS / name if name.startswith("botapi/") else HERE / name


def _defined_tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_every_entry_exists() -> None:
    entries = _ENTRY.findall(__doc__ or "")
    assert len({name for _, name in entries}) >= 60
    missing = [
        f"{file}::{name}"
        for file, name in entries
        if not _file(file).is_file() or name not in _defined_tests(_file(file))
    ]
    assert missing == []


def test_all_forty_scenarios_are_listed() -> None:
    numbers = [int(n) for n in re.findall(r"^ ?(\d+)\. ", __doc__ or "", re.MULTILINE)]
    assert numbers == list(range(1, 41))
