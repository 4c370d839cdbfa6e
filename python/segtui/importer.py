"""Importing line items, costs, events and accounts from CSV, Parquet and JSON lines files.

Python reads (polars, in batches, every column as text so ids keep their leading zeros and money
stays exact text); the Rust core parses, validates and writes (``segtui._core.Importer``: one
SQLite transaction per file). Before polars sees a CSV or JSON lines file, a structural pass in
the core fingerprints it and finds records polars would choke on or silently pad (a stray quote,
a wrong field count, bytes that are not UTF-8); those become rejects with their row numbers, and
polars reads a clean copy without them.

The public entry point is :func:`import_files`; ``segtui import`` is a thin CLI over it.
See ``docs/import.md`` for the rules, the summary's JSON schema and the exit codes.
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import polars as pl

from segtui import _core
from segtui._columns import text_column
from segtui.errors import ConfigError, DataError, StoreError
from segtui.presets import KINDS, Preset, get_preset, resolve_mapping

#: Rows per batch handed to the core (bounded memory whatever the file size).
BATCH_ROWS = 200_000
#: If every row of a first batch at least this big is rejected, the options are wrong, not the data:
#: the file is refused (nothing imported) with the reason, instead of filling the rejects table.
ABORT_FIRST_BATCH_MIN = 100

SUMMARY_SCHEMA = "segtui.import/1"

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "ndjson",
    ".ndjson": "ndjson",
    ".json": "ndjson",
}


@dataclass
class ImportSummary:
    """What one file's import did (``as_dict()`` is the JSON documented in docs/import.md)."""

    file: str
    kind: str
    format: str
    status: str  # "imported" | "already_imported"
    fingerprint: str
    preset: str
    mapping: dict[str, str]
    import_id: int | None = None
    previous_import_id: int | None = None
    rows_read: int = 0
    rows_imported: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    blank_rows: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    reject_examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped_by_rule: dict[str, int] = field(default_factory=dict)
    missing_account_ids: int = 0
    accounts_new: int = 0
    accounts_seen: int = 0
    accounts_updated: int = 0
    cancellations: int = 0
    currency: str | None = None
    money_scale: int = 2
    amount_total: float = 0.0
    amount_total_minor: int = 0
    refunds_total: float = 0.0
    refunds_total_minor: int = 0
    date_min: str | None = None
    date_max: str | None = None
    seconds: float = 0.0
    rows_per_second: float = 0.0
    seconds_scan: float = 0.0
    seconds_read: float = 0.0
    seconds_parse: float = 0.0
    seconds_sqlite: float = 0.0
    data_version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_files(
    db_path: Path,
    kind: str,
    files: Sequence[Path],
    *,
    preset: str | None = None,
    mapping: Mapping[str, str] | None = None,
    date_format: str | None = None,
    delimiter: str = ",",
    encoding: str = "utf8",
    quiet: bool = True,
    decimal_comma: bool = False,
) -> list[ImportSummary]:
    """Import ``files`` into the store at ``db_path`` (created if missing), one transaction each.

    Returns one summary per file, in order. Files already imported with the same content and
    options are skipped (``status == "already_imported"``). Raises :class:`ConfigError` for options
    that do not fit a file, :class:`DataError` for a file that cannot be imported as a whole, and
    :class:`StoreError` when the store cannot be written; the file being imported then leaves
    no trace, and files before it stay imported.
    """
    from segtui.store import open_store

    if kind not in KINDS:
        raise ConfigError(f"unknown import kind {kind!r}: choose one of {', '.join(KINDS)}")
    chosen = get_preset(kind, preset)
    delimiter = _delimiter(delimiter)
    enc = _encoding(encoding)
    if date_format:
        _check_date_format(date_format)
    db_path = Path(db_path)
    open_store(db_path, create=True).close()
    _remove_stale_workdirs(db_path.parent)
    out = []
    for f in files:
        out.append(
            _import_one(
                db_path,
                kind,
                Path(f),
                chosen,
                dict(mapping or {}),
                date_format,
                delimiter,
                enc,
                quiet,
                decimal_comma,
            )
        )
    return out


WORKDIR_PREFIX = ".segtui-import-"


def _remove_stale_workdirs(folder: Path) -> None:
    """Remove work folders left by imports that were killed (their process is gone)."""
    for d in folder.glob(WORKDIR_PREFIX + "*"):
        try:
            pid = int(d.name[len(WORKDIR_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _delimiter(d: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    d = named.get(d.lower(), d) if d else ","
    if len(d) != 1 or not d.isascii() or d in "\r\n\"":
        raise ConfigError(f"--delimiter must be one character (or tab), not {d!r}")
    return d


def _encoding(e: str) -> str:
    try:
        name = codecs.lookup(e or "utf8").name
    except LookupError:
        raise ConfigError(f"unknown encoding {e!r} (try utf8, latin1, cp1252)") from None
    return "utf-8" if name in ("utf-8", "utf-8-sig") else name


def _check_date_format(fmt: str) -> None:
    try:
        _core.check_date_format(fmt)
    except _core.ImportUsageError as e:
        raise ConfigError(f"--date-format: {e}") from None


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"{path}: cannot tell the format from {suffix or 'no suffix'!r}; use .csv, .tsv, .parquet or .jsonl")
    return FORMATS[suffix]


def _core_error(e: Exception) -> Exception:
    if isinstance(e, _core.ImportStoreError):
        return StoreError(str(e))
    if isinstance(e, _core.ImportUsageError):
        return ConfigError(str(e))
    if isinstance(e, _core.ImportDataError):
        return DataError(str(e))
    return e


def _transcode(src: Path, encoding: str, dst: Path) -> None:
    """Copy ``src`` decoded from ``encoding`` to UTF-8 ``dst`` (streaming)."""
    dec = codecs.getincrementaldecoder(encoding)(errors="strict")
    pos = 0
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while chunk := fi.read(1 << 22):
            try:
                fo.write(dec.decode(chunk).encode("utf-8"))
            except UnicodeDecodeError as e:
                raise DataError(f"{src}: byte {pos + e.start + 1} is not {encoding}: give the file's --encoding") from None
            pos += len(chunk)
        fo.write(dec.decode(b"", final=True).encode("utf-8"))


class _Progress:
    """Rows/s and ETA on stderr: one rewritten line on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, label: str, total: int | None, quiet: bool, stream: TextIO | None = None) -> None:
        self.label, self.total, self.quiet = label, total, quiet
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.shown = False

    def update(self, rows: int, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        if not final and now - self.last < (0.5 if self.tty else 5.0):
            return
        if final and not self.shown:
            return
        self.last = now
        el = max(now - self.t0, 1e-9)
        rate = rows / el
        msg = f"{self.label}: {rows:,} rows"
        if self.total:
            pct = min(100.0, 100.0 * rows / self.total)
            eta = (self.total - rows) / rate if rate > 0 else 0.0
            msg += f" of {self.total:,} ({pct:.0f}%)"
        msg += f", {rate:,.0f} rows/s"
        if self.total and not final:
            msg += f", ETA {eta:.0f} s"
        if self.tty:
            self.stream.write("\r" + msg + ("\n" if final else "\x1b[K"))
        else:
            self.stream.write(msg + "\n")
        self.stream.flush()
        self.shown = True


def _range_batches(
    path: Path, chunks: Sequence[tuple[int, int, int]], read: Any, label: str
) -> Iterator[pl.DataFrame]:
    """Parse the file's byte ranges one at a time (found by the structural pass): memory stays
    bounded by one range, whatever the file size, and each batch has exactly the rows counted."""
    with open(path, "rb") as f:
        for start, end, rows in chunks:
            f.seek(start)
            df = read(f.read(end - start))
            if df.height != rows:
                raise DataError(
                    f"{label}: a batch read as {df.height} rows where the structural pass counted {rows}; "
                    "the file's structure is inconsistent (nothing was imported)"
                )
            yield df


def _csv_reader(names: list[str], delimiter: str) -> Any:
    def read(buf: bytes) -> pl.DataFrame:
        return pl.read_csv(
            buf,
            has_header=False,
            new_columns=names,
            separator=delimiter,
            quote_char='"',
            infer_schema=False,
            raise_if_empty=False,
            encoding="utf8",
        )

    return read


def _ndjson_reader(names: list[str]) -> Any:
    schema = {n: pl.String for n in names}

    def read(buf: bytes) -> pl.DataFrame:
        return pl.read_ndjson(buf, schema=schema)

    return read


def _parquet_batches(path: Path) -> Iterator[pl.DataFrame]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for rb in pf.iter_batches(batch_size=BATCH_ROWS):
        df = pl.from_arrow(rb)
        assert isinstance(df, pl.DataFrame)
        yield _as_text(df, path)


def _as_text(df: pl.DataFrame, path: Path) -> pl.DataFrame:
    cols = []
    for name, dtype in df.schema.items():
        s = df.get_column(name)
        if dtype == pl.String:
            cols.append(s)
        elif dtype.is_nested():
            cols.append(s.to_frame().select(pl.col(name).struct.json_encode() if dtype == pl.Struct else
                                            pl.col(name).cast(pl.List(pl.String)).list.join(",")).to_series())
        else:
            try:
                cols.append(s.cast(pl.String))
            except Exception as e:  # pragma: no cover - exotic types
                raise DataError(f"{path}: column {name!r} of type {dtype} cannot be read as text: {e}") from None
    return pl.DataFrame(cols)


def _parquet_info(path: Path) -> tuple[list[str], int]:
    import pyarrow.parquet as pq

    try:
        md = pq.ParquetFile(path)
    except Exception as e:
        raise DataError(f"{path}: not a readable Parquet file: {e}") from None
    return list(md.schema_arrow.names), md.metadata.num_rows


def _import_one(
    db_path: Path,
    kind: str,
    path: Path,
    preset: Preset,
    overrides: dict[str, str],
    date_format: str | None,
    delimiter: str,
    encoding: str,
    quiet: bool,
    decimal_comma: bool = False,
) -> ImportSummary:
    t_start = time.perf_counter()
    if not path.is_file():
        raise ConfigError(f"no such file: {path}")
    ident = _identity(path)
    fmt = _format_of(path)
    if fmt == "csv" and path.suffix.lower() == ".tsv" and delimiter == ",":
        delimiter = "\t"
    label = path.name
    with tempfile.TemporaryDirectory(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=db_path.parent) as tmp:
        tmpdir = Path(tmp)
        source = path
        bad: list[tuple[int, str, str, str, str | None]] = []
        blank: list[int] = []
        total: int | None = None
        if fmt == "csv":
            if encoding != "utf-8":
                source = tmpdir / "utf8.csv"
                _transcode(path, encoding, source)
            try:
                sha, _, header, total, bad, blank, chunks = _core.scan_csv(source, delimiter, '"', BATCH_ROWS)
            except Exception as e:
                raise _core_error(e) from None
            if source is not path:
                sha = _core.sha256_file(path)
            if not header or header == [""]:
                if bad or int(total or 0) > len(blank):
                    # a blank first line above the real header: the rows must not vanish as "empty"
                    raise DataError(
                        f"{path}: the first line is blank, so the file has no header row; nothing was imported: "
                        "remove the blank line(s) above the header"
                    )
                # nothing to read: no header, no rows (blank lines at most)
                summary = ImportSummary(
                    file=str(path), kind=kind, format=fmt, status="empty", fingerprint=sha, preset=preset.name, mapping={}
                )
                summary.rows_read = summary.blank_rows = len(blank)
                summary.seconds = round(time.perf_counter() - t_start, 4)
                return summary
            _check_header(path, header, delimiter)
            removed = sorted({r for r, *_ in bad} | set(blank))
            if removed:
                clean = tmpdir / "clean.csv"
                _, chunks = _core.write_clean_csv(source, clean, removed, delimiter, '"', BATCH_ROWS)
                source = clean
            # polars' own names for the header (it renames duplicates)
            columns = pl.scan_csv(
                source, separator=delimiter, infer_schema=False, has_header=True, raise_if_empty=False
            ).collect_schema().names()
            batches = lambda: _range_batches(source, chunks, _csv_reader(columns, delimiter), label)  # noqa: E731
        elif fmt == "ndjson":
            try:
                sha, _, columns, total, bad, blank, chunks = _core.scan_ndjson(path, BATCH_ROWS)
            except Exception as e:
                raise _core_error(e) from None
            removed = sorted({r for r, *_ in bad} | set(blank))
            if removed:
                clean = tmpdir / "clean.jsonl"
                _, chunks = _core.write_clean_lines(path, clean, removed, BATCH_ROWS)
                source = clean
            batches = lambda: _range_batches(source, chunks, _ndjson_reader(columns), label)  # noqa: E731
        else:
            sha = _core.sha256_file(path)
            columns, total = _parquet_info(path)
            batches = lambda: _parquet_batches(path)  # noqa: E731
        t_scan = time.perf_counter() - t_start

        mapping = resolve_mapping(kind, preset, overrides, columns, str(path)) if columns else {}
        if fmt == "csv" and mapping:
            _check_mapped_names_unique(path, header, mapping)
        if fmt != "parquet":
            _refuse_if_structure_all_bad(path.name, bad, blank, int(total or 0))
        fmt_date = date_format or preset.date_format
        options = {
            "format": fmt,
            "preset": preset.name,
            "mapping": mapping,
            "date_format": fmt_date,
            "cancel_prefix": preset.cancel_prefix,
            "skip": {k: list(v) for k, v in preset.skip.items() if k in columns},
            "delimiter": delimiter if fmt == "csv" else None,
            "encoding": encoding if fmt == "csv" else None,
        }
        if decimal_comma:
            options["decimal"] = ","
        options_json = json.dumps(options, sort_keys=True, separators=(",", ":"))
        summary = ImportSummary(
            file=str(path), kind=kind, format=fmt, status="imported", fingerprint=sha, preset=preset.name, mapping=mapping
        )
        if not mapping:
            if bad:
                # no readable row to take column names from, only broken ones: refuse the file
                row, reason, message, *_ = bad[0]
                raise DataError(
                    f"{path}: no readable rows; {len(bad)} rows are broken ({reason}, e.g. row {row}: {message}); "
                    "nothing was imported"
                )
            rows = int(total or 0) - len(blank)
            if rows > 0:
                # rows without a single field (JSON lines of empty objects): refuse, never drop
                raise DataError(f"{path}: {rows} rows and not one field in any of them; nothing was imported")
            # an empty file: nothing to map; record nothing, report zero rows
            summary.status = "empty"
            summary.rows_read = int(total or 0)
            summary.blank_rows = len(blank)  # the only rows an empty file can have
            return summary
        try:
            imp = _core.Importer(db_path, kind, str(path.resolve()), sha, options_json)
        except Exception as e:
            raise _core_error(e) from None
        if imp.already_imported is not None:
            prev_id, finished, _ = imp.already_imported
            summary.status = "already_imported"
            summary.previous_import_id = prev_id
            if not quiet:
                print(f"{label}: already imported (import #{prev_id}, {finished}): skipped, nothing changed", file=sys.stderr)
            summary.seconds = round(time.perf_counter() - t_start, 4)
            return summary
        try:
            try:
                _feed(imp, batches(), bad, blank, total, label, quiet, summary)
            except DataError:
                _check_unchanged(path, ident, sha)
                raise
            _check_unchanged(path, ident, sha)
            try:
                imp.rebuild_indexes()
            except Exception as e:
                raise _core_error(e) from None
            stats = json.loads(imp.stats_json())
            _fill(summary, stats)
            summary.import_id = imp.import_id
            summary.seconds_scan = round(t_scan, 4)
            summary.seconds = round(time.perf_counter() - t_start, 4)
            summary.rows_per_second = round(summary.rows_read / summary.seconds, 1) if summary.seconds > 0 else 0.0
            changed = summary.rows_imported > 0 or summary.accounts_new > 0
            summary.data_version = imp.data_version + (1 if changed else 0)
            try:
                summary.data_version = imp.commit(json.dumps(summary.as_dict(), sort_keys=True))
            except Exception as e:
                raise _core_error(e) from None
        except BaseException:
            imp.rollback()
            raise
        return summary


def _identity(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _check_unchanged(path: Path, ident: tuple[int, int, int, int] | None, sha: str) -> None:
    """Refuse a file that changed while it was being read: what was read must be what the
    fingerprint (recorded to recognise the file later) describes."""
    same = ident is not None and _identity(path) == ident
    if same:
        try:
            same = _core.sha256_file(path) == sha
        except Exception:
            same = False
    if not same:
        raise DataError(
            f"{path.name}: the file changed while it was being read (it is not what the import started "
            "from); nothing was imported: import it again once it is complete"
        )


def _check_header(path: Path, header: Sequence[str], delimiter: str) -> None:
    """Name the file-wide mistakes a header shows, instead of failing on a missing column."""
    text = delimiter.join(header)
    if "\r" in text:
        raise DataError(
            f"{path}: lines end with a bare carriage return (CR, the old Mac format), so the whole file reads "
            "as one line; nothing was imported: save it with LF or CRLF line ends"
        )
    if "\x00" in text:
        raise DataError(
            f"{path}: the header contains NUL bytes: the file looks like UTF-16 (give --encoding utf-16, "
            "or utf-16-le / utf-16-be) or is not a text file; nothing was imported"
        )
    if len(header) == 1:
        for d, name in ((";", ";"), ("\t", "tab"), ("|", "|"), (",", ",")):
            if d != delimiter and d in header[0]:
                raise ConfigError(
                    f"{path}: the header is one column {header[0]!r}: the file looks separated by "
                    f"{name!r}, not {delimiter!r}; give --delimiter {name!r}"
                )


def _check_mapped_names_unique(path: Path, header: Sequence[str], mapping: Mapping[str, str]) -> None:
    """A mapped column whose name the header gives twice is ambiguous: refuse the file."""
    for source in sorted(set(mapping.values())):
        places = [i + 1 for i, h in enumerate(header) if h == source]
        if len(places) > 1:
            cols = ", ".join(str(i) for i in places[:-1]) + f" and {places[-1]}"
            raise DataError(
                f"{path}: the header names column {source!r} {len(places)} times (columns {cols}); nothing was "
                "imported: rename or remove the extra one so it is clear which to import"
            )


_STRUCTURE_HINTS = {
    "wrong_field_count": "check --delimiter",
    "bad_quoting": "check --delimiter and the file's quoting",
    "bad_encoding": "give the file's --encoding",
    "bad_json": "check that the file is JSON lines (one object per line)",
}


def _refuse_if_structure_all_bad(label: str, bad: Sequence[tuple[int, str, str, str, str | None]], blank: Sequence[int], total: int) -> None:
    """The first-batch refusal (see :func:`_refuse_if_all_rejected`) for rows the structural pass
    already took out: when every non-blank row of the first batch is broken, the options are wrong."""
    window = min(total, BATCH_ROWS)
    rows = window - sum(1 for r in blank if r <= window)
    broken = [b for b in bad if b[0] <= window]
    if rows < ABORT_FIRST_BATCH_MIN or len(broken) < rows:
        return
    reasons: dict[str, int] = {}
    for _, reason, *_ in broken:
        reasons[reason] = reasons.get(reason, 0) + 1
    reason = max(reasons, key=lambda r: reasons[r])
    row, _, message, *_ = next(b for b in broken if b[1] == reason)
    raise DataError(
        f"{label}: every one of the first {rows} rows was rejected ({reason}, e.g. row {row}: {message}); "
        f"nothing was imported: {_STRUCTURE_HINTS.get(reason, 'check the --delimiter and --encoding options')}"
    )


def _feed(
    imp: Any,
    batches: Iterator[pl.DataFrame],
    bad: list[tuple[int, str, str, str, str | None]],
    blank: list[int],
    total: int | None,
    label: str,
    quiet: bool,
    summary: ImportSummary,
) -> None:
    """Hand the file to the importer batch by batch."""
    try:
        imp.add_bad_records(bad, blank)
    except Exception as e:
        raise _core_error(e) from None
    removed = len({r for r, *_ in bad} | set(blank))
    if total is not None:
        try:
            imp.expect_rows(max(0, total - removed))
        except Exception as e:
            raise _core_error(e) from None
    progress = _Progress(label, total, quiet)
    rows = 0
    first = True
    pre = json.loads(imp.stats_json())  # counts before the first batch (structural rejects)
    reader = _Prefetch(batches, label, removed)
    try:
        for df, cols in reader:
            try:
                imp.add_batch(cols, rows)
            except Exception as e:
                raise _core_error(e) from None
            rows += df.height
            reader.rows = rows
            if first:
                first = False
                _refuse_if_all_rejected(imp, df.height, label, pre)
            progress.update(rows + removed)
    finally:
        reader.close()
    t_read = reader.seconds
    summary.seconds_read = round(t_read, 4)
    if total is not None and rows + removed != total:
        raise DataError(
            f"{label}: read {rows + removed} rows where the structural pass counted {total}; "
            "the file's structure is inconsistent (nothing was imported)"
        )
    progress.update(rows + removed, final=True)


class _Prefetch:
    """Reads the next batch (polars, then text buffers) on a helper thread while the core
    writes the current one. At most one batch waits, so memory stays bounded."""

    _END = object()

    def __init__(self, batches: Iterator[pl.DataFrame], label: str, removed: int) -> None:
        import queue
        import threading

        self.label, self.removed = label, removed
        self.rows = 0
        self.seconds = 0.0
        self.q: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.it = iter(batches)
        self.thread = threading.Thread(target=self._run, name="segtui-import-reader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                try:
                    df = next(self.it)
                except StopIteration:
                    break
                if df.height == 0:
                    continue
                item = (df, {name: _text_spec(df.get_column(name)) for name in df.columns})
                self.seconds += time.perf_counter() - t0
                self._put(item)
        except BaseException as e:  # handed to the consumer, raised there
            self._put(e)
        self._put(self._END)

    def _put(self, item: Any) -> None:
        import queue

        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[tuple[pl.DataFrame, dict[str, Any]]]:
        while True:
            item = self.q.get()
            if item is self._END:
                return
            if isinstance(item, pl.exceptions.PolarsError):
                raise DataError(f"{self.label}: cannot be read after row {self.rows + self.removed}: {item}") from None
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _text_spec(s: pl.Series | Any) -> Any:
    """``text_column`` with its buffers as typed numpy views (pyarrow buffers present themselves
    as signed bytes, which the core's typed buffer views refuse). No copy."""
    validity, offsets, data, offset, length = text_column(s)
    return (
        None if validity is None else np.frombuffer(validity, dtype=np.uint8),
        np.frombuffer(offsets, dtype=np.int64),
        None if data is None else np.frombuffer(data, dtype=np.uint8),
        offset,
        length,
    )


def _refuse_if_all_rejected(imp: Any, n: int, label: str, pre: Mapping[str, Any]) -> None:
    st = json.loads(imp.stats_json())
    if n < ABORT_FIRST_BATCH_MIN or st["rows_imported"] + st["rows_duplicate"] + st["rows_skipped"] > 0:
        return
    before = pre["rejected_by_reason"]
    reasons = {r: c - before.get(r, 0) for r, c in st["rejected_by_reason"].items() if c > before.get(r, 0)}
    if not reasons:
        return
    reason = max(reasons, key=reasons.get)
    ex = st["reject_examples"].get(reason, {})
    col = f" in column {ex.get('column')!r}" if ex.get("column") else ""
    hint = {
        "ambiguous_date": "give --date-format (e.g. %d/%m/%Y or %m/%d/%Y %H:%M)",
        "bad_date": "check --date-format and the column mapped to occurred_at",
        "missing_account": "map the account id column with --map account_id=COLUMN",
        "bad_encoding": "give the file's --encoding",
        "wrong_field_count": "check --delimiter",
        "bad_amount": "check the columns mapped to money and the file's number format",
    }.get(reason, "check the --map and --preset options")
    raise DataError(
        f"{label}: every one of the first {n} rows was rejected ({reason}{col}, e.g. row {ex.get('row')}: "
        f"{ex.get('message')}); nothing was imported: {hint}"
    )


def _fill(summary: ImportSummary, st: Mapping[str, Any]) -> None:
    for k, v in st.items():
        if hasattr(summary, k):
            setattr(summary, k, v)
    scale = int(st.get("money_scale", 2))
    # beyond 64 bits the core gives the exact total as text
    summary.amount_total_minor = int(summary.amount_total_minor)
    summary.refunds_total_minor = int(summary.refunds_total_minor)
    summary.amount_total = summary.amount_total_minor / 10**scale
    summary.refunds_total = summary.refunds_total_minor / 10**scale
    summary.seconds_parse = round(summary.seconds_parse, 4)
    summary.seconds_sqlite = round(summary.seconds_sqlite, 4)


def totals(summaries: Sequence[ImportSummary]) -> dict[str, Any]:
    """Sums over several files (the ``totals`` object of the JSON output)."""
    keys = (
        "rows_read", "rows_imported", "rows_duplicate", "rows_rejected", "rows_skipped", "blank_rows",
        "missing_account_ids", "accounts_new", "amount_total_minor", "refunds_total_minor",
    )
    out: dict[str, Any] = {k: sum(getattr(s, k) for s in summaries) for k in keys}
    reasons: dict[str, int] = {}
    for s in summaries:
        for r, n in s.rejected_by_reason.items():
            reasons[r] = reasons.get(r, 0) + n
    out["rejected_by_reason"] = dict(sorted(reasons.items()))
    out["files"] = len(summaries)
    out["files_already_imported"] = sum(s.status == "already_imported" for s in summaries)
    return out


def summary_document(summaries: Sequence[ImportSummary]) -> dict[str, Any]:
    """The JSON printed by ``segtui import --format json``."""
    return {"schema": SUMMARY_SCHEMA, "imports": [s.as_dict() for s in summaries], "totals": totals(summaries)}


__all__ = ["ImportSummary", "import_files", "summary_document", "totals", "BATCH_ROWS"]
