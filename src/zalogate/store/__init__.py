"""Persistence: one SQLite database in the state dir.

``Store`` owns the database. Reads run on a small pool of reader threads; writes are
funnelled to one writer thread that commits concurrent small writes together (group commit).
Tables are created by numbered SQL migrations in ``zalogate/store/migrations``.
"""

from zalogate.store.database import (
    DATABASE_FILENAME,
    Migration,
    Store,
    StoreClosedError,
    StoreError,
    load_migrations,
)
from zalogate.store.paths import ensure_private_dir, write_private_file

__all__ = [
    "DATABASE_FILENAME",
    "Migration",
    "Store",
    "StoreClosedError",
    "StoreError",
    "ensure_private_dir",
    "load_migrations",
    "write_private_file",
]
