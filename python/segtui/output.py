"""One output path for every listing: ``--format table|csv|json|ndjson|parquet`` and ``--output``.

Rules (the same for every command, so scripts can rely on them):

- stdout carries data only; diagnostics go to stderr as plain lines;
- ``--output PATH`` and ``> PATH`` give the same bytes;
- money is held as integer minor units. CSV and table show it as exact decimal text
  (``-1234.50``); JSON and NDJSON as numbers (the shortest decimal that reads back as the same
  value, so ``1234.5``); Parquet as ``decimal128(18, scale)``. Nothing depends on the locale.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import polars as pl
import pyarrow.parquet as pq

from segtui.errors import ConfigError
from segtui.output_formats import FORMATS
EXTENSIONS = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".parquet": "parquet", ".txt": "table"}


def format_from_path(path: str | os.PathLike[str]) -> str:
    ext = Path(path).suffix.lower()
    try:
        return EXTENSIONS[ext]
    except KeyError:
        raise ValueError(f"cannot tell the format of {path}: use one of {', '.join(EXTENSIONS)}") from None


def money_text(expr: pl.Expr, scale: int = 2) -> pl.Expr:
    """Integer minor units -> exact decimal text (``-1234.50``), null stays null."""
    if scale == 0:
        return expr.cast(pl.String)
    unit = 10**scale
    a = expr.abs()
    sign = pl.when(expr < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(
        [sign, (a // unit).cast(pl.String), pl.lit("."), (a % unit).cast(pl.String).str.zfill(scale)]
    )


def _money_for(fmt: str, df: pl.DataFrame, money: Iterable[str], scale: int) -> pl.DataFrame:
    cols = [c for c in money if c in df.columns]
    if not cols:
        return df
    if fmt in ("csv", "table"):
        return df.with_columns(money_text(pl.col(c), scale).alias(c) for c in cols)
    if fmt in ("json", "ndjson"):
        # float64 division is correctly rounded, and the writer prints the shortest text that
        # reads back as the same double: exactly the 2-decimal figure.
        return df.with_columns((pl.col(c) / 10**scale).alias(c) for c in cols)
    return df


def render(
    df: pl.DataFrame,
    fmt: str,
    *,
    money: Iterable[str] = (),
    scale: int = 2,
) -> bytes:
    """The bytes of ``df`` in ``fmt`` (see module docs)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    money = list(money)
    out = _money_for(fmt, df, money, scale)
    buf = io.BytesIO()
    if fmt == "csv":
        out.write_csv(buf)
    elif fmt == "json":
        out.write_json(buf)
        buf.write(b"\n")
    elif fmt == "ndjson":
        out.write_ndjson(buf)
    elif fmt == "parquet":
        # exact: decimal text -> decimal128(18, scale), never through a float
        cols = [c for c in money if c in out.columns]
        out = out.with_columns(money_text(pl.col(c), scale).cast(pl.Decimal(18, scale)).alias(c) for c in cols)
        pq.write_table(out.to_arrow(), buf)
    else:
        buf.write(_table_text(out, set(money)).encode())
    return buf.getvalue()


def _table_text(df: pl.DataFrame, money: set[str]) -> str:
    if df.width == 0:
        return ""
    cols = df.columns
    cells = [["" if v is None else _cell(v) for v in df.get_column(c).to_list()] for c in cols]
    numeric = [df.schema[c].is_numeric() or c in money for c in cols]
    widths = [max([len(c)] + [len(v) for v in col]) for c, col in zip(cols, cells)]
    lines = ["  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cols, widths, numeric)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for i in range(df.height):
        row = (col[i].rjust(w) if n else col[i].ljust(w) for col, w, n in zip(cells, widths, numeric))
        lines.append("  ".join(row).rstrip())
    return "\n".join(lines) + "\n"


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 1e15 else repr(v)
    return str(v)


def emit(
    df: pl.DataFrame,
    fmt: str,
    output: str | os.PathLike[str] | None = None,
    *,
    money: Iterable[str] = (),
    scale: int = 2,
    stdout: BinaryIO | None = None,
) -> None:
    """Write ``df`` to ``output`` (a path) or stdout, byte-identical either way."""
    data = render(df, fmt, money=money, scale=scale)
    if output is None or str(output) == "-":
        stream = stdout or sys.stdout.buffer
        stream.write(data)
        stream.flush()
        return
    write_file(Path(output), data)


def write_file(path: Path, data: bytes) -> None:
    """Write atomically (temp file + rename) so a killed export never leaves half a file.

    A symbolic link at ``path`` is refused: it could lead anywhere, and the user named the link,
    not its target (name the target to write there). The temporary file is created exclusively
    (never through a planted link) and gets the mode a new file would get (or the replaced
    file's mode).
    """
    path = Path(path)
    if path.is_symlink():
        raise ConfigError(
            f"{path} is a symbolic link to {os.readlink(path)}: refusing to write through it; "
            "give the target path itself, or remove the link"
        )
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask, read without changing it (threads may be creating files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022
