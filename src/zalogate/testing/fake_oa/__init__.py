"""``FakeZaloOA``: a strict fake of Zalo's Official Account platform for tests and the sandbox.

One port serves the OAuth host (``/v4/oa/permission``, ``/v4/oa/access_token``: single-use
codes and refresh tokens, ``secret_key`` header, PKCE when a challenge was given) and the
OpenAPI host (``access_token`` header; consultation sends with the 48 h / 7 day window, the
night rule as a switch, quotas, ``-32`` per-minute limit, uploads with their size and type
limits, reactions, user/follower/recent-chat look-ups). Users' messages reach
``webhook_url`` signed as ``X-ZEvent-Signature`` (variant selectable), retried on failure, and
every OA send is echoed as ``oa_send_*``. Errors use Zalo's envelope and codes (reference §7).
"""

from zalogate.testing.fake_oa.server import FakeZaloOA
from zalogate.testing.fake_oa.state import Delivery, OAUser, SentMessage, SignatureVariant, Upload

__all__ = ["Delivery", "FakeZaloOA", "OAUser", "SentMessage", "SignatureVariant", "Upload"]
