"""The output formats every listing accepts (``--format``), apart from the output module itself so
that commands can declare their options without importing polars and pyarrow."""

from __future__ import annotations

FORMATS = ("table", "csv", "json", "ndjson", "parquet")
