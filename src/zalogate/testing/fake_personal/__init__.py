"""A local simulator of Zalo's personal-account web protocol (see ``FakeZaloPersonal``)."""

from zalogate.testing.fake_personal.model import FakeAccount, FakeGroup, QrSession, SentRecord
from zalogate.testing.fake_personal.qr import QrControl
from zalogate.testing.fake_personal.scripted import (
    ScriptedGroup,
    ScriptedGroupMember,
    ScriptedUser,
)
from zalogate.testing.fake_personal.server import FakeZaloPersonal

__all__ = [
    "FakeAccount",
    "FakeGroup",
    "FakeZaloPersonal",
    "QrControl",
    "QrSession",
    "ScriptedGroup",
    "ScriptedGroupMember",
    "ScriptedUser",
    "SentRecord",
]
