"""Primary segments and playbooks: configuration, priority, the to-do list."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from segtui.errors import ConfigError
from segtui.playbooks import (
    DEFAULT_PLAYBOOKS,
    RFM11,
    UNASSIGNED,
    OrderEntry,
    Playbook,
    SegmentConfig,
    load_segment_config,
    primary_segments,
    segment_config_from_mapping,
    todo,
)

FRAME = pl.DataFrame(
    {
        "account": [1, 2, 3, 4, 5],
        "account_id": ["a1", "a2", "a3", "a4", "a5"],
        "name": ["Acme", "Bolt", "Core", "Dune", None],
        "rfm_segment": ["Champions", "At Risk", "Lost", "No Purchase", "Loyal"],
        "rfm5_segment": ["Champions", "At Risk", "Lost", "No Purchase", "Loyal"],
        "churn_band": ["low", "high", "high", "low", "medium"],
        "quadrant": ["high revenue, low cost", "low revenue, high cost", None, "low revenue, high cost", "low revenue, low cost"],
        "lifecycle": ["active", "at-risk", "churned", "onboarding", "active"],
        "revenue": [9000, 100, 50, 0, 700],
        "margin": [5000, -20, 10, -5, 300],
        "churn_risk": [10, 80, 90, 5, 40],
    }
)


def test_defaults_cover_every_rfm11_segment_with_the_design_actions() -> None:
    assert all(s in DEFAULT_PLAYBOOKS for s in RFM11)
    assert DEFAULT_PLAYBOOKS["Can't Lose Them"].action == "win them back now; escalate to an owner"
    assert DEFAULT_PLAYBOOKS["quadrant:low revenue, high cost"].action == "re-price or offboard"
    cfg = SegmentConfig()
    assert [str(e) for e in cfg.order] == ["custom", "risk:high", "quadrant:low revenue, high cost", "rfm"]


def test_default_order_custom_then_risk_then_losing_money_then_rfm() -> None:
    cfg = segment_config_from_mapping({"segments": {"Big": {"rule": "revenue > 50"}}})
    custom = pl.DataFrame({"Big": [True, False, False, False, True]})
    got = primary_segments(FRAME, custom, cfg).to_list()
    assert got == ["Big", "risk:high", "risk:high", "quadrant:low revenue, high cost", "Big"]


def test_configured_order_with_single_segments_and_bare_names() -> None:
    doc = {
        "segments": {"Big": {"rule": "revenue > 50"}, "Tiny": {"rule": "revenue < 10"}},
        "primary": {"order": ["lifecycle:churned", "Tiny", "At Risk", "quadrant", "rfm5"]},
    }
    cfg = segment_config_from_mapping(doc)
    assert cfg.order == (
        OrderEntry("lifecycle", "churned"), OrderEntry("custom", "Tiny"), OrderEntry("rfm", "At Risk"),
        OrderEntry("quadrant"), OrderEntry("rfm5"),
    )
    custom = pl.DataFrame({"Big": [True] * 5, "Tiny": [False, False, False, True, False]})
    got = primary_segments(FRAME, custom, cfg).to_list()
    assert got == [
        "quadrant:high revenue, low cost", "At Risk", "lifecycle:churned", "Tiny", "quadrant:low revenue, low cost"
    ]


def test_an_order_without_a_total_family_gets_rfm_appended() -> None:
    cfg = segment_config_from_mapping({"primary": {"order": ["risk:high"]}})
    assert [str(e) for e in cfg.order] == ["risk:high", "rfm"]
    assert primary_segments(FRAME, None, cfg).to_list() == ["Champions", "risk:high", "risk:high", "No Purchase", "Loyal"]


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"primary": {"order": ["risk:severe"]}}, "primary.order[0]: risk has no segment 'severe' (it has: low, medium, high)"),
        ({"primary": {"order": ["colour:red"]}}, "primary.order[0]: unknown family 'colour'"),
        ({"primary": {"order": ["Whales"]}}, "primary.order[0]: 'Whales' is neither a family"),
        ({"primary": {"order": ["custom:Whales"]}}, "primary.order[0]: no custom segment 'Whales'"),
        ({"primary": {"order": ["rfm", "rfm"]}}, "primary.order lists 'rfm' twice"),
        ({"primary": {"order": []}}, "primary.order must be a non-empty list"),
        ({"primary": {"order": ["rfm"], "sort": 1}}, "[primary]: unknown key 'sort'"),
        ({"playbooks": {"Champs": {"action": "x"}}}, "[playbooks.'Champs']: no segment 'Champs'"),
        ({"playbooks": {"Lost": {"owner": 3}}}, "[playbooks.'Lost'].owner must be text"),
        ({"playbooks": {"Lost": {"due": 3}}}, "[playbooks.'Lost']: unknown key 'due'"),
        ({"playbooks": {"risk:low": {"owner": "x"}}}, "`action` is required (there is no default playbook for 'risk:low')"),
        ({"segments": {"a:b": {"rule": "revenue > 1"}}}, "segment name 'a:b': a name cannot contain ':'"),
        ({"segments": {"No purchase": {"rule": "revenue > 1"}}}, "'No Purchase' is a built-in segment"),
        ({"segments": {"X": {"rule": "revenue > 1", "action": "a"}}, "playbooks": {"X": {"owner": "o"}}},
         "give a custom segment's playbook in its own [segments.X] table"),
    ],
)
def test_configuration_errors_name_the_key(doc: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        segment_config_from_mapping(doc, source="segtui.toml")
    assert message in str(e.value)
    assert str(e.value).startswith("segtui.toml")


def test_playbook_overrides_merge_with_defaults_and_default_owner() -> None:
    doc = {
        "segments": {"Big": {"rule": "revenue > 50", "action": "call them", "owner": "ana", "due_days": 2}},
        "playbooks": {
            "default_owner": "cs",
            "Can't Lose Them": {"owner": "vp", "due_days": 2},
            "rfm:Lost": {"action": "close"},
            "risk:medium": {"action": "watch", "due_days": 10},
        },
    }
    cfg = segment_config_from_mapping(doc)
    assert cfg.playbook("Can't Lose Them") == Playbook("win them back now; escalate to an owner", "vp", 2)
    assert cfg.playbook("Lost") == Playbook("close", "cs", 30)
    assert cfg.playbook("risk:medium") == Playbook("watch", "cs", 10)
    assert cfg.playbook("Big") == Playbook("call them", "ana", 2)
    assert cfg.playbook("No Purchase") is None


def test_todo_lists_only_accounts_that_entered_a_segment() -> None:
    cfg = segment_config_from_mapping({"playbooks": {"At Risk": {"owner": "bo"}}, "primary": {"order": ["rfm"]}})
    cur = FRAME.with_columns(primary_segments(FRAME, None, cfg))
    prev = pl.DataFrame(
        {"account": [1, 2, 3], "primary_segment": ["Champions", "Loyal", None]}
    )
    out = todo(cur, prev, cfg, date(2025, 6, 30))
    # 1 stayed Champions; 4 entered No Purchase (no playbook); 2, 3 and 5 entered their segment.
    assert out.columns == ["owner", "due", "segment", "previous_segment", "account_id", "name", "action",
                           "revenue", "margin", "churn_risk", "as_of"]
    assert out.select("owner", "due", "segment", "previous_segment", "account_id").rows() == [
        (UNASSIGNED, date(2025, 7, 14), "Loyal", None, "a5"),
        (UNASSIGNED, date(2025, 7, 30), "Lost", None, "a3"),
        ("bo", date(2025, 7, 3), "At Risk", "Loyal", "a2"),
    ]
    assert todo(cur, prev, cfg, date(2025, 6, 30), owners=["bo"]).height == 1
    with_all = todo(cur, prev, cfg, date(2025, 6, 30), include_without_playbook=True)
    assert ("No Purchase", None, None) in with_all.select("segment", "due", "action").rows()
    # no previous snapshot: every account has entered its segment
    assert todo(cur, None, cfg, date(2025, 6, 30)).height == 4


def test_load_segment_config_reads_toml(tmp_path) -> None:
    p = tmp_path / "segtui.toml"
    p.write_text(
        "[scoring]\nmode = 'transactions'\n\n"
        "[segments.\"Expansion targets\"]\n"
        "rule = '''did \"invite_team\" >= 3 times in 30d\n  and not did \"create_task\" in 14d'''\n"
        "owner = \"ana\"\naction = \"onboarding call\"\ndue_days = 7\n",
        encoding="utf-8",
    )
    cfg = load_segment_config(p)
    assert cfg.custom_names == ["Expansion targets"]
    assert cfg.playbook("Expansion targets") == Playbook("onboarding call", "ana", 7)
    p.write_text("[segments.x]\nrule = 'revenue >'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_segment_config(p)
    assert f"rule '{p} [segments.x]', column 10" in str(e.value)
    assert load_segment_config(None).segments == ()
