"""The rule language through the Python API, on a hand-built world in a real store."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from segtui.errors import ConfigError
from segtui.rules import (
    CustomSegment,
    EventColumns,
    RuleError,
    evaluate_rules,
    filter_accounts,
    frame_units,
    parse_rules,
    segment_masks,
    segments_from_config,
)
from test_rules_world import D, IDS, METRICS, NAMES, build_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("world") / "world.db")


# (rule, accounts it selects). Windows end on D inclusive: "in 30d" is D-29 ..= D.
CASES: list[tuple[str, str]] = [
    # comparisons, money written in major units against minor units, exactly
    ("margin < 0", "B,C,F"),
    ("revenue >= 1000", "A,E,G"),
    ("revenue > 999.989", "A,D,E,G"),
    ("revenue = 999.99", "D"),
    ("revenue between -5 and 10", "B,C,H"),
    ("margin_pct < 20%", "D,E,F"),
    ("margin_pct < 20", "D,E,F"),
    ("margin_pct >= 33.33", "A,G"),
    ("r_score >= 4", "A,E,G"),
    ("rfm_segment = \"At Risk\"", "B,D"),
    ("is_trial = true", "B,E,H"),
    ("last_purchase >= 2025-06-23", "A,D,E,G"),
    ("last_purchase in 7d", "A,D,E"),
    # firmographics from the store
    ("employees between 50 and 500", "A,B,F"),
    ("industry in (\"fintech\", \"banking\")", "A,B,G"),
    ("industry != 'retail'", "A,B,E,F,G"),
    ("signup_day in 30d", "B,D,F,H"),
    ("signup_day >= 2025-06-01", "B,D,F,H"),
    ("renewal_day in next 30d", "A,D,F"),
    ("renewal_day not in next 30d", "B,E,G"),
    # nulls: a comparison on a missing value is unknown, and not(unknown) is unknown
    ("not margin < 0", "A,D,E,G"),
    ("margin >= 0 or margin is null", "A,D,E,G,H"),
    ("employees not between 50 and 500", "C,D,G,H"),
    ("industry not in ('fintech','banking')", "C,E,F,H"),
    ("industry is null", "D"),
    ("r_score is null", "F"),
    ("is_trial is null", "C"),
    ("industry is not null and employees is null", "E"),
    ("not (industry = \"fintech\" and margin < 0)", "A,B,C,D,E,F,G,H"),
    ("not (industry = \"retail\" or margin < 0)", "A,E,G"),
    # event counts and windows, at the boundary day
    ("did \"invite_team\" >= 3 times in 30d", "A,H"),
    ("did \"invite_team\" >= 3 times in 31d", "A,B,H"),
    ("did \"invite_team\" >= 3 times in 29 days", "H"),
    ("did \"invite_team\" = 0 times in 30d", "C,D,E,F,G"),
    ("did \"invite_team\" != 2 times in 30d", "A,C,D,E,F,G,H"),
    ("not did \"create_task\" in 14d", "A,C,D,E,F,G,H"),
    ("did \"create_task\" in 15d", "A,B"),
    ("did \"api_call\" in 7d", "D"),
    ("did \"api_call\" in 1d", ""),
    ("did \"login\" and not did \"login\" in 30d", "D"),
    ("did \"login\" ever and not did 'login' in 4w", "D"),
    # distinct active days, first occurrence
    ("active_days in 30d >= 20", "A,G"),
    ("active_days in 30d >= 22", "G"),
    ("active_days \"login\" in 30d = 20", "A"),
    ("active_days in 1d >= 1", "A,F,G"),
    ("first \"integration_activated\" in 7d", "E"),
    ("first \"integration_activated\" in 8d", "D,E"),
    ("did \"integration_activated\" in 7d and not first \"integration_activated\" in 7d", "F"),
    # nesting
    ("did \"invite_team\" >= 3 times in 30d and not did \"create_task\" in 14d", "A,H"),
    ("(industry = \"banking\" or industry = \"retail\") and not (employees > 100)", "C,H"),
    (
        "(did \"login\" in 30d and (r_score >= 4 or rfm_segment = \"At Risk\")) or (industry is null and margin = 0)",
        "A,D,G",
    ),
    ("NOT (NOT (margin < 0 OR margin_pct > 30)) AND NOT industry = 'banking'", "A,C,F"),
]


def names(mask: pl.Series) -> str:
    return ",".join(n for n, m in zip(NAMES, mask.to_list()) if m)


def test_the_table_has_enough_rules() -> None:
    assert len(CASES) >= 30


def test_every_rule_selects_its_accounts_in_one_pass(store: Path) -> None:
    rules = {f"r{i}": r for i, (r, _) in enumerate(CASES)}
    got = evaluate_rules(METRICS, rules, as_of=D, db=store, warn=lambda w: None)
    failures = [
        f"{rule}: expected [{want}], got [{names(got.get_column(f'r{i}'))}]"
        for i, (rule, want) in enumerate(CASES)
        if names(got.get_column(f"r{i}")) != want
    ]
    assert not failures, "\n" + "\n".join(failures)


@pytest.mark.parametrize("rule,want", CASES[::7])
def test_filter_accounts_keeps_matching_rows_in_order(store: Path, rule: str, want: str) -> None:
    out = filter_accounts(METRICS, rule, as_of=D, db=store, warn=lambda w: None)
    assert ",".join(out.get_column("account_key").str.strip_prefix("K-").to_list()) == want
    assert out.columns == METRICS.columns


def test_account_keys_as_text_are_resolved_through_the_store(store: Path) -> None:
    frame = METRICS.drop("account").rename({"account_key": "account_id"})
    out = filter_accounts(frame, 'did "invite_team" >= 3 times in 30d', as_of=D, db=store, account_col="account_id")
    assert out.get_column("account_id").to_list() == ["K-A", "K-H"]


def test_events_passed_directly_and_as_of_moves_the_windows(store: Path) -> None:
    # As of the day before, A's invite on D is in the future and no longer counted, while
    # B's invite of D-30 comes inside the window.
    out = filter_accounts(METRICS, 'did "invite_team" >= 3 times in 30d', as_of="2025-06-29", db=store)
    assert out.get_column("account_key").to_list() == ["K-B", "K-H"]
    ev = EventColumns(np.array([IDS["B"] - 1], np.uint32), np.array([20269], np.int32), np.array([0], np.uint32), ["login"])
    out = filter_accounts(METRICS, 'did "login" in 1d', as_of=20269, events=ev)
    assert out.get_column("account_key").to_list() == ["K-B"]


def test_units_follow_the_frame_types() -> None:
    u = frame_units(METRICS)
    assert u["revenue"] == "money:2" and u["margin"] == "money:2"
    assert (u["margin_pct"], u["r_score"], u["rfm_segment"], u["is_trial"], u["last_purchase"]) == (
        "percent", "int", "text", "bool", "day"
    )
    assert frame_units(pl.DataFrame({"renewal_day": [1], "n": [1]}), units={"n": "money:0"}) == {
        "renewal_day": "day", "n": "money:0"
    }


def test_without_a_store_firmographics_are_unknown_metrics() -> None:
    with pytest.raises(RuleError) as e:
        filter_accounts(METRICS, "industry = 'saas'", as_of=D)
    assert e.value.column == 1
    assert e.value.message.startswith("unknown metric `industry`: the metrics are account, account_key, is_trial")


def test_errors_show_the_column_and_a_caret() -> None:
    with pytest.raises(RuleError) as e:
        filter_accounts(METRICS, "margin < 0 and did invite_team in 7d", as_of=D)
    err = e.value
    assert (err.line, err.column, err.length) == (1, 20, 11)
    assert err.message == 'expected an event name in quotes after `did`, found `invite_team`: write "invite_team"'
    assert str(err) == (
        "rule, column 20: expected an event name in quotes after `did`, found `invite_team`: write \"invite_team\"\n"
        "    margin < 0 and did invite_team in 7d\n"
        "                       ^^^^^^^^^^^"
    )
    assert err.exit_code == 2 and isinstance(err, ConfigError)


@pytest.mark.parametrize(
    "rule,column,message",
    [
        ("margin <", 9, "expected a number or quoted text after `<`, found the end of the rule"),
        ("(margin < 0", 12, "expected `)` to close the `(` at column 1, found the end of the rule"),
        ("margn < 0", 1, "unknown metric `margn` (did you mean `margin`?)"),
        ("rfm_segment > 'A'", 15, "rfm_segment is text: compare it with =, != or `in (...)`, not >"),
        ("is_trial > 0", 12, "is_trial is true/false: compare it with `true` or `false`"),
        ("revenue > 10 and revenue < 5", 1, "this rule can never match: `revenue > 10` and `revenue < 5` cannot both be true"),
        ("did 'x' in 7d and not did 'x' in 30d", 1,
         "this rule can never match: `did 'x' in 7d` and `not did 'x' in 30d` cannot both be true"),
        ("active_days in 7d > 7", 1,
         "this rule can never match: `active_days in 7d > 7` can never be true (a 7-day window has at most 7 active days)"),
    ],
)
def test_error_messages_and_columns(rule: str, column: int, message: str) -> None:
    with pytest.raises(RuleError) as e:
        evaluate_rules(METRICS, {"s": rule}, as_of=D)
    assert (e.value.column, e.value.message, e.value.name) == (column, message, "s")


def test_multiline_rules_report_line_and_column() -> None:
    rule = "margin < 0\n  and (did 'x' in 7d\n  or margin >)"
    with pytest.raises(RuleError) as e:
        parse_rules(rule)
    assert (e.value.line, e.value.column) == (3, 14)
    assert str(e.value).startswith("rule, line 3, column 14: expected a number or quoted text after `>`, found `)`")


def test_warnings_name_the_rule_and_suggest(store: Path) -> None:
    seen: list[str] = []
    evaluate_rules(METRICS, {"typo": "did 'invte_team' in 7d or rfm_segment = 'at risk'"}, as_of=D, db=store,
                   warn=lambda w: seen.append(str(w)))
    assert seen == [
        "warning: rule 'typo', column 5: no event \"invte_team\" in the data (did you mean \"invite_team\"?): it counts as never done",
        "warning: rule 'typo', column 41: \"at risk\" never occurs in rfm_segment (did you mean \"At Risk\"?)",
    ]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        evaluate_rules(METRICS, "margin < 0 or (margin > 1 and margin < 0)", as_of=D)
    assert [str(r.message) for r in rec] == [
        "warning: rule, column 16: this part of the rule can never match: `margin > 1` and `margin < 0` cannot both be true"
    ]


def test_segments_from_config_checks_names_keys_and_syntax() -> None:
    cfg = {
        "segments": {
            "Expansion targets": {"rule": 'did "invite_team" >= 3 times in 30d', "owner": "ana", "action": "call", "due_days": 7},
            "Unprofitable": {"rule": "margin < 0"},
        }
    }
    segs = segments_from_config(cfg, reserved=["Champions"])
    assert segs == [
        CustomSegment("Expansion targets", 'did "invite_team" >= 3 times in 30d', "call", "ana", 7),
        CustomSegment("Unprofitable", "margin < 0"),
    ]
    with pytest.raises(ConfigError, match=r"\[segments.champions\]: 'Champions' is a built-in segment"):
        segments_from_config({"segments": {"champions": {"rule": "margin < 0"}}}, reserved=["Champions"])
    with pytest.raises(ConfigError, match=r"\[segments.x\]: unknown key 'owner_email'"):
        segments_from_config({"segments": {"x": {"rule": "margin < 0", "owner_email": "a"}}})
    with pytest.raises(ConfigError, match=r"\[segments.x\]: `rule` is required"):
        segments_from_config({"segments": {"x": {"owner": "a"}}})
    with pytest.raises(ConfigError, match=r"due_days must be a whole number"):
        segments_from_config({"segments": {"x": {"rule": "margin < 0", "due_days": -1}}})
    with pytest.raises(RuleError) as e:
        segments_from_config({"segments": {"Big spenders": {"rule": "revenue >"}}})
    assert str(e.value).startswith('rule \'segtui.toml [segments."Big spenders"]\', column 10: expected a number')


def test_segment_masks_one_column_per_segment(store: Path) -> None:
    segs = [CustomSegment("loss", "margin < 0"), CustomSegment("teams", 'did "invite_team" >= 3 times in 30d')]
    m = segment_masks(METRICS, segs, as_of=D, db=store)
    assert m.columns == ["loss", "teams"]
    assert names(m.get_column("loss")) == "B,C,F" and names(m.get_column("teams")) == "A,H"
    assert segment_masks(METRICS, [], as_of=D).width == 0
