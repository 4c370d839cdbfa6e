"""The one output module: every format, exact money, same bytes to a file or stdout."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from segtui.output import FORMATS, emit, format_from_path, render

DF = pl.DataFrame(
    {
        "account_id": ["007", "A2", "A3"],
        "revenue": [123456, -5, 0],
        "frequency": [3, 1, 0],
        "segment": ["Champions", "Lost", None],
    }
)


def test_csv_money_is_exact_decimal_text() -> None:
    text = render(DF, "csv", money=["revenue"]).decode()
    assert text.splitlines() == [
        "account_id,revenue,frequency,segment",
        "007,1234.56,3,Champions",
        "A2,-0.05,1,Lost",
        "A3,0.00,0,",
    ]


def test_json_money_is_a_number_with_the_exact_value() -> None:
    rows = json.loads(render(DF, "json", money=["revenue"]), parse_float=Decimal)
    assert [r["revenue"] for r in rows] == [Decimal("1234.56"), Decimal("-0.05"), Decimal("0.0")]
    assert rows[0]["account_id"] == "007"


def test_ndjson_is_one_object_per_line() -> None:
    lines = render(DF, "ndjson", money=["revenue"]).decode().splitlines()
    assert len(lines) == 3
    assert json.loads(lines[1]) == {"account_id": "A2", "revenue": -0.05, "frequency": 1, "segment": "Lost"}


def test_parquet_money_is_decimal() -> None:
    table = pq.read_table(io.BytesIO(render(DF, "parquet", money=["revenue"])))
    assert str(table.schema.field("revenue").type) == "decimal128(18, 2)"
    assert table.column("revenue").to_pylist() == [Decimal("1234.56"), Decimal("-0.05"), Decimal("0.00")]


def test_table_is_aligned_and_plain() -> None:
    text = render(DF, "table", money=["revenue"]).decode()
    lines = text.splitlines()
    assert lines[0].split() == ["account_id", "revenue", "frequency", "segment"]
    assert "1234.56" in lines[2] and "\x1b" not in text
    assert len({len(lines[1])}) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_file_and_stdout_give_the_same_bytes(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"x.{fmt}"
    emit(DF, fmt, out, money=["revenue"])
    buf = io.BytesIO()
    emit(DF, fmt, None, money=["revenue"], stdout=buf)
    assert out.read_bytes() == buf.getvalue()
    assert not list(tmp_path.glob(".*tmp*"))


def test_format_from_extension() -> None:
    assert format_from_path("a/b.CSV") == "csv"
    assert format_from_path("x.jsonl") == "ndjson"
    with pytest.raises(ValueError, match="cannot tell the format"):
        format_from_path("x.xlsx")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(DF, "xml")
