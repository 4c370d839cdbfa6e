"""Security: typed text never becomes SQL, exports do not follow symbolic links, the store and
everything beside it is user-only, and nothing touches the network.

SQL is watched where it is executed: every connection Python opens is a tracing subclass that
records the statement text it is given (before parameters are bound), and the two entry points
that hand SQL to the Rust core (``read_columns``, ``read_columns_many``) are wrapped. Injection
texts carry a marker (``zz_inj``); it must never appear in any statement, the store must be
byte-for-byte the same afterwards, and each command must end with a clean exit code.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from segtui import _core
from segtui.cli import main
from segtui.importer import import_files
from segtui.scoring import score_store

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "import"
MARK = "zz_inj"

INJECTIONS = [
    f"margin<0; DROP TABLE {MARK}; --",
    f"margin<0 or 1=1 -- {MARK}",
    f"1=1) OR ({MARK}=1",
    f"margin<0' OR '{MARK}'='{MARK}",
    f"revenue>0 and account_key in (select {MARK} from accounts)",
    f"x'); DELETE FROM line_items; -- {MARK}",
    f'"; ATTACH DATABASE \'/tmp/{MARK}.db\' AS x; --',
    f"margin<0\x00{MARK}",
]


def build_store(db: Path) -> None:
    import_files(db, "line-items", [DATA / "generic_orders.csv"])
    import_files(db, "costs", [DATA / "costs.csv"])
    import_files(db, "events", [DATA / "events.jsonl"])
    import_files(db, "accounts", [DATA / "accounts.csv"])
    score_store(db)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("security") / "store.db"
    build_store(db)
    return db


def store_digest(db: Path) -> str:
    """Schema and every row of every table, in a stable order."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        h = hashlib.sha256()
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for sql, in conn.execute("SELECT coalesce(sql, '') FROM sqlite_master ORDER BY type, name"):
            h.update(sql.encode())
        for t in tables:
            for row in conn.execute(f'SELECT * FROM "{t}" ORDER BY 1'):
                h.update(repr(row).encode())
        return h.hexdigest()
    finally:
        conn.close()


class SqlLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def add(self, sql: object) -> None:
        self.statements.append(str(sql))


@pytest.fixture
def sql_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[SqlLog]:
    log = SqlLog()

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, *a: Any, **k: Any) -> Any:  # type: ignore[override]
            log.add(sql)
            return super().execute(sql, *a, **k)

        def executemany(self, sql: str, *a: Any, **k: Any) -> Any:  # type: ignore[override]
            log.add(sql)
            return super().executemany(sql, *a, **k)

        def executescript(self, sql: str, *a: Any, **k: Any) -> Any:  # type: ignore[override]
            log.add(sql)
            return super().executescript(sql, *a, **k)

    class Connection(sqlite3.Connection):
        def cursor(self, factory: Any = Cursor) -> Any:  # type: ignore[override]
            return super().cursor(factory)

        def execute(self, sql: str, *a: Any, **k: Any) -> Any:  # type: ignore[override]
            return self.cursor().execute(sql, *a, **k)

        def executemany(self, sql: str, *a: Any, **k: Any) -> Any:  # type: ignore[override]
            return self.cursor().executemany(sql, *a, **k)

        def executescript(self, sql: str, *a: Any, **k: Any) -> Any:  # type: ignore[override]
            return self.cursor().executescript(sql, *a, **k)

    real_connect = sqlite3.connect

    def connect(*a: Any, **k: Any) -> sqlite3.Connection:
        k.setdefault("factory", Connection)
        return real_connect(*a, **k)

    monkeypatch.setattr(sqlite3, "connect", connect)
    real_rc, real_many = _core.read_columns, _core.read_columns_many

    def read_columns(db: str, sql: str, *a: Any, **k: Any) -> Any:
        log.add(sql)
        return real_rc(db, sql, *a, **k)

    def read_columns_many(db: str, queries: Any, *a: Any, **k: Any) -> Any:
        for q in queries:
            log.add(q[0])
        return real_many(db, queries, *a, **k)

    monkeypatch.setattr(_core, "read_columns", read_columns)
    monkeypatch.setattr(_core, "read_columns_many", read_columns_many)
    yield log


def cli(*args: str) -> tuple[int, str, str]:
    """``segtui ARGS`` in process: exit code, stdout, stderr (a traceback fails the test)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with pytest.raises(SystemExit) as e:
            main(list(args))
    out.flush()
    code = e.value.code if isinstance(e.value.code, int) else 1
    assert "Traceback" not in err.getvalue()
    return code, out.buffer.getvalue().decode(errors="replace"), err.getvalue()


# --- typed text never reaches SQL ------------------------------------------------------------


@pytest.mark.parametrize("payload", INJECTIONS)
def test_listing_options_never_put_typed_text_into_sql(
    store: Path, sql_log: SqlLog, payload: str, tmp_path: Path
) -> None:
    before = store_digest(store)
    db = ["--db", str(store)]
    runs = [
        ["accounts", "--where", payload, "--format", "csv"],
        ["accounts", "--segment", payload, "--format", "csv"],
        ["accounts", "--quadrant", payload, "--format", "csv"],
        ["accounts", "--sort", payload, "--format", "csv"],
        ["accounts", "--snapshot", payload, "--format", "csv"],
        ["accounts", "--rule", payload, "--format", "csv"],
        ["accounts", "--rule", f'industry = "{payload}"', "--format", "csv"],
        ["accounts", "--rule", f'did "{payload}" in 30d', "--format", "csv"],
        ["account", payload, "--format", "json"],
        ["segments", "--snapshot", payload],
        ["export", "line-items", str(tmp_path / "li.csv"), "--account", payload],
        ["migration", "--from", payload],
        ["migration", "--cell", f"{payload}->Champions"],
    ]
    for args in runs:
        code, _, err = cli(*db, *args)
        assert code in (0, 1, 2), (args, code, err)
        if code:
            assert err.startswith(("error: ", "Usage:", "Error:")) or "\nError: " in err, (args, err)
    assert sql_log.statements, "the tracing did not see the listings' SQL"
    leaked = [s for s in sql_log.statements if MARK in s]
    assert leaked == []
    assert store_digest(store) == before


def test_the_where_injections_are_usage_errors_naming_the_part(store: Path) -> None:
    for payload in INJECTIONS[:5]:
        code, _, err = cli("--db", str(store), "accounts", "--where", payload)
        assert code == 2 and "--where" in err, (payload, err)


def test_tui_filter_text_is_parsed_not_executed(sql_log: SqlLog) -> None:
    from segtui.tui import query as tq

    frame = pl.DataFrame({"account_id": ["a", "b"], "margin": [-100, 200], "segment": ["At Risk", "Champions"]})
    cols = [tq.Col("account_id", "account"), tq.Col("margin", "margin", "money"), tq.Col("segment", "segment")]
    for payload in INJECTIONS:
        try:
            out = tq.apply(frame, cols, sort=None, text=payload)
        except tq.FilterError:
            continue
        assert out.height <= frame.height
    assert sql_log.statements == []


def test_rule_text_is_parsed_by_the_core_only(store: Path, sql_log: SqlLog) -> None:
    from segtui import queries
    from segtui.errors import ConfigError
    from segtui.rules import filter_accounts

    snap = queries.resolve_snapshot(store, None)
    frame = queries.snapshot_frame(store, snap.id)
    sql_log.statements.clear()
    for payload in INJECTIONS:
        for rule in (payload, f'name = "{payload}"', f'did "{payload}" >= 1 times in 30d'):
            try:
                filter_accounts(frame, rule, as_of=snap.as_of, db=store, warn=lambda w: None)
            except ConfigError as e:
                assert "column" in str(e)
    assert not [s for s in sql_log.statements if MARK in s]


# --- exports and symbolic links --------------------------------------------------------------


def test_export_refuses_to_write_through_a_symlink(store: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "important.txt"
    victim.write_text("do not overwrite\n")
    link = tmp_path / "accounts.csv"
    link.symlink_to(victim)
    for args in (
        ["export", "accounts", str(link)],
        ["accounts", "--format", "csv", "-o", str(link)],
        ["segments", "--format", "csv", "--output", str(link)],
        ["account", "0042", "--format", "json", "-o", str(link)],
    ):
        code, out, err = cli("--db", str(store), *args)
        assert code == 2, (args, err)
        assert "symbolic link" in err and str(link) in err and str(victim) in err, err
        assert victim.read_text() == "do not overwrite\n"
        assert link.is_symlink()
    # naming the target itself is the confirmation: it is written
    code, _, err = cli("--db", str(store), "export", "accounts", str(elsewhere / "accounts.csv"))
    assert code == 0, err
    # a dangling link is refused too (it would create a file wherever it points)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere" / "x.csv")
    code, _, err = cli("--db", str(store), "export", "accounts", str(dangling))
    assert code == 2 and "symbolic link" in err
    assert not (tmp_path / "nowhere").exists()


def test_export_temp_file_is_not_followed_through_a_planted_link(store: Path, tmp_path: Path) -> None:
    """Someone who can write to the export folder plants links at the temporary names an export
    might use: the export must not write through them."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    target = tmp_path / "out.csv"
    for pid in range(os.getpid() - 2, os.getpid() + 3):
        (tmp_path / f".out.csv.tmp-{pid}").symlink_to(victim)
    code, _, err = cli("--db", str(store), "export", "accounts", str(target))
    assert code == 0, err
    assert victim.read_text() == "keep\n"
    assert target.read_bytes().startswith(b"account_id,")
    assert not target.is_symlink()


def test_export_through_a_symlinked_folder_the_user_named_is_fine(store: Path, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "linked").symlink_to(real, target_is_directory=True)
    code, _, err = cli("--db", str(store), "export", "segments", str(tmp_path / "linked" / "s.csv"))
    assert code == 0, err
    assert (real / "s.csv").is_file()


# --- user-only permissions -------------------------------------------------------------------


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_store_and_everything_beside_it_is_user_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a typical umask: files would be world-readable by default
    try:
        db = tmp_path / "store.db"
        build_store(db)
        conn = sqlite3.connect(db)  # keep the WAL and shared-memory files in place
        try:
            conn.execute("SELECT count(*) FROM accounts").fetchone()
            beside = sorted(p for p in tmp_path.iterdir() if p.name.startswith("store.db"))
            assert db in beside and len(beside) >= 2, beside  # the store, its WAL / cache
            for p in beside:
                assert mode(p) & 0o077 == 0, f"{p.name} is {oct(mode(p))}"
        finally:
            conn.close()
    finally:
        os.umask(old)


def test_a_schema_backup_is_user_only(tmp_path: Path) -> None:
    from segtui.store import open_store

    db = tmp_path / "old.db"
    fd = os.open(db, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    conn = sqlite3.connect(db)
    version, sql = _core.schema_migrations()[0]
    conn.executescript(sql)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    old = os.umask(0o022)
    try:
        open_store(db).close()
    finally:
        os.umask(old)
    bak = tmp_path / "old.db.v1.bak"
    assert bak.is_file() and mode(bak) & 0o077 == 0


# --- no network ------------------------------------------------------------------------------


def test_import_score_listings_and_exports_never_touch_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def refuse(name: str) -> Any:
        def f(*a: Any, **k: Any) -> Any:
            calls.append(name)
            raise OSError(f"network access attempted: {name}")

        return f

    for name in ("connect", "connect_ex", "sendto", "sendmsg", "bind", "listen"):
        monkeypatch.setattr(socket.socket, name, refuse(f"socket.{name}"))
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "create_server"):
        monkeypatch.setattr(socket, name, refuse(name))
    db = tmp_path / "store.db"
    build_store(db)
    for args in (
        ["segments"],
        ["accounts", "--format", "json"],
        ["account", "0042"],
        ["export", "accounts", str(tmp_path / "a.parquet")],
        ["export", "line-items", str(tmp_path / "li.csv")],
        ["migration", "--list"],
        ["cohorts"],
    ):
        code, _, err = cli("--db", str(db), *args)
        assert code == 0, (args, err)
    assert calls == []


def test_no_networking_code_in_the_package_or_its_rust_dependencies() -> None:
    lock = (ROOT / "Cargo.lock").read_text()
    names = {line.split('"')[1] for line in lock.splitlines() if line.startswith("name = ")}
    network_crates = {"reqwest", "hyper", "ureq", "curl", "isahc", "surf", "tokio", "mio", "openssl", "rustls", "native-tls"}
    assert names & network_crates == set()
    bad = []
    for p in (ROOT / "python" / "segtui").rglob("*.py"):
        text = p.read_text()
        for mod in ("import socket", "import urllib", "from urllib", "import http.client", "from http", "import requests", "import httpx"):
            if mod in text:
                bad.append(f"{p.relative_to(ROOT)}: {mod}")
    assert bad == []
