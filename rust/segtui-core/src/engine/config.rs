//! The scoring configuration: every threshold, window and weight, with the design's defaults.
//!
//! The configuration travels as JSON (Python reads `segtui.toml` and passes its `[scoring]`
//! table). [`ScoreConfig::from_json`] starts from the defaults and applies what is given;
//! unknown keys and bad values are rejected with a message naming the key
//! (`rfm.window_days: expected a positive integer, got -3`). [`ScoreConfig::to_canonical_json`]
//! writes the complete configuration with sorted keys: its hash is the snapshot's fingerprint,
//! and `from_json(to_canonical_json())` gives the same configuration back.

use super::maps::{default_rfm11, default_rfm5_defs, SegmentDef, SegmentMap};
use serde_json::{json, Map, Value};
use std::fmt;

/// A configuration error: the key (dotted path) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError { key: key.to_string(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// `transactions` (the default) or `saas`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Transactions,
    Saas,
}

/// How a pooled cost category is spread over accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Driver {
    /// Net revenue in the window, negatives counting as 0.
    Revenue,
    /// Number of line items in the window.
    LineItems,
    /// Number of events of the named kind in the window.
    Events(String),
    /// `accounts.seats` (missing or negative = 0).
    Seats,
    /// Sum of `driver_units` of the category's cost rows that carry the account, in the window.
    DriverUnits,
    /// One share per account.
    Equal,
}

impl Driver {
    pub fn parse(s: &str, key: &str) -> Result<Driver, ConfigError> {
        Ok(match s {
            "revenue" => Driver::Revenue,
            "line_items" => Driver::LineItems,
            "seats" => Driver::Seats,
            "driver_units" => Driver::DriverUnits,
            "equal" => Driver::Equal,
            _ => match s.strip_prefix("events:") {
                Some(kind) if !kind.is_empty() => Driver::Events(kind.to_string()),
                _ => {
                    return Err(ConfigError::new(
                        key,
                        format!(
                            "expected one of revenue, line_items, events:<kind>, seats, driver_units, equal; got {s:?}"
                        ),
                    ))
                }
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            Driver::Revenue => "revenue".into(),
            Driver::LineItems => "line_items".into(),
            Driver::Events(k) => format!("events:{k}"),
            Driver::Seats => "seats".into(),
            Driver::DriverUnits => "driver_units".into(),
            Driver::Equal => "equal".into(),
        }
    }
}

/// Fixed score thresholds for one dimension: four cut points.
///
/// Recency (days, lower is better): strictly decreasing `[t1, t2, t3, t4]`,
/// score = 1 + #{i : recency ≤ t_i}. Frequency and monetary: strictly increasing,
/// score = 1 + #{i : value ≥ t_i}.
pub type Cuts = Option<[i64; 4]>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RfmConfig {
    /// Frequency / monetary / revenue / cost window in days ending on the as-of date;
    /// `None` = all history.
    pub window_days: Option<i64>,
    pub recency_thresholds: Cuts,
    pub frequency_thresholds: Cuts,
    pub monetary_thresholds: Cuts,
}

/// What saas-mode frequency counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaasFrequency {
    Events,
    ActiveDays,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaasConfig {
    pub window_days: i64,
    /// Event kinds that count; `None` = every feature kind (see [`EventsConfig`]).
    pub high_signal_events: Option<Vec<String>>,
    pub frequency: SaasFrequency,
    /// Months (of 30 days) averaged for monetary when an account has no MRR.
    pub revenue_months: i64,
}

/// Roles of event kinds, by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsConfig {
    /// Presence-only kinds (logins): activity, but not a feature nor a high signal.
    pub passive_kinds: Vec<String>,
    /// Support tickets: not activity; counted for the ticket-spike signal.
    pub ticket_kinds: Vec<String>,
    /// Failed payments: not activity; any in the recent window fires the signal.
    pub failed_payment_kinds: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostConfig {
    pub default_driver: Driver,
    /// Per category name (sorted by name).
    pub drivers: Vec<(String, Driver)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuadrantConfig {
    /// Fixed thresholds (minor units) instead of the medians.
    pub revenue_threshold: Option<i64>,
    pub cost_threshold: Option<i64>,
}

/// Churn signal names, in reason-bit order.
pub const CHURN_SIGNALS: [&str; 6] = [
    "inactive_beyond_usual_gap",
    "activity_drop",
    "renewal_declining",
    "refund_spike",
    "ticket_spike",
    "failed_payment",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChurnConfig {
    pub recent_days: i64,
    pub prior_days: i64,
    /// Points per signal, in [`CHURN_SIGNALS`] order.
    pub weights: [i64; 6],
    pub medium_from: i64,
    pub high_from: i64,
    /// Inactivity is measured against the account's own mean gap between its basis days when it
    /// has at least this many of them (two gaps), else against `gap_default_days`.
    pub gap_min_purchases: i64,
    pub gap_default_days: i64,
    /// Beyond this share of the usual gap the inactivity signal adds half its weight...
    pub gap_factor_pct: i64,
    /// ...and beyond this share its full weight.
    pub gap_long_factor_pct: i64,
    pub gap_min_days: i64,
    pub drop_below_pct: i64,
    pub drop_min_prior_days: i64,
    pub renewal_within_days: i64,
    pub refund_min_share_pct: i64,
    pub refund_spike_factor_pct: i64,
    pub ticket_min: i64,
    pub ticket_spike_factor_pct: i64,
}

/// Health component names, in weight order.
pub const HEALTH_COMPONENTS: [&str; 6] = ["recency", "frequency", "monetary", "trend", "margin", "risk"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Weights in [`HEALTH_COMPONENTS`] order.
    pub weights: [i64; 6],
    pub yellow_from: i64,
    pub green_from: i64,
    /// Margin % that earns the full margin component.
    pub margin_full_pct: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleConfig {
    pub churn_horizon_days: i64,
    pub onboarding_days: i64,
    pub growth_pct: i64,
    pub seat_limit_pct: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierConfig {
    pub window_days: i64,
    /// Event kinds that are core features; `None` = every feature kind.
    pub core_features: Option<Vec<String>>,
    pub power_active_days: i64,
    pub power_core_features: i64,
    pub core_active_days: i64,
    pub core_core_features: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeBandConfig {
    pub mid_market_from: i64,
    pub enterprise_from: i64,
}

/// The complete scoring configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreConfig {
    pub mode: Mode,
    pub rfm: RfmConfig,
    pub saas: SaasConfig,
    pub rfm11: SegmentMap,
    pub rfm5: SegmentMap,
    pub events: EventsConfig,
    pub costs: CostConfig,
    pub quadrant: QuadrantConfig,
    pub churn: ChurnConfig,
    pub health: HealthConfig,
    pub lifecycle: LifecycleConfig,
    pub tier: TierConfig,
    pub size_bands: SizeBandConfig,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        let rfm11 = default_rfm11();
        let rfm5 = SegmentMap::build("maps.rfm5", default_rfm5_defs(), Some(&rfm11))
            .expect("the default rfm5 map is total");
        ScoreConfig {
            mode: Mode::Transactions,
            rfm: RfmConfig {
                window_days: None,
                recency_thresholds: None,
                frequency_thresholds: None,
                monetary_thresholds: None,
            },
            saas: SaasConfig {
                window_days: 90,
                high_signal_events: None,
                frequency: SaasFrequency::Events,
                revenue_months: 3,
            },
            rfm11,
            rfm5,
            events: EventsConfig {
                passive_kinds: strings(&["login", "logout", "session_start", "page_view"]),
                ticket_kinds: strings(&["support_ticket", "ticket"]),
                failed_payment_kinds: strings(&["payment_failed", "failed_payment"]),
            },
            costs: CostConfig { default_driver: Driver::Revenue, drivers: Vec::new() },
            quadrant: QuadrantConfig { revenue_threshold: None, cost_threshold: None },
            churn: ChurnConfig {
                recent_days: 30,
                prior_days: 90,
                weights: [40, 40, 15, 10, 10, 15],
                medium_from: 25,
                high_from: 50,
                gap_min_purchases: 3,
                gap_default_days: 90,
                gap_factor_pct: 200,
                gap_long_factor_pct: 400,
                gap_min_days: 14,
                drop_below_pct: 50,
                drop_min_prior_days: 3,
                renewal_within_days: 30,
                refund_min_share_pct: 20,
                refund_spike_factor_pct: 200,
                ticket_min: 3,
                ticket_spike_factor_pct: 200,
            },
            health: HealthConfig { weights: [25, 15, 15, 15, 10, 20], yellow_from: 40, green_from: 70, margin_full_pct: 50 },
            lifecycle: LifecycleConfig { churn_horizon_days: 180, onboarding_days: 30, growth_pct: 120, seat_limit_pct: 90 },
            tier: TierConfig {
                window_days: 30,
                core_features: None,
                power_active_days: 20,
                power_core_features: 3,
                core_active_days: 4,
                core_core_features: 1,
            },
            size_bands: SizeBandConfig { mid_market_from: 100, enterprise_from: 1000 },
        }
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---- reading JSON with messages that name the key --------------------------------------------

fn got(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a table".into(),
        other => other.to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A JSON object being read: rejects keys outside `allowed`.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn new(v: &'a Value, path: &str, allowed: &[&str]) -> Result<Self, ConfigError> {
        let Value::Object(map) = v else {
            return Err(ConfigError::new(path, format!("expected a table, got {}", got(v))));
        };
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) {
                let mut known: Vec<&str> = allowed.to_vec();
                known.sort_unstable();
                return Err(ConfigError::new(
                    &join(path, k),
                    format!("unknown key (known keys here: {})", known.join(", ")),
                ));
            }
        }
        Ok(Obj { path: path.to_string(), map })
    }

    fn key(&self, k: &str) -> String {
        join(&self.path, k)
    }

    /// The value, `None` when absent or null.
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn int_in(&self, k: &str, lo: i64, hi: i64, what: &str, into: &mut i64) -> Result<(), ConfigError> {
        if let Some(v) = self.get(k) {
            *into = int_value(v, &self.key(k), lo, hi, what)?;
        }
        Ok(())
    }

    fn pos(&self, k: &str, into: &mut i64) -> Result<(), ConfigError> {
        self.int_in(k, 1, i64::from(i32::MAX), "a positive integer", into)
    }

    fn nonneg(&self, k: &str, into: &mut i64) -> Result<(), ConfigError> {
        self.int_in(k, 0, i64::from(i32::MAX), "a non-negative integer", into)
    }

    fn score_points(&self, k: &str, into: &mut i64) -> Result<(), ConfigError> {
        self.int_in(k, 0, 100, "an integer from 0 to 100", into)
    }

    fn string_list(&self, k: &str) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(v) = self.get(k) else { return Ok(None) };
        let key = self.key(k);
        let Value::Array(items) = v else {
            return Err(ConfigError::new(&key, format!("expected a list of names, got {}", got(v))));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if !s.is_empty() => out.push(s.clone()),
                other => {
                    return Err(ConfigError::new(
                        &format!("{key}[{i}]"),
                        format!("expected a non-empty name, got {}", got(other)),
                    ))
                }
            }
        }
        Ok(Some(out))
    }

    fn cuts(&self, k: &str, decreasing: bool) -> Result<Cuts, ConfigError> {
        let Some(v) = self.get(k) else { return Ok(None) };
        let key = self.key(k);
        let order = if decreasing { "strictly decreasing" } else { "strictly increasing" };
        let Value::Array(items) = v else {
            return Err(ConfigError::new(&key, format!("expected a list of 4 {order} integers, got {}", got(v))));
        };
        if items.len() != 4 {
            return Err(ConfigError::new(
                &key,
                format!("expected a list of 4 {order} integers, got {} values", items.len()),
            ));
        }
        let mut out = [0i64; 4];
        for (i, item) in items.iter().enumerate() {
            out[i] = int_value(item, &format!("{key}[{i}]"), i64::MIN + 1, i64::MAX, "an integer")?;
        }
        let ok = out.windows(2).all(|w| if decreasing { w[0] > w[1] } else { w[0] < w[1] });
        if !ok {
            return Err(ConfigError::new(&key, format!("the 4 thresholds must be {order}, got {out:?}")));
        }
        Ok(Some(out))
    }
}

fn int_value(v: &Value, key: &str, lo: i64, hi: i64, what: &str) -> Result<i64, ConfigError> {
    match v.as_i64() {
        Some(i) if lo <= i && i <= hi => Ok(i),
        _ => Err(ConfigError::new(key, format!("expected {what}, got {}", got(v)))),
    }
}

fn string_value<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, ConfigError> {
    v.as_str().ok_or_else(|| ConfigError::new(key, format!("expected {what}, got {}", got(v))))
}

fn parse_map(v: &Value, key: &str, coarse: bool) -> Result<Vec<SegmentDef>, ConfigError> {
    let Value::Array(items) = v else {
        return Err(ConfigError::new(key, format!("expected a list of segments, got {}", got(v))));
    };
    let allowed: &[&str] = if coarse { &["name", "cells", "rfm11", "action"] } else { &["name", "cells", "action"] };
    let mut defs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let o = Obj::new(item, &format!("{key}[{i}]"), allowed)?;
        let name = match o.get("name") {
            Some(n) => string_value(n, &o.key("name"), "a segment name")?.to_string(),
            None => return Err(ConfigError::new(&o.key("name"), "missing: every segment needs a name")),
        };
        let action = match o.get("action") {
            Some(a) => string_value(a, &o.key("action"), "text")?.to_string(),
            None => String::new(),
        };
        defs.push(SegmentDef {
            name,
            cells: o.string_list("cells")?.unwrap_or_default(),
            rfm11: o.string_list("rfm11")?.unwrap_or_default(),
            action,
        });
    }
    Ok(defs)
}

impl ScoreConfig {
    /// The defaults with the given JSON object applied on top. Absent keys (and `null`) keep
    /// their defaults; unknown keys and bad values are errors naming the key.
    pub fn from_json(text: &str) -> Result<ScoreConfig, ConfigError> {
        let root: Value = serde_json::from_str(text)
            .map_err(|e| ConfigError::new("", format!("the configuration is not valid JSON: {e}")))?;
        Self::from_value(&root)
    }

    pub fn from_value(root: &Value) -> Result<ScoreConfig, ConfigError> {
        let mut c = ScoreConfig::default();
        let top = Obj::new(
            root,
            "",
            &["mode", "rfm", "saas", "maps", "events", "costs", "quadrant", "churn", "health", "lifecycle", "tier", "size_bands"],
        )?;
        if let Some(v) = top.get("mode") {
            c.mode = match v.as_str() {
                Some("transactions") => Mode::Transactions,
                Some("saas") => Mode::Saas,
                _ => return Err(ConfigError::new("mode", format!("expected \"transactions\" or \"saas\", got {}", got(v)))),
            };
        }
        if let Some(v) = top.get("rfm") {
            let o = Obj::new(v, "rfm", &["window_days", "thresholds"])?;
            if o.get("window_days").is_some() {
                let mut w = 0;
                o.pos("window_days", &mut w)?;
                c.rfm.window_days = Some(w);
            }
            if let Some(t) = o.get("thresholds") {
                let t = Obj::new(t, "rfm.thresholds", &["recency", "frequency", "monetary"])?;
                c.rfm.recency_thresholds = t.cuts("recency", true)?;
                c.rfm.frequency_thresholds = t.cuts("frequency", false)?;
                c.rfm.monetary_thresholds = t.cuts("monetary", false)?;
            }
        }
        if let Some(v) = top.get("saas") {
            let o = Obj::new(v, "saas", &["window_days", "high_signal_events", "frequency", "revenue_months"])?;
            o.pos("window_days", &mut c.saas.window_days)?;
            o.int_in("revenue_months", 1, 120, "an integer from 1 to 120", &mut c.saas.revenue_months)?;
            if let Some(list) = o.string_list("high_signal_events")? {
                c.saas.high_signal_events = Some(list);
            }
            if let Some(f) = o.get("frequency") {
                c.saas.frequency = match f.as_str() {
                    Some("events") => SaasFrequency::Events,
                    Some("active_days") => SaasFrequency::ActiveDays,
                    _ => {
                        return Err(ConfigError::new(
                            "saas.frequency",
                            format!("expected \"events\" or \"active_days\", got {}", got(f)),
                        ))
                    }
                };
            }
        }
        if let Some(v) = top.get("maps") {
            let o = Obj::new(v, "maps", &["rfm11", "rfm5"])?;
            if let Some(m) = o.get("rfm11") {
                c.rfm11 = SegmentMap::build("maps.rfm11", parse_map(m, "maps.rfm11", false)?, None)?;
            }
            let rfm5_defs = match o.get("rfm5") {
                Some(m) => parse_map(m, "maps.rfm5", true)?,
                None => default_rfm5_defs(),
            };
            c.rfm5 = SegmentMap::build("maps.rfm5", rfm5_defs, Some(&c.rfm11)).map_err(|e| {
                if o.get("rfm5").is_none() {
                    ConfigError::new(
                        "maps.rfm5",
                        format!("the default rfm5 map does not fit the configured rfm11 map ({e}); configure maps.rfm5 too"),
                    )
                } else {
                    e
                }
            })?;
        }
        if let Some(v) = top.get("events") {
            let o = Obj::new(v, "events", &["passive_kinds", "ticket_kinds", "failed_payment_kinds"])?;
            if let Some(l) = o.string_list("passive_kinds")? {
                c.events.passive_kinds = l;
            }
            if let Some(l) = o.string_list("ticket_kinds")? {
                c.events.ticket_kinds = l;
            }
            if let Some(l) = o.string_list("failed_payment_kinds")? {
                c.events.failed_payment_kinds = l;
            }
        }
        if let Some(v) = top.get("costs") {
            let o = Obj::new(v, "costs", &["default_driver", "drivers"])?;
            if let Some(d) = o.get("default_driver") {
                c.costs.default_driver =
                    Driver::parse(string_value(d, "costs.default_driver", "a driver name")?, "costs.default_driver")?;
            }
            if let Some(d) = o.get("drivers") {
                let Value::Object(m) = d else {
                    return Err(ConfigError::new("costs.drivers", format!("expected a table of category = driver, got {}", got(d))));
                };
                let mut drivers = Vec::with_capacity(m.len());
                for (cat, dv) in m {
                    let key = format!("costs.drivers.{cat}");
                    drivers.push((cat.clone(), Driver::parse(string_value(dv, &key, "a driver name")?, &key)?));
                }
                drivers.sort_by(|a, b| a.0.cmp(&b.0));
                c.costs.drivers = drivers;
            }
        }
        if let Some(v) = top.get("quadrant") {
            let o = Obj::new(v, "quadrant", &["revenue_threshold", "cost_threshold"])?;
            if let Some(t) = o.get("revenue_threshold") {
                c.quadrant.revenue_threshold =
                    Some(int_value(t, "quadrant.revenue_threshold", i64::MIN + 1, i64::MAX, "an integer (minor units)")?);
            }
            if let Some(t) = o.get("cost_threshold") {
                c.quadrant.cost_threshold =
                    Some(int_value(t, "quadrant.cost_threshold", i64::MIN + 1, i64::MAX, "an integer (minor units)")?);
            }
        }
        if let Some(v) = top.get("churn") {
            let ch = &mut c.churn;
            let o = Obj::new(
                v,
                "churn",
                &[
                    "recent_days",
                    "prior_days",
                    "weights",
                    "bands",
                    "gap_min_purchases",
                    "gap_default_days",
                    "gap_factor_pct",
                    "gap_long_factor_pct",
                    "gap_min_days",
                    "drop_below_pct",
                    "drop_min_prior_days",
                    "renewal_within_days",
                    "refund_min_share_pct",
                    "refund_spike_factor_pct",
                    "ticket_min",
                    "ticket_spike_factor_pct",
                ],
            )?;
            o.pos("recent_days", &mut ch.recent_days)?;
            o.pos("prior_days", &mut ch.prior_days)?;
            if let Some(w) = o.get("weights") {
                let w = Obj::new(w, "churn.weights", &CHURN_SIGNALS)?;
                for (i, name) in CHURN_SIGNALS.iter().enumerate() {
                    w.score_points(name, &mut ch.weights[i])?;
                }
            }
            if let Some(b) = o.get("bands") {
                let b = Obj::new(b, "churn.bands", &["medium_from", "high_from"])?;
                b.score_points("medium_from", &mut ch.medium_from)?;
                b.score_points("high_from", &mut ch.high_from)?;
            }
            o.int_in("gap_min_purchases", 2, i64::from(i32::MAX), "an integer of at least 2", &mut ch.gap_min_purchases)?;
            o.pos("gap_default_days", &mut ch.gap_default_days)?;
            o.pos("gap_factor_pct", &mut ch.gap_factor_pct)?;
            o.pos("gap_long_factor_pct", &mut ch.gap_long_factor_pct)?;
            o.nonneg("gap_min_days", &mut ch.gap_min_days)?;
            o.int_in("drop_below_pct", 1, 100, "an integer from 1 to 100", &mut ch.drop_below_pct)?;
            o.nonneg("drop_min_prior_days", &mut ch.drop_min_prior_days)?;
            o.pos("renewal_within_days", &mut ch.renewal_within_days)?;
            o.int_in("refund_min_share_pct", 0, 100, "an integer from 0 to 100", &mut ch.refund_min_share_pct)?;
            o.pos("refund_spike_factor_pct", &mut ch.refund_spike_factor_pct)?;
            o.pos("ticket_min", &mut ch.ticket_min)?;
            o.pos("ticket_spike_factor_pct", &mut ch.ticket_spike_factor_pct)?;
            if ch.gap_factor_pct > ch.gap_long_factor_pct {
                return Err(ConfigError::new(
                    "churn.gap_long_factor_pct",
                    format!("must not be below gap_factor_pct ({}), got {}", ch.gap_factor_pct, ch.gap_long_factor_pct),
                ));
            }
            if ch.medium_from > ch.high_from {
                return Err(ConfigError::new(
                    "churn.bands",
                    format!("medium_from ({}) must not exceed high_from ({})", ch.medium_from, ch.high_from),
                ));
            }
        }
        if let Some(v) = top.get("health") {
            let h = &mut c.health;
            let o = Obj::new(v, "health", &["weights", "bands", "margin_full_pct"])?;
            if let Some(w) = o.get("weights") {
                let w = Obj::new(w, "health.weights", &HEALTH_COMPONENTS)?;
                for (i, name) in HEALTH_COMPONENTS.iter().enumerate() {
                    w.int_in(name, 0, 1_000_000, "a non-negative integer weight", &mut h.weights[i])?;
                }
                if h.weights.iter().sum::<i64>() == 0 {
                    return Err(ConfigError::new("health.weights", "at least one weight must be positive"));
                }
            }
            if let Some(b) = o.get("bands") {
                let b = Obj::new(b, "health.bands", &["yellow_from", "green_from"])?;
                b.score_points("yellow_from", &mut h.yellow_from)?;
                b.score_points("green_from", &mut h.green_from)?;
            }
            o.int_in("margin_full_pct", 1, 100, "an integer from 1 to 100", &mut h.margin_full_pct)?;
            if h.yellow_from > h.green_from {
                return Err(ConfigError::new(
                    "health.bands",
                    format!("yellow_from ({}) must not exceed green_from ({})", h.yellow_from, h.green_from),
                ));
            }
        }
        if let Some(v) = top.get("lifecycle") {
            let l = &mut c.lifecycle;
            let o = Obj::new(v, "lifecycle", &["churn_horizon_days", "onboarding_days", "growth_pct", "seat_limit_pct"])?;
            o.pos("churn_horizon_days", &mut l.churn_horizon_days)?;
            o.pos("onboarding_days", &mut l.onboarding_days)?;
            o.pos("growth_pct", &mut l.growth_pct)?;
            o.int_in("seat_limit_pct", 1, 1000, "an integer from 1 to 1000", &mut l.seat_limit_pct)?;
        }
        if let Some(v) = top.get("tier") {
            let t = &mut c.tier;
            let o = Obj::new(
                v,
                "tier",
                &["window_days", "core_features", "power_active_days", "power_core_features", "core_active_days", "core_core_features"],
            )?;
            o.pos("window_days", &mut t.window_days)?;
            if let Some(l) = o.string_list("core_features")? {
                t.core_features = Some(l);
            }
            o.nonneg("power_active_days", &mut t.power_active_days)?;
            o.nonneg("power_core_features", &mut t.power_core_features)?;
            o.nonneg("core_active_days", &mut t.core_active_days)?;
            o.nonneg("core_core_features", &mut t.core_core_features)?;
        }
        if let Some(v) = top.get("size_bands") {
            let s = &mut c.size_bands;
            let o = Obj::new(v, "size_bands", &["mid_market_from", "enterprise_from"])?;
            o.pos("mid_market_from", &mut s.mid_market_from)?;
            o.pos("enterprise_from", &mut s.enterprise_from)?;
            if s.mid_market_from >= s.enterprise_from {
                return Err(ConfigError::new(
                    "size_bands",
                    format!("mid_market_from ({}) must be below enterprise_from ({})", s.mid_market_from, s.enterprise_from),
                ));
            }
        }
        Ok(c)
    }

    /// The complete configuration as a JSON value (every key, defaults included).
    pub fn to_value(&self) -> Value {
        let cuts = |c: &Cuts| c.map_or(Value::Null, |a| json!(a));
        let map = |m: &SegmentMap, coarse: bool| -> Value {
            Value::Array(
                m.defs
                    .iter()
                    .map(|d| {
                        let mut o = Map::new();
                        o.insert("name".into(), json!(d.name));
                        o.insert("cells".into(), json!(d.cells));
                        if coarse {
                            o.insert("rfm11".into(), json!(d.rfm11));
                        }
                        o.insert("action".into(), json!(d.action));
                        Value::Object(o)
                    })
                    .collect(),
            )
        };
        let ch = &self.churn;
        let weights: Map<String, Value> =
            CHURN_SIGNALS.iter().zip(ch.weights).map(|(k, w)| (k.to_string(), json!(w))).collect();
        let hweights: Map<String, Value> =
            HEALTH_COMPONENTS.iter().zip(self.health.weights).map(|(k, w)| (k.to_string(), json!(w))).collect();
        let drivers: Map<String, Value> =
            self.costs.drivers.iter().map(|(k, d)| (k.clone(), json!(d.name()))).collect();
        json!({
            "mode": match self.mode { Mode::Transactions => "transactions", Mode::Saas => "saas" },
            "rfm": {
                "window_days": self.rfm.window_days,
                "thresholds": {
                    "recency": cuts(&self.rfm.recency_thresholds),
                    "frequency": cuts(&self.rfm.frequency_thresholds),
                    "monetary": cuts(&self.rfm.monetary_thresholds),
                },
            },
            "saas": {
                "window_days": self.saas.window_days,
                "high_signal_events": self.saas.high_signal_events,
                "frequency": match self.saas.frequency { SaasFrequency::Events => "events", SaasFrequency::ActiveDays => "active_days" },
                "revenue_months": self.saas.revenue_months,
            },
            "maps": { "rfm11": map(&self.rfm11, false), "rfm5": map(&self.rfm5, true) },
            "events": {
                "passive_kinds": self.events.passive_kinds,
                "ticket_kinds": self.events.ticket_kinds,
                "failed_payment_kinds": self.events.failed_payment_kinds,
            },
            "costs": { "default_driver": self.costs.default_driver.name(), "drivers": drivers },
            "quadrant": {
                "revenue_threshold": self.quadrant.revenue_threshold,
                "cost_threshold": self.quadrant.cost_threshold,
            },
            "churn": {
                "recent_days": ch.recent_days,
                "prior_days": ch.prior_days,
                "weights": weights,
                "bands": { "medium_from": ch.medium_from, "high_from": ch.high_from },
                "gap_min_purchases": ch.gap_min_purchases,
                "gap_default_days": ch.gap_default_days,
                "gap_factor_pct": ch.gap_factor_pct,
                "gap_long_factor_pct": ch.gap_long_factor_pct,
                "gap_min_days": ch.gap_min_days,
                "drop_below_pct": ch.drop_below_pct,
                "drop_min_prior_days": ch.drop_min_prior_days,
                "renewal_within_days": ch.renewal_within_days,
                "refund_min_share_pct": ch.refund_min_share_pct,
                "refund_spike_factor_pct": ch.refund_spike_factor_pct,
                "ticket_min": ch.ticket_min,
                "ticket_spike_factor_pct": ch.ticket_spike_factor_pct,
            },
            "health": {
                "weights": hweights,
                "bands": { "yellow_from": self.health.yellow_from, "green_from": self.health.green_from },
                "margin_full_pct": self.health.margin_full_pct,
            },
            "lifecycle": {
                "churn_horizon_days": self.lifecycle.churn_horizon_days,
                "onboarding_days": self.lifecycle.onboarding_days,
                "growth_pct": self.lifecycle.growth_pct,
                "seat_limit_pct": self.lifecycle.seat_limit_pct,
            },
            "tier": {
                "window_days": self.tier.window_days,
                "core_features": self.tier.core_features,
                "power_active_days": self.tier.power_active_days,
                "power_core_features": self.tier.power_core_features,
                "core_active_days": self.tier.core_active_days,
                "core_core_features": self.tier.core_core_features,
            },
            "size_bands": {
                "mid_market_from": self.size_bands.mid_market_from,
                "enterprise_from": self.size_bands.enterprise_from,
            },
        })
    }

    /// The complete configuration as compact JSON with sorted keys (stable across runs and
    /// builds): hash it for the snapshot's configuration fingerprint.
    pub fn to_canonical_json(&self) -> String {
        // Keys are sorted explicitly: the workspace enables serde_json's `preserve_order`
        // (the importer keeps a rejected row's columns in file order), so map order alone is
        // not canonical.
        serde_json::to_string(&sorted_keys(self.to_value())).expect("a JSON value always serialises")
    }

    /// The driver of a cost category.
    pub fn driver_for(&self, category: &str) -> &Driver {
        self.costs
            .drivers
            .iter()
            .find(|(c, _)| c == category)
            .map(|(_, d)| d)
            .unwrap_or(&self.costs.default_driver)
    }
}

/// `v` with every object's keys in ascending order, recursively.
fn sorted_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}
