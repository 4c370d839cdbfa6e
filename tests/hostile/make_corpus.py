"""Write the corpus of hostile input files that ``tests/test_hostile.py`` imports.

Every file is small and built here from literal bytes, so the corpus can be regenerated and
checked: ``python tests/hostile/make_corpus.py`` (re)writes ``tests/hostile/files/``,
``--check`` only verifies that the committed files are what this script writes.

Large inputs are never committed: :func:`write_big_csv` streams a file of any size (the 2 GB
case of the opt-in test) and :func:`long_field_csv` builds a row with a multi-megabyte field.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"

H = b"account_id,occurred_at,amount\n"


def _rows(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def corpus() -> dict[str, bytes]:
    """File name -> exact bytes, for every committed hostile file."""
    c: dict[str, bytes] = {}

    # --- structure -------------------------------------------------------------------------
    c["wrong_delimiter.csv"] = _rows("account_id;occurred_at;amount", "A1;2024-01-05;10.00", "A2;2024-01-06;12.50")
    # header split by commas, data by semicolons: every row has one field where three are expected
    c["wrong_delimiter_rows.csv"] = H + b"".join(
        f"A{i};2024-01-{1 + i % 28:02d};{i}.00\n".encode() for i in range(150)
    )
    c["ragged_rows.csv"] = H + _rows(
        "A1,2024-01-05,10.00",
        "A2,2024-01-06",  # row 2: one field short
        "A3,2024-01-07,3.00",
        "A4,2024-01-08,4.00,extra,more",  # row 4: two fields too many
        "A5,2024-01-09,5.00",
    )
    c["quoted_newlines.csv"] = (
        b"account_id,occurred_at,amount,description\n"
        b'A1,2024-01-05,10.00,"first line\nsecond line"\n'
        b'A2,2024-01-06,20.00,"windows\r\nline end, and a ""quote"""\n'
        b"A3,not a date,30.00,plain\n"  # row 3, though it is line 6 of the file
        b'A4,2024-01-08,40.00,"three\n\nlines"\n'
    )
    c["bom.csv"] = b"\xef\xbb\xbf" + H + _rows("A1,2024-01-05,10.00", "A2,2024-01-06,20.00")
    c["crlf.csv"] = (H + _rows("A1,2024-01-05,10.00", "A2,2024-01-06,20.00")).replace(b"\n", b"\r\n")
    c["cr_only.csv"] = (H + _rows("A1,2024-01-05,10.00", "A2,2024-01-06,20.00")).replace(b"\n", b"\r")
    c["empty.csv"] = b""
    c["header_only.csv"] = H
    c["blank_first_line.csv"] = b"\n" + H + _rows("A1,2024-01-05,10.00", "A2,2024-01-06,20.00")
    c["blank_lines_only.csv"] = b"\n\n\n"
    c["blank_lines.csv"] = H + b"A1,2024-01-05,10.00\n\n   \nA2,2024-01-06,20.00\n\n"
    c["duplicated_header_column.csv"] = _rows("account_id,occurred_at,amount,amount", "A1,2024-01-05,10.00,99.00")
    c["duplicated_unmapped_column.csv"] = _rows("account_id,occurred_at,amount,note,note", "A1,2024-01-05,10.00,x,y")
    # two exports joined with `cat`: the header comes again as a data row
    c["repeated_header_row.csv"] = H + _rows("A1,2024-01-05,10.00") + H + _rows("A2,2024-01-06,20.00")
    c["missing_required_column.csv"] = _rows("account_id,amount", "A1,10.00")
    c["extra_columns.csv"] = _rows(
        "region,account_id,occurred_at,amount,notes,Unnamed: 5",
        "EU,A1,2024-01-05,10.00,first,",
        "US,A2,2024-01-06,oops,second,x",  # row 2: rejected; its raw row keeps every column
    )
    c["unclosed_quote.csv"] = H + _rows("A1,2024-01-05,10.00", '"A2,2024-01-06,20.00', "A3,2024-01-07,30.00")
    c["stray_quote.csv"] = H + _rows("A1,2024-01-05,10.00", 'A"2,2024-01-06,20.00', "A3,2024-01-07,30.00")
    c["nul_byte.csv"] = H + b"A\x001,2024-01-05,10.00\nA2,2024-01-06,20.00\n"

    # --- encodings -------------------------------------------------------------------------
    text = "account_id,occurred_at,amount,description\nA1,2024-01-05,10.00,café crème\nA2,2024-01-06,20.00,plain\n"
    c["latin1.csv"] = text.encode("latin-1")
    c["invalid_utf8.csv"] = H + b"A1,2024-01-05,10.00\nA\xff\xfe2,2024-01-06,20.00\nA3,2024-01-07,30.00\n"
    c["utf16.csv"] = (H + _rows("A1,2024-01-05,10.00")).decode().encode("utf-16")
    c["utf16le_no_bom.csv"] = (H + _rows("A1,2024-01-05,10.00")).decode().encode("utf-16-le")

    # --- ids -------------------------------------------------------------------------------
    c["blank_ids.csv"] = H + _rows(
        "A1,2024-01-05,10.00",
        ",2024-01-06,20.00",  # row 2: empty
        "   ,2024-01-07,30.00",  # row 3: spaces
        '"\t",2024-01-08,40.00',  # row 4: a tab
        "A5,2024-01-09,50.00",
    )
    c["leading_zero_ids.csv"] = H + _rows(
        "007,2024-01-05,1.00", "7,2024-01-05,2.00", "0007,2024-01-05,3.00", "00,2024-01-05,4.00", " 007 ,2024-01-06,5.00"
    )

    # --- money -----------------------------------------------------------------------------
    c["currency_symbols.csv"] = H + _rows(
        "A1,2024-01-05,$12.00", "A2,2024-01-05,€5.00", "A3,2024-01-05,12.00 USD", "A4,2024-01-05,£3", "A5,2024-01-05,7.25"
    )
    c["thousands_separators.csv"] = H + _rows(
        'A1,2024-01-05,"1,234.50"', "A2,2024-01-05,1 234.50", "A3,2024-01-05,1'234.50", "A4,2024-01-05,1234.50"
    )
    c["decimal_comma.csv"] = _rows(
        "account_id;occurred_at;amount",
        "A1;2024-01-05;12,50",
        "A2;2024-01-05;-3,05",
        "A3;2024-01-05;7",
        "A4;2024-01-05;1.234,50",  # thousands separator: refused either way
        "A5;2024-01-05;12.50",  # a point where commas were declared: refused
    )
    c["exponent.csv"] = H + _rows("A1,2024-01-05,1e3", "A2,2024-01-05,1.5E2", "A3,2024-01-05,2e-2", "A4,2024-01-05,100")
    c["nan_inf.csv"] = H + _rows(
        "A1,2024-01-05,NaN", "A2,2024-01-05,nan", "A3,2024-01-05,inf", "A4,2024-01-05,-Infinity", "A5,2024-01-05,1.00"
    )
    c["huge_amounts.csv"] = H + _rows(
        "A1,2024-01-05,123456789012345678901234567890",  # 30 digits: too large for minor units
        "A2,2024-01-05,1234567890123456789012345678901",  # 31 digits
        "A3,2024-01-05,0.000000000000000000000000000001",  # 30 decimals
        "A4,2024-01-05,92233720368547758.07",  # the largest amount that fits: kept
        "A4,2024-01-06,92233720368547758.07",  # kept too: the file's total exceeds 64 bits
        "A5,2024-01-05,92233720368547758.08",  # one cent too many
        "A6,2024-01-05,12.505",  # more decimals than the currency
    )

    # --- dates -----------------------------------------------------------------------------
    c["mixed_dates.csv"] = H + _rows(
        "A1,2024-03-05,1.00",
        "A2,05/03/2024,1.00",  # ambiguous without --date-format
        "A3,1709649000,1.00",  # epoch seconds
        "A4,March 5 2024,1.00",
        "A5,20240305,1.00",  # compact date or epoch? ambiguous
        "A6,2024-03-05T14:30:15.250,1.00",
    )
    c["impossible_dates.csv"] = H + _rows(
        "A1,2023-02-29,1.00",
        "A2,2024-02-30,1.00",
        "A3,2024-13-01,1.00",
        "A4,2024-04-31,1.00",
        "A5,2024-01-01T24:00,1.00",
        "A6,2024-02-29,1.00",  # a real leap day
    )
    c["far_dates.csv"] = H + _rows(
        "A1,1899-12-31,1.00",
        "A2,1900-01-01,1.00",
        "A3,2199-12-31,1.00",
        "A4,2200-01-01,1.00",
        "A5,0001-01-01,1.00",
        "A6,9999-12-31,1.00",
        "A7,99999999999,1.00",  # epoch milliseconds read as seconds: year 5138
    )
    c["time_zones.csv"] = H + _rows(
        "A1,2024-03-05T23:30:00-05:00,1.00",  # the 5th as written, the 6th in UTC
        "A2,2024-03-05T10:00:00Z,1.00",
        "A3,2024-03-05T10:00:00+05:30,1.00",
        "A4,2024-03-05 10:00:00 UTC,1.00",
        "A5,2024-03-05T10:00:00 PST,1.00",  # zone names are not read
        "A6,2024-03-05T10:00:00+25:00,1.00",
    )

    # --- duplicates ------------------------------------------------------------------------
    c["duplicate_rows.csv"] = H + _rows("A1,2024-01-05,10.00", "A1,2024-01-05,10.00", "A2,2024-01-06,20.00")
    # next month's export repeats the two identical lines, adds a third copy and a new row
    c["duplicate_rows_next.csv"] = H + _rows(
        "A1,2024-01-05,10.00", "A1,2024-01-05,10.00", "A2,2024-01-06,20.00", "A1,2024-01-05,10.00", "A3,2024-02-01,5.00"
    )

    # --- JSON lines ------------------------------------------------------------------------
    c["hostile.jsonl"] = (
        b'{"account_id": "A1", "occurred_at": "2024-01-05", "amount": "10.00"}\n'
        b"this is not json\n"
        b'["A2", "2024-01-06", "20.00"]\n'
        b"\n"
        b'{"account_id": "007", "occurred_at": "2024-01-06", "amount": 12.5}\n'
        b'{"account_id": "A4", "occurred_at": "2024-01-07", "amount": "1e3"}\n'
        b'{"account_id": "A5", "occurred_at": "2024-01-08", "amount": "5.00", "extra": {"nested": [1, 2]}}\n'
        b'{"account_id": "A6", "occurred_at": "2024-01-09", "amount": "6.00"} trailing\n'
    )

    c["empty_objects.jsonl"] = b"{}\n\n{}\n"

    # --- other kinds -----------------------------------------------------------------------
    c["costs_hostile.csv"] = _rows(
        "occurred_at,category,amount,account_id",
        "2024-01-05,hosting,100.00,",  # pooled
        "2024-01-05,,5.00,A1",  # no category
        "2024-01-05,support,abc,A1",
        "2024-02-30,support,1.00,A1",
        "2024-01-06,support,2.00,A1",
    )
    c["events_hostile.csv"] = _rows(
        "account_id,occurred_at,event,value",
        "A1,2024-01-05,login,",
        "A1,2024-01-05,,1",  # no event name
        "A1,2024-01-05,feature,NaN",
        ",2024-01-05,login,",
        "A2,2024-01-06,feature,2.5",
    )
    c["accounts_hostile.csv"] = _rows(
        "account_id,name,employees,mrr,signup_at",
        "A1,Acme,12,100.00,2023-01-01",
        "A2,Beta,12.5,100.00,2023-01-01",  # employees not whole
        "A3,Gamma,-3,100.00,2023-01-01",
        "A4,Delta,40,1e2,2023-01-01",
        "A5,Epsilon,40,50.00,2023-02-30",
        ",Nameless,1,1.00,2023-01-01",
    )
    return c


def long_field_csv(size: int) -> bytes:
    """A file whose second row has a description of ``size`` bytes (kept whole, never cut)."""
    return (
        b"account_id,occurred_at,amount,description\n"
        b"A1,2024-01-05,10.00,short\n"
        b"A2,2024-01-06,20.00," + b"x" * size + b"\n"
        b"A3,2024-01-07,30.00,short\n"
    )


def big_csv_chunks(target_bytes: int, *, description: int = 300) -> Iterator[bytes]:
    """Lines of a valid line-item CSV, about ``target_bytes`` in all, in ~8 MB chunks.

    Row ``i`` (1-based) belongs to account ``C{i % 100000:06d}`` and is worth
    ``100 + i % 10000`` minor units, so the expected total is computable.
    """
    yield b"account_id,occurred_at,amount,invoice_id,description\n"
    pad = "d" * description
    written = 0
    i = 0
    while written < target_bytes:
        lines = []
        for _ in range(20_000):
            i += 1
            day = 1 + i % 28
            month = 1 + (i // 28) % 12
            minor = 100 + i % 10_000
            lines.append(f"C{i % 100_000:06d},2024-{month:02d}-{day:02d},{minor // 100}.{minor % 100:02d},I{i},{pad}\n")
        chunk = "".join(lines).encode()
        written += len(chunk)
        yield chunk


def write_big_csv(path: Path, target_bytes: int) -> int:
    """Stream a big valid CSV to ``path``; returns the number of data rows written."""
    rows = 0
    with open(path, "wb") as f:
        for n, chunk in enumerate(big_csv_chunks(target_bytes)):
            f.write(chunk)
            if n:
                rows += chunk.count(b"\n")
    return rows


def write(folder: Path = FILES) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in corpus().items():
        p = folder / name
        p.write_bytes(data)
        out.append(p)
    return out


def check(folder: Path = FILES) -> list[str]:
    """Names of files that are missing or differ from what this script writes."""
    bad = []
    for name, data in corpus().items():
        p = folder / name
        if not p.is_file() or p.read_bytes() != data:
            bad.append(name)
    return bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only verify the committed files")
    ap.add_argument("--dir", type=Path, default=FILES)
    args = ap.parse_args(argv)
    if args.check:
        bad = check(args.dir)
        for name in bad:
            print(f"out of date: {name}", file=sys.stderr)
        return 1 if bad else 0
    for p in write(args.dir):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
