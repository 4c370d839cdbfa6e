"""Schema migrations: a store made by an older segtui opens, is backed up (``NAME.vN.bak``) and
migrated; a store made by a newer segtui is refused with a clear message and left untouched.

An "old" store is built from the old migrations only (``_core.schema_migrations()[:n]``), then
filled with the rows of a store scored by this build (the later migrations only add tables, so
the old tables hold exactly what an old segtui wrote).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from segtui import _core, store
from segtui.cli import main
from segtui.errors import StoreError
from segtui.importer import import_files
from segtui.scoring import score_store

DATA = Path(__file__).parent / "data" / "import"
LATEST = int(_core.SCHEMA_VERSION)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("current") / "current.db"
    import_files(db, "line-items", [DATA / "generic_orders.csv"])
    import_files(db, "costs", [DATA / "costs.csv"])
    import_files(db, "events", [DATA / "events.jsonl"])
    import_files(db, "accounts", [DATA / "accounts.csv"])
    score_store(db)
    return db


def tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def old_store(path: Path, version: int, source: Path) -> Path:
    """A store at schema ``version`` made from the first migrations only, with ``source``'s rows."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        for v, sql in _core.schema_migrations()[:version]:
            conn.executescript(sql)
            conn.execute(f"PRAGMA user_version = {v}")
        conn.execute("ATTACH DATABASE ? AS cur", (f"file:{source}?mode=ro",))
        conn.execute("BEGIN")
        for t in tables(conn):
            conn.execute(f'DELETE FROM main."{t}"')
            conn.execute(f'INSERT INTO main."{t}" SELECT * FROM cur."{t}"')
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE cur")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    finally:
        conn.close()
    return path


def digest(path: Path, only: list[str] | None = None) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        for t in only or tables(conn):
            for row in conn.execute(f'SELECT * FROM "{t}" ORDER BY 1'):
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        conn.close()


def version_of(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def cli(*args: str) -> tuple[int, str, str]:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with pytest.raises(SystemExit) as e:
            main(list(args))
    out.flush()
    assert "Traceback" not in err.getvalue()
    return int(e.value.code or 0), out.buffer.getvalue().decode(), err.getvalue()


def test_the_test_builds_a_real_v1_store(tmp_path: Path, scored: Path) -> None:
    db = old_store(tmp_path / "v1.db", 1, scored)
    conn = sqlite3.connect(db)
    names = set(tables(conn))
    conn.close()
    assert "snapshot_effective" not in names and "snapshot_columns" not in names
    assert {"accounts", "line_items", "snapshots", "snapshot_accounts"} <= names


@pytest.mark.parametrize("version", [v for v in range(1, LATEST)])
def test_an_old_store_is_backed_up_then_migrated(tmp_path: Path, scored: Path, version: int) -> None:
    db = old_store(tmp_path / "old.db", version, scored)
    conn = sqlite3.connect(db)
    old_tables = tables(conn)
    conn.close()
    before = digest(db)

    store.open_store(db).close()

    bak = tmp_path / f"old.db.v{version}.bak"
    assert bak.is_file(), sorted(p.name for p in tmp_path.iterdir())
    # the backup is the old store as it was: same version, same rows, intact
    assert version_of(bak) == version and digest(bak) == before
    conn = sqlite3.connect(bak)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    # the store is at the latest version, its old rows untouched, the new tables present
    assert version_of(db) == LATEST
    assert digest(db, old_tables) == before
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert set(tables(conn)) == set(tables(sqlite3.connect(scored)))
    conn.close()
    # opening again neither migrates nor backs up again
    mtime = bak.stat().st_mtime_ns
    store.open_store(db).close()
    assert bak.stat().st_mtime_ns == mtime


def test_a_v1_store_works_after_migration(tmp_path: Path, scored: Path) -> None:
    db = old_store(tmp_path / "v1.db", 1, scored)
    # its first command after an upgrade is a listing (read-only): it migrates and answers
    code, out, err = cli("--db", str(db), "segments", "--format", "csv")
    assert code == 0, err
    assert out.startswith("segment,") and version_of(db) == LATEST
    assert (tmp_path / "v1.db.v1.bak").is_file()
    # the old snapshot lists as it did; new scoring and imports work
    code, out2, err = cli("--db", str(db), "segments", "--format", "csv")
    assert code == 0 and out2 == out
    code, _, err = cli("--db", str(db), "-q", "score", "--as-of", "2024-06-30")
    assert code == 0, err
    code, _, err = cli("--db", str(db), "migration", "--format", "csv")
    assert code == 0, err


def test_the_tui_data_layer_opens_an_old_store(tmp_path: Path, scored: Path) -> None:
    from segtui.queries import latest_snapshot, snapshot_frame

    db = old_store(tmp_path / "v2.db", 2, scored)
    snap = latest_snapshot(db)
    assert snap is not None
    assert snapshot_frame(db, snap.id).height == snap.accounts
    assert version_of(db) == LATEST


def test_a_store_from_a_newer_segtui_is_refused_and_untouched(tmp_path: Path, scored: Path) -> None:
    db = tmp_path / "new.db"
    db.write_bytes(scored.read_bytes())
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    before = db.read_bytes()
    for args in (
        ["segments"],
        ["-q", "score"],
        ["-q", "import", "line-items", str(DATA / "generic_orders.csv")],
        ["accounts", "--format", "csv"],
        ["migration"],
    ):
        code, out, err = cli("--db", str(db), *args)
        assert code == 1, (args, err)
        assert err.strip() == (
            f"error: {db} was written by a newer segtui (schema v{LATEST + 1}; this one knows up to v{LATEST}): "
            "upgrade segtui to open it"
        ), (args, err)
        assert out == ""
    assert db.read_bytes() == before
    assert not list(tmp_path.glob("*.bak"))
    with pytest.raises(StoreError, match="newer segtui"):
        store.open_store(db, readonly=True)


def test_a_failed_migration_leaves_the_store_as_it_was(tmp_path: Path, scored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = old_store(tmp_path / "v1.db", 1, scored)
    before = digest(db)
    real = _core.schema_migrations()
    broken = [*real[:-1], (real[-1][0], "CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;\n")]
    monkeypatch.setattr(_core, "schema_migrations", lambda: broken)
    with pytest.raises(sqlite3.OperationalError):
        store.open_store(db).close()
    # all steps or none: the store is still the v1 store it was, and its backup is there
    assert version_of(db) == 1 and digest(db) == before
    conn = sqlite3.connect(db)
    assert not {"half_done", "snapshot_effective"} & set(tables(conn))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert digest(tmp_path / "v1.db.v1.bak") == before
    assert not list(tmp_path.glob("*.tmp"))
    monkeypatch.setattr(_core, "schema_migrations", lambda: real)
    store.open_store(db).close()
    assert version_of(db) == LATEST and digest(tmp_path / "v1.db.v1.bak") == before


def test_the_backup_holds_rows_still_in_the_write_ahead_log(
    tmp_path: Path, scored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows committed but not yet copied into the main file (a reader pins the log) must be in
    the backup: a copy of the main file alone would miss them."""
    monkeypatch.setattr(store, "BUSY_TIMEOUT_MS", 200)
    db = old_store(tmp_path / "v2.db", LATEST - 1, scored)
    reader = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM accounts").fetchone()  # pins the log before the writes
        writer.execute("INSERT INTO meta(key, value) VALUES ('pinned_row', 'in the log only')")
        store.open_store(db).close()
    finally:
        reader.execute("COMMIT")
        reader.close()
        writer.close()
    bak = tmp_path / f"v2.db.v{LATEST - 1}.bak"
    conn = sqlite3.connect(bak)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'pinned_row'").fetchone() == ("in the log only",)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_two_processes_opening_an_old_store_at_once_migrate_it_once(tmp_path: Path, scored: Path) -> None:
    db = old_store(tmp_path / "v1.db", 1, scored)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            store.open_store(db).close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert version_of(db) == LATEST
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
