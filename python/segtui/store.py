"""The local SQLite store: opening, pragmas, schema migrations and small metadata helpers.

The schema itself lives in the Rust core (``segtui._core.schema_migrations()``) so the Rust
bulk paths and Python agree on one definition. Bulk reads and writes (imports, scoring input,
snapshots) are done by the core on its own connection; this module serves the metadata and the
listings.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from segtui import _core
from segtui.errors import StoreError

DEFAULT_DB = "segtui.db"
BUSY_TIMEOUT_MS = 5000


def resolve_db_path(db: str | os.PathLike[str] | None) -> Path:
    """``--db`` wins, then ``SEGTUI_DB``, then ``./segtui.db``."""
    if db:
        return Path(db)
    env = os.environ.get("SEGTUI_DB")
    return Path(env) if env else Path(DEFAULT_DB)


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def open_store(path: str | os.PathLike[str], *, create: bool = False, readonly: bool = False) -> sqlite3.Connection:
    """Open (and if asked, create) a store, migrating an older schema forward.

    A store made by a newer segtui is refused rather than guessed at. Before migrating an
    existing store, a copy is kept beside it (``NAME.vN.bak``).
    """
    p = Path(path)
    if not p.exists():
        if not create:
            raise StoreError(f"no store at {p}: run `segtui import ...` or `segtui demo` first")
        p.parent.mkdir(parents=True, exist_ok=True)
        # user-only permissions from the first byte on
        fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(fd)
    if readonly:
        conn = _connect_readonly(p)
        if schema_version(conn) < int(_core.SCHEMA_VERSION):
            # an older store read first by a listing or the TUI: migrate it once (with its
            # backup), then read it as asked
            conn.close()
            open_store(p).close()
            conn = _connect_readonly(p)
    else:
        conn = sqlite3.connect(p, check_same_thread=False, isolation_level=None)
        _configure(conn)
    try:
        migrate(conn, p, readonly=readonly)
    except Exception:
        conn.close()
        raise
    return conn


def readonly_uri(path: str | os.PathLike[str]) -> str:
    """The SQLite URI that opens ``path`` read-only. The path is percent-encoded: a ``#``,
    ``?`` or ``%`` in a folder name must not be read as part of the URI (another file would
    be opened, or none)."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def _connect_readonly(p: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(readonly_uri(p), uri=True, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _newer(path: Path, current: int, latest: int) -> StoreError:
    return StoreError(
        f"{path} was written by a newer segtui (schema v{current}; this one knows up to v{latest}): "
        "upgrade segtui to open it"
    )


def migrate(conn: sqlite3.Connection, path: Path, *, readonly: bool = False) -> int:
    """Apply the forward migrations this build knows; returns the resulting version.

    All steps run in one ``BEGIN IMMEDIATE`` transaction, after a consistent backup of the old
    store (``NAME.vN.bak``, taken through SQLite, so rows still in the write-ahead log are in
    it): a failed migration leaves the store as it was, and of several processes opening an
    old store at once, one migrates and the others find it done.
    """
    latest = int(_core.SCHEMA_VERSION)
    current = schema_version(conn)
    if current > latest:
        raise _newer(path, current, latest)
    if current == latest:
        return current
    if readonly:
        raise StoreError(f"{path} needs a schema upgrade (v{current} -> v{latest}): open it once with write access")
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)  # another process may have migrated while this one waited
        if current > latest:
            raise _newer(path, current, latest)
        if current > 0 and current < latest:
            _backup(path, current)
        for version, sql in _core.schema_migrations():
            if version <= current:
                continue
            for stmt in _split_sql(sql):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {int(version)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return latest


def _backup(path: Path, version: int) -> Path:
    """A consistent user-only copy of the store as it is (``NAME.vN.bak``), written atomically."""
    backup = path.with_name(f"{path.name}.v{version}.bak")
    tmp = backup.with_name(backup.name + ".tmp")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    # read through a second connection: ``conn`` holds the write lock (so nothing changes
    # meanwhile), and a backup from a connection inside its own transaction never finishes
    src = sqlite3.connect(path)
    dest = sqlite3.connect(tmp)
    try:
        src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        src.backup(dest)
        dest.execute("PRAGMA journal_mode = DELETE")
    finally:
        dest.close()
        src.close()
    os.replace(tmp, backup)
    return backup


def _split_sql(script: str) -> Iterator[str]:
    """Split a migration script into statements (executescript would commit implicitly)."""
    buf: list[str] = []
    for line in script.splitlines(keepends=True):
        buf.append(line)
        joined = "".join(buf)
        if sqlite3.complete_statement(joined):
            stmt = joined.strip()
            if stmt:
                yield stmt
            buf = []
    rest = "".join(buf).strip()
    if rest:
        yield rest


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A short ``BEGIN IMMEDIATE`` transaction; a busy store becomes a clear error."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise StoreError("store is busy: another segtui process is writing; try again when it finishes") from e
        raise
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def get_meta(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def data_version(conn: sqlite3.Connection) -> int:
    """Bumped by every import that changes data; snapshots and caches record it."""
    return int(get_meta(conn, "data_version", "0") or 0)
