"""StatusBoard.update: every field of a record can be changed, the others are kept."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from zalogate.runtime.status import AccountState, AccountStatus, StatusBoard


def _other_value(field: dataclasses.Field[object], current: object) -> Any:
    if field.name == "state":
        return AccountState.RUNNING
    if field.name == "restarts":
        return 7
    if field.name == "last_error":
        return "new error"
    if field.name == "reason":
        return "stopped by channels logout"
    assert current is None or isinstance(current, int), field.name
    return (current or 0) + 1234


# channel and account are the record's key (update's own arguments)
_CHANGEABLE = [f for f in dataclasses.fields(AccountStatus) if f.name not in ("channel", "account")]


@pytest.mark.parametrize("field", _CHANGEABLE, ids=lambda f: f.name)
def test_update_changes_one_field_and_keeps_the_others(field: dataclasses.Field[object]) -> None:
    board = StatusBoard()
    base = board.update("zalouser", "default", restarts=2, last_inbound_at=5)
    value = _other_value(field, getattr(base, field.name))
    record = board.update("zalouser", "default", **{field.name: value})
    assert record == dataclasses.replace(base, **{field.name: value})


def test_update_rejects_an_unknown_field() -> None:
    board = StatusBoard()
    with pytest.raises(TypeError):
        board.update("zalouser", "default", no_such_field=1)


def test_update_tells_subscribers_and_redacts_errors() -> None:
    board = StatusBoard()
    seen: list[AccountStatus] = []
    board.subscribe(seen.append)
    record = board.update("zalo", "main", last_error="x" * 900)
    assert seen == [record]
    assert record.last_error is not None
    assert len(record.last_error) == 500
