"""The names of everything a cluster keeps in NATS, derived from ``gateway.cluster.prefix``."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

__all__ = ["Layout", "kv_key"]

_KEY_PART = re.compile(r"^[-_=A-Za-z0-9]+$")


def kv_key(*parts: str) -> str:
    """A KV key from ``parts``; a part NATS would refuse (dots, spaces, ...) is hex-encoded."""
    return ".".join(p if _KEY_PART.match(p) else "x" + p.encode().hex() for p in parts)


@dataclass(frozen=True, slots=True)
class Layout:
    """Streams, buckets and subjects of one cluster (``prefix`` keeps two clusters apart)."""

    prefix: str
    partitions: int

    @property
    def inbox_stream(self) -> str:
        return f"{self.prefix.upper()}_INBOX"

    @property
    def dead_stream(self) -> str:
        return f"{self.prefix.upper()}_DEAD"

    @property
    def lease_bucket(self) -> str:
        return f"{self.prefix}_leases"

    @property
    def node_bucket(self) -> str:
        return f"{self.prefix}_nodes"

    @property
    def claim_bucket(self) -> str:
        return f"{self.prefix}_claims"

    @property
    def pairing_bucket(self) -> str:
        return f"{self.prefix}_pairing"

    @property
    def takeover_bucket(self) -> str:
        return f"{self.prefix}_takeover"

    @property
    def history_bucket(self) -> str:
        return f"{self.prefix}_history"

    @property
    def transcript_bucket(self) -> str:
        return f"{self.prefix}_transcripts"

    @property
    def schedule_bucket(self) -> str:
        return f"{self.prefix}_schedules"

    @property
    def access_bucket(self) -> str:
        return f"{self.prefix}_access"

    @property
    def session_bucket(self) -> str:
        return f"{self.prefix}_sessions"

    @property
    def console_bucket(self) -> str:
        """The console's login-link signing key."""
        return f"{self.prefix}_console"

    @property
    def grant_bucket(self) -> str:
        """OAuth grants (OA tokens), sealed, one document per account."""
        return f"{self.prefix}_grants"

    @property
    def vault_bucket(self) -> str:
        """Saved logins (a personal account's session), sealed, one document per profile."""
        return f"{self.prefix}_vault"

    @property
    def contact_bucket(self) -> str:
        """When each user last interacted with an account (an OA's reply window)."""
        return f"{self.prefix}_contacts"

    @property
    def import_bucket(self) -> str:
        """What ``zalogate cluster import-state`` moved, per source (no re-run puts back
        what was removed in the cluster since)."""
        return f"{self.prefix}_imports"

    @property
    def access_subject(self) -> str:
        """Where a node announces an allowlist edit (the others reload)."""
        return f"{self.prefix}.access.changed"

    def inbox_subject(self, partition: int | str) -> str:
        return f"{self.prefix}.in.{partition}"

    def send_subject(self, channel: str, account_id: str) -> str:
        """Where the node running an account answers the other nodes' sends for it."""
        return f"{self.prefix}.send.{kv_key(channel)}.{kv_key(account_id)}"

    def dead_subject(self, channel: str) -> str:
        return f"{self.prefix}.dead.{kv_key(channel)}"

    def consumer(self, partition: int) -> str:
        return f"{self.prefix}_p{partition}"

    def partition_of(self, conversation_key: str) -> int:
        """The partition of a conversation: stable across nodes and restarts."""
        digest = hashlib.blake2b(conversation_key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.partitions
