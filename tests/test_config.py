"""segtui.toml -> the engine's configuration: defaults, validation naming the key, fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segtui import _core
from segtui.config import config_from_mapping, default_config, find_config, load_config
from segtui.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "segtui.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_are_the_designs():
    c = default_config()
    d = c.data
    assert d["mode"] == "transactions"
    assert d["rfm"]["window_days"] is None
    assert d["saas"]["window_days"] == 90
    assert d["costs"]["default_driver"] == "revenue"
    assert d["size_bands"] == {"mid_market_from": 100, "enterprise_from": 1000}
    assert d["health"]["bands"] == {"yellow_from": 40, "green_from": 70}
    assert [s["name"] for s in d["maps"]["rfm11"]][:2] == ["Champions", "Loyal"]
    assert len(d["maps"]["rfm11"]) == 11 and len(d["maps"]["rfm5"]) == 5
    assert len(c.fingerprint) == 64
    assert load_config(None).fingerprint == c.fingerprint


def test_file_without_scoring_table_means_defaults(tmp_path):
    p = write(tmp_path, '[segments.vip]\nrule = "monetary > 1000"\n')
    assert load_config(p).fingerprint == default_config().fingerprint


def test_values_apply_and_change_the_fingerprint(tmp_path):
    p = write(
        tmp_path,
        """
[scoring]
mode = "saas"
[scoring.rfm]
window_days = 365
[scoring.costs.drivers]
support = "events:support_ticket"
""",
    )
    c = load_config(p)
    assert c.mode == "saas"
    assert c.window_days == 365
    assert c.data["costs"]["drivers"] == {"support": "events:support_ticket"}
    assert c.fingerprint != default_config().fingerprint
    assert c.source == str(p)


def test_same_meaning_same_fingerprint(tmp_path):
    a = config_from_mapping({"rfm": {"window_days": 365}, "mode": "transactions"})
    b = config_from_mapping({"mode": "transactions", "rfm": {"window_days": 365}})
    c = config_from_mapping({"rfm": {"window_days": 365}, "churn": {"recent_days": 30}})  # a default, spelled out
    assert a.fingerprint == b.fingerprint == c.fingerprint
    assert a.json == _core.canonical_config_json(a.json)


def test_mode_override():
    assert load_config(None, mode="saas").mode == "saas"
    assert config_from_mapping({"mode": "saas"}, mode="transactions").mode == "transactions"
    with pytest.raises(ConfigError, match="--mode"):
        load_config(None, mode="b2b")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[scoring.rfm]\nwindow_days = -3\n", "scoring.rfm.window_days: expected a positive integer, got -3"),
        ("[scoring.rfm]\nwindow_days = 30.5\n", "scoring.rfm.window_days: expected a positive integer, got 30.5"),
        ("[scoring.rfm]\nwindow = 30\n", "scoring.rfm.window: unknown key"),
        ("[scoring]\nmode = 'b2b'\n", "scoring.mode: expected \"transactions\" or \"saas\""),
        ("[scoring.costs.drivers]\nhosting = 'cpu'\n", "scoring.costs.drivers.hosting: expected one of revenue"),
        ("[scoring.churn.weights]\nactivity_drop = 101\n", "scoring.churn.weights.activity_drop: expected an integer from 0 to 100"),
        ("[scoring.health.weights]\nrecency = 'high'\n", "scoring.health.weights.recency: expected a non-negative integer weight"),
        ("[scoring.tier]\ncore_features = 'report'\n", "scoring.tier.core_features: expected a list of names"),
        ("[scoring.rfm.thresholds]\nfrequency = [1, 2, 2, 3]\n", "scoring.rfm.thresholds.frequency: the 4 thresholds must be strictly increasing"),
        ("[scoring.lifecycle]\nonboarding_days = 2024-01-01\n", "scoring.lifecycle.onboarding_days: expected a positive integer, got \"2024-01-01\""),
        (
            "[[scoring.maps.rfm11]]\nname = 'Everyone'\ncells = ['r1-5 fm1-4']\n",
            "scoring.maps.rfm11: cell r1 f4 m5 (fm5) has no segment",
        ),
        (
            "[[scoring.maps.rfm11]]\nname = 'A'\ncells = ['r1-5']\n[[scoring.maps.rfm11]]\nname = 'B'\ncells = ['r2 f3 m3']\n"
            "[[scoring.maps.rfm5]]\nname = 'All'\nrfm11 = ['A', 'B']\n",
            "scoring.maps.rfm11: cell r2 f3 m3 (fm3) is named twice: \"A\" and \"B\"",
        ),
    ],
)
def test_errors_name_file_and_key(tmp_path, toml, message):
    p = write(tmp_path, toml)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}: ")
    assert message in str(e.value)
    assert e.value.exit_code == 2


def test_custom_maps_round_trip(tmp_path):
    p = write(
        tmp_path,
        """
[[scoring.maps.rfm11]]
name = "Recent"
cells = ["r4-5"]
action = "thank them"
[[scoring.maps.rfm11]]
name = "Lapsed"
cells = ["r1-3"]
[[scoring.maps.rfm5]]
name = "All"
rfm11 = ["Recent", "Lapsed"]
""",
    )
    c = load_config(p)
    assert [s["name"] for s in c.data["maps"]["rfm11"]] == ["Recent", "Lapsed"]
    assert c.data["maps"]["rfm11"][0]["action"] == "thank them"
    assert config_from_mapping(c.data).fingerprint == c.fingerprint


def test_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.toml")
    p = write(tmp_path, "[scoring\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    p = write(tmp_path, "scoring = 3\n")
    with pytest.raises(ConfigError, match="scoring: expected a table"):
        load_config(p)


def test_find_config(tmp_path):
    db = tmp_path / "segtui.db"
    assert find_config(db) is None
    write(tmp_path, "")
    assert find_config(db) == tmp_path / "segtui.toml"


def test_default_json_is_canonical():
    j = _core.default_config_json()
    assert j == json.dumps(json.loads(j), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
