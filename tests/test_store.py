"""The store opens, migrates forward, refuses newer schemas and is private to the user."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from segtui import _core
from segtui.errors import StoreError
from segtui.store import data_version, open_store, schema_version


def test_new_store_is_migrated_wal_and_private(db_path: Path) -> None:
    conn = open_store(db_path, create=True)
    assert schema_version(conn) == _core.SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert data_version(conn) == 0
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"accounts", "line_items", "costs", "events", "imports", "rejects", "snapshots"} <= tables
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    conn.close()


def test_missing_store_is_a_clear_error(db_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        open_store(db_path)


def test_newer_store_is_refused(db_path: Path) -> None:
    open_store(db_path, create=True).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {_core.SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer segtui"):
        open_store(db_path)


def test_reopening_is_a_no_op(db_path: Path) -> None:
    open_store(db_path, create=True).close()
    conn = open_store(db_path)
    assert schema_version(conn) == _core.SCHEMA_VERSION
    assert not list(db_path.parent.glob("*.bak"))
