"""Scoring runs: store → engine → snapshot, in one call into the Rust core.

:func:`score_store` is what ``segtui score`` (and the TUI's "score now", and the benchmark)
calls. The whole run — reading the inputs (from the column cache beside the store when it is
fresh, from SQLite otherwise), scoring, writing the snapshot in one replacing transaction —
happens in Rust with the GIL released; Python only resolves the configuration and the as-of
date and turns the report into a :class:`SnapshotInfo`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from segtui import _core
from segtui.config import EngineConfig, find_config, load_config
from segtui.errors import ConfigError, DataError, StoreError
from segtui.dates import date_to_day, day_to_date
from segtui.store import open_store


@dataclass(frozen=True)
class SnapshotInfo:
    """What one scoring run wrote. Money is in integer minor units."""

    id: int
    as_of: date
    mode: str
    config_fp: str
    config_source: str | None
    data_version: int
    created_at: str
    accounts: int
    net_revenue: int
    pooled_cost: int
    allocated_cost: int
    unallocated_cost: int
    replaced: tuple[int, ...]
    seconds: float
    """Seconds recorded in the snapshot (``snapshots.seconds``): load + score + write, up to
    the commit."""
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per phase: ``load`` (stamp + columns), ``score``, ``write`` (with the
    commit), ``cache_write`` (overlaps ``score``: a rebuilt cache is written while the kernel
    runs) and ``total`` (the whole call into the core, every date of it)."""
    cache: str = "off"
    """``hit`` (inputs from the column cache), ``appended`` (the cache plus the rows imported
    since), ``rebuilt`` (read from SQLite; new cache written) or ``off``."""
    cache_reason: str | None = None
    rows: dict[str, int] = field(default_factory=dict)
    """Rows loaded: line_items, costs, events, accounts."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        d["replaced"] = list(self.replaced)
        return d


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve_config(db_path: Path, config_path: Path | None, mode: str | None) -> EngineConfig:
    """``--config`` when given, else ``segtui.toml`` beside the store, else the defaults;
    ``mode`` overrides the configured mode."""
    if config_path is not None:
        return load_config(config_path, mode=mode)
    return load_config(find_config(db_path), mode=mode)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _interruptible(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` (a long call into the core, GIL released) so that ctrl+c is
    honoured at once: a Python signal handler runs only between bytecodes of the main thread,
    and the core's progress callback would otherwise swallow the interrupt. On the main thread
    the call runs on a helper thread while this one waits; on ctrl+c the process ends at once
    with 130 and ``interrupted``, as a kill would: SQLite rolls the open snapshot transaction
    back, the snapshots already written stay, a half-written column cache is never used."""
    if threading.current_thread() is not threading.main_thread():
        return fn(*args, **kwargs)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the caller below
            box["error"] = e

    t = threading.Thread(target=work, name="segtui-score", daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.05)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
        os._exit(130)
    if "error" in box:
        raise box["error"]
    return box["result"]


def _run(
    db_path: Path,
    days: Sequence[int],
    config: EngineConfig,
    *,
    quiet: bool,
    cache: bool,
    series: str | None,
    progress: Callable[[str], None] | None,
) -> list[SnapshotInfo]:
    db_path = Path(db_path)
    # validates the store (exists, current schema, migrates an older one) before the core opens it
    open_store(db_path).close()
    say = progress if progress is not None else (None if quiet else _stderr)
    created = _now()
    try:
        report = _interruptible(
            _core.score_store,
            str(db_path),
            as_of_days=list(days),
            config_json=config.json,
            config_fp=config.fingerprint,
            created_at=created,
            cache=cache,
            series=series,
            progress=say,
        )
    except FileNotFoundError as e:
        raise StoreError(str(e)) from None
    except TimeoutError as e:
        raise StoreError(str(e)) from None
    except ValueError as e:
        msg = str(e)
        if msg.startswith("scoring configuration:"):
            raise ConfigError(f"{config.source or 'configuration'}: {msg.removeprefix('scoring configuration: ')}") from None
        raise DataError(msg) from None
    except OSError as e:
        raise StoreError(str(e)) from None
    load = report["load"]
    out = []
    for i, s in enumerate(report["snapshots"]):
        timings = {
            "load": round(report["seconds_load"], 4) if i == 0 else 0.0,
            "score": round(s["seconds_score"], 4),
            "write": round(s["seconds_write"], 4),
            "cache_write": round(load["seconds_cache_write"], 4) if i == 0 else 0.0,
            "total": round(report["seconds_total"], 4),
        }
        out.append(
            SnapshotInfo(
                id=s["id"],
                as_of=day_to_date(s["as_of_day"]),
                mode=report["mode"],
                config_fp=config.fingerprint,
                config_source=config.source,
                data_version=report["data_version"],
                created_at=created,
                accounts=s["accounts"],
                net_revenue=s["net_revenue"],
                pooled_cost=s["pooled_cost"],
                allocated_cost=s["allocated_cost"],
                unallocated_cost=s["unallocated_cost"],
                replaced=tuple(s["replaced"]),
                seconds=round(s["seconds"], 4),
                timings=timings,
                cache=load["cache"],
                cache_reason=load["cache_reason"],
                rows=dict(report["rows"]),
            )
        )
    if load.get("cache_error"):
        _stderr(f"note: the column cache could not be written ({load['cache_error']}); scoring still works, from SQLite")
    return out


def score_store(
    db_path: Path,
    *,
    as_of: date | None = None,
    mode: str | None = None,
    config_path: Path | None = None,
    quiet: bool = True,
    cache: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SnapshotInfo:
    """Score the store at ``db_path`` and write one snapshot; return what was written.

    The run also packs the snapshot's columns for the history views; ``segtui score`` then
    calls ``segtui.history.after_scoring`` (effective segments when hysteresis is configured).

    ``as_of``: the as-of date (default: the day of the latest line item). ``mode``:
    ``transactions`` or ``saas``, overriding the configuration. ``config_path``: the
    configuration file (default: ``segtui.toml`` beside the store, else the defaults).
    ``quiet=False`` prints progress lines on stderr (or pass ``progress``, a callable taking
    one line). ``cache=False`` reads SQLite and leaves the column cache alone.

    Re-running with the same as-of date, mode and configuration replaces that snapshot in
    one transaction. Raises DataError (bad data, nothing to score), ConfigError (bad
    configuration), StoreError (missing or busy store).
    """
    config = resolve_config(Path(db_path), config_path, mode)
    days = [] if as_of is None else [date_to_day(as_of)]
    return _run(Path(db_path), days, config, quiet=quiet, cache=cache, series=None, progress=progress)[0]


def score_dates(
    db_path: Path,
    as_of_dates: Sequence[date],
    *,
    mode: str | None = None,
    config_path: Path | None = None,
    series: str | None = None,
    quiet: bool = True,
    cache: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[SnapshotInfo]:
    """Score several as-of dates from one load of the store and one preparation of its rows
    (one snapshot per date, in ascending date order, each written in its own replacing
    transaction as soon as it is computed, labelled ``series`` when given)."""
    if not as_of_dates:
        raise ConfigError("no as-of dates to score")
    config = resolve_config(Path(db_path), config_path, mode)
    days = [date_to_day(d) for d in as_of_dates]
    return _run(Path(db_path), days, config, quiet=quiet, cache=cache, series=series, progress=progress)

