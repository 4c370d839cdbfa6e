"""The Rust evaluator against an independent plain-Python reference, on random worlds and rules.

The reference applies the definitions directly: Kleene three-valued logic (None = unknown),
money compared as exact fractions, "in Nd" = ages 0..N-1 before the as-of day, "in next Nd" =
the N days after it, events after the as-of day ignored. A rule the core rejects as never
matching must match no account of the random world (the rejection is sound).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segtui.rules import EventColumns, RuleError, evaluate_rules

AS_OF = 20_000
KINDS = ["p", "q"]
OPS = ["=", "!=", "<", "<=", ">", ">="]


@dataclass
class World:
    money: list[int | None]
    ratio: list[float | None]
    text: list[str | None]
    day: list[int | None]
    events: list[tuple[int, int, int]]  # (row, age, kind)

    @property
    def n(self) -> int:
        return len(self.money)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    n = draw(st.integers(1, 12))
    money = draw(st.lists(st.one_of(st.none(), st.integers(-300, 300)), min_size=n, max_size=n))
    ratio = draw(st.lists(st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.25, 0.5, 2.0])), min_size=n, max_size=n))
    text = draw(st.lists(st.sampled_from([None, "a", "b", "c"]), min_size=n, max_size=n))
    day = draw(st.lists(st.one_of(st.none(), st.integers(AS_OF - 12, AS_OF + 12)), min_size=n, max_size=n))
    events = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(-2, 15), st.integers(0, 1)), min_size=n, max_size=60))
    return World(money, ratio, text, day, events)


Ref = Callable[[World, int], "bool | None"]


def cmp(op: str, a: object, b: object) -> bool:
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]  # type: ignore[operator]


def count(w: World, row: int, kind: int | None, window: int | None) -> int:
    return sum(
        1 for r, age, k in w.events
        if r == row and age >= 0 and (kind is None or k == kind) and (window is None or age < window)
    )


def active(w: World, row: int, kind: int | None, window: int) -> int:
    return len({age for r, age, k in w.events if r == row and 0 <= age < window and (kind is None or k == kind)})


def first_age(w: World, row: int, kind: int) -> int | None:
    ages = [age for r, age, k in w.events if r == row and age >= 0 and k == kind]
    return max(ages) if ages else None


@st.composite
def atom(draw: st.DrawFn, which: int) -> tuple[str, Ref]:
    if which == 0:
        op = draw(st.sampled_from(OPS))
        cents = draw(st.integers(-400, 400))
        digits = draw(st.integers(0, 3))
        lit = Fraction(cents, 10**digits) if digits else Fraction(cents)
        text = f"{float(lit):.{digits}f}" if digits else str(cents)
        lit = Fraction(text)
        return f"m {op} {text}", lambda w, r: None if w.money[r] is None else cmp(op, Fraction(w.money[r], 100), lit)
    if which == 1:
        a, b = sorted(draw(st.lists(st.integers(-4, 4), min_size=2, max_size=2)))
        neg = draw(st.booleans())
        def f(w: World, r: int) -> bool | None:
            if w.money[r] is None:
                return None
            inside = a <= Fraction(w.money[r], 100) <= b
            return not inside if neg else inside
        return f"m {'not ' if neg else ''}between {a} and {b}", f
    if which == 2:
        op = draw(st.sampled_from(OPS))
        v = draw(st.sampled_from(["-1.5", "0", "0.25", "25%", "2"]))
        fv = float(v[:-1]) / 100 if v.endswith("%") else float(v)
        return f"x {op} {v}", lambda w, r: None if w.ratio[r] is None else cmp(op, w.ratio[r], fv)
    if which == 3:
        vals = draw(st.lists(st.sampled_from(["a", "b", "c", "z"]), min_size=1, max_size=3))
        neg = draw(st.booleans())
        lst = ", ".join(f'"{v}"' for v in vals)
        return (f"t {'not in' if neg else 'in'} ({lst})",
                lambda w, r: None if w.text[r] is None else ((w.text[r] in vals) != neg))
    if which == 4:
        op = draw(st.sampled_from(["=", "!="]))
        v = draw(st.sampled_from(["a", "b"]))
        return f"t {op} '{v}'", lambda w, r: None if w.text[r] is None else cmp(op, w.text[r], v)
    if which == 5:
        col = draw(st.sampled_from(["m", "x", "t", "d"]))
        neg = draw(st.booleans())
        data = {"m": "money", "x": "ratio", "t": "text", "d": "day"}[col]
        return (f"{col} is {'not ' if neg else ''}null",
                lambda w, r: (getattr(w, data)[r] is None) != neg)
    if which == 6:
        n = draw(st.integers(1, 14))
        ahead = draw(st.booleans())
        lo, hi = (1, n) if ahead else (1 - n, 0)
        return (f"d in {'next ' if ahead else ''}{n}d",
                lambda w, r: None if w.day[r] is None else lo <= w.day[r] - AS_OF <= hi)
    if which == 7:
        kind = draw(st.integers(0, 1))
        window = draw(st.one_of(st.none(), st.integers(1, 16)))
        test = draw(st.one_of(st.none(), st.tuples(st.sampled_from(OPS), st.integers(0, 4))))
        win = " ever" if window is None else f" in {window}d"
        if test is None:
            return f'did "{KINDS[kind]}"{win}', lambda w, r: count(w, r, kind, window) >= 1
        op, k = test
        return (f'did "{KINDS[kind]}" {op} {k} times{win}',
                lambda w, r: cmp(op, count(w, r, kind, window), k))
    if which == 8:
        kind = draw(st.one_of(st.none(), st.integers(0, 1)))
        window = draw(st.integers(1, 16))
        op = draw(st.sampled_from(OPS))
        k = draw(st.integers(0, 5))
        name = "" if kind is None else f' "{KINDS[kind]}"'
        return f"active_days{name} in {window}d {op} {k}", lambda w, r: cmp(op, active(w, r, kind, window), k)
    kind = draw(st.integers(0, 1))
    window = draw(st.integers(1, 16))

    def first(w: World, r: int) -> bool:
        a = first_age(w, r, kind)
        return a is not None and a < window
    return f'first "{KINDS[kind]}" in {window}d', first


def atoms() -> st.SearchStrategy[tuple[str, Ref]]:
    # one strategy per kind of condition, so that each is drawn about equally often
    return st.one_of([atom(i) for i in range(10)])


def k_not(a: bool | None) -> bool | None:
    return None if a is None else not a


def k_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def k_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def combine(children: st.SearchStrategy[tuple[str, Ref]]) -> st.SearchStrategy[tuple[str, Ref]]:
    def neg(c: tuple[str, Ref]) -> tuple[str, Ref]:
        return f"not ({c[0]})", lambda w, r: k_not(c[1](w, r))

    def both(pair: tuple[tuple[str, Ref], tuple[str, Ref], bool]) -> tuple[str, Ref]:
        (ta, fa), (tb, fb), conj = pair
        if conj:
            return f"({ta}) and ({tb})", lambda w, r: k_and(fa(w, r), fb(w, r))
        return f"({ta}) OR ({tb})", lambda w, r: k_or(fa(w, r), fb(w, r))

    return st.one_of(children.map(neg), st.tuples(children, children, st.booleans()).map(both))


rules = st.recursive(atoms(), combine, max_leaves=6)


def frame(w: World) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account": list(range(1, w.n + 1)),
            "m": w.money,
            "x": w.ratio,
            "t": w.text,
            "d": w.day,
        },
        schema={"account": pl.Int64, "m": pl.Int64, "x": pl.Float64, "t": pl.String, "d": pl.Int64},
    )


def events(w: World) -> EventColumns:
    return EventColumns(
        np.array([r for r, _, _ in w.events], dtype=np.uint32),
        np.array([AS_OF - a for _, a, _ in w.events], dtype=np.int32),
        np.array([k for _, _, k in w.events], dtype=np.uint32),
        KINDS,
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.lists(rules, min_size=1, max_size=4))
def test_core_agrees_with_the_reference(w: World, rs: list[tuple[str, Ref]]) -> None:
    df = frame(w)
    ev = events(w)
    for text, ref in rs:
        want = [ref(w, r) is True for r in range(w.n)]
        try:
            got = evaluate_rules(df, [text], as_of=AS_OF, events=ev, money=["m"], units={"d": "day"}, warn=lambda _: None)
        except RuleError as e:
            assert "can never match" in e.message, f"{text}: {e}"
            assert not any(want), f"{text} was rejected ({e.message}) but matches rows {want}"
            continue
        assert got.to_series(0).to_list() == want, text
    # All rules together (one pass) give the same answers as one by one.
    texts = [t for t, _ in rs]
    try:
        together = evaluate_rules(df, texts, as_of=AS_OF, events=ev, money=["m"], units={"d": "day"}, warn=lambda _: None)
    except RuleError:
        return
    for i, (_, ref) in enumerate(rs):
        assert together.to_series(i).to_list() == [ref(w, r) is True for r in range(w.n)]
