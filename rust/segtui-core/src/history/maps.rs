//! The segment maps a migration can be taken over, each one a column of `snapshot_accounts`,
//! with the canonical order of its labels (rows and columns of a matrix follow it; labels a
//! map does not list, such as custom segment names, follow in alphabetical order).

/// One map: its name on the command line, the snapshot column holding it, its label order,
/// and the label shown for a NULL value.
#[derive(Debug, PartialEq, Eq)]
pub struct MapSpec {
    pub name: &'static str,
    pub column: &'static str,
    pub order: &'static [&'static str],
    pub null_label: &'static str,
    /// Whether hysteresis applies to this map (the RFM maps do).
    pub hysteresis: bool,
}

pub const NO_PURCHASE: &str = "No Purchase";
/// Row label of accounts in B that are not in A.
pub const NEW: &str = "(new)";
/// Column label of accounts in A that are not in B.
pub const GONE: &str = "(gone)";
/// Label of a NULL value in an optional column.
pub const NONE: &str = "(none)";

pub const RFM11_ORDER: &[&str] = &[
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New Customers",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
    "Lost",
    NO_PURCHASE,
];

pub const RFM5_ORDER: &[&str] = &["Champions", "Loyal", "At Risk", "Dormant", "Lost", NO_PURCHASE];

pub const MAPS: &[MapSpec] = &[
    MapSpec { name: "rfm11", column: "rfm_segment", order: RFM11_ORDER, null_label: NONE, hysteresis: true },
    MapSpec { name: "rfm5", column: "rfm5_segment", order: RFM5_ORDER, null_label: NONE, hysteresis: true },
    MapSpec {
        name: "quadrant",
        column: "quadrant",
        order: &[
            "high revenue, low cost",
            "high revenue, high cost",
            "low revenue, low cost",
            "low revenue, high cost",
        ],
        null_label: NONE,
        hysteresis: false,
    },
    MapSpec {
        name: "lifecycle",
        column: "lifecycle",
        order: &["onboarding", "active", "expansion-ready", "at-risk", "churned"],
        null_label: NONE,
        hysteresis: false,
    },
    MapSpec { name: "churn", column: "churn_band", order: &["low", "medium", "high"], null_label: NONE, hysteresis: false },
    MapSpec { name: "health", column: "health_band", order: &["green", "yellow", "red"], null_label: NONE, hysteresis: false },
    MapSpec {
        name: "tier",
        column: "tier",
        order: &["power", "core", "shallow", "disengaged"],
        null_label: NONE,
        hysteresis: false,
    },
    MapSpec { name: "size", column: "size_band", order: &["SMB", "Mid-Market", "Enterprise"], null_label: NONE, hysteresis: false },
    MapSpec { name: "primary", column: "primary_segment", order: &[], null_label: NONE, hysteresis: false },
];

/// The map called `name` (also accepts the column name, e.g. `churn_band`).
pub fn map_spec(name: &str) -> Option<&'static MapSpec> {
    MAPS.iter().find(|m| m.name == name || m.column == name)
}

/// The names of all maps, for messages.
pub fn map_names() -> Vec<&'static str> {
    MAPS.iter().map(|m| m.name).collect()
}

/// Canonical position of `label` under `order`: known labels by their place (compared
/// without regard to case), unknown ones after them; [`NEW`]/[`GONE`]/[`NONE`] last.
pub fn rank(order: &[&str], label: &str) -> (u8, usize, String) {
    if label == NEW || label == GONE || label == NONE {
        return (2, 0, label.to_string());
    }
    match order.iter().position(|o| o.eq_ignore_ascii_case(label)) {
        Some(i) => (0, i, String::new()),
        None => (1, 0, label.to_string()),
    }
}

/// The permutation that sorts `labels` canonically: `perm[new_code] = old_code`.
pub fn canonical_order(order: &[&str], labels: &[String]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..labels.len()).collect();
    idx.sort_by_key(|&i| rank(order, &labels[i]));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_resolve_by_name_or_column() {
        assert_eq!(map_spec("rfm11").unwrap().column, "rfm_segment");
        assert_eq!(map_spec("churn_band").unwrap().name, "churn");
        assert!(map_spec("nope").is_none());
        let mut names = map_names();
        names.dedup();
        assert_eq!(names.len(), MAPS.len());
    }

    #[test]
    fn canonical_order_puts_known_labels_first() {
        let labels: Vec<String> =
            ["Lost", "VIP", "(new)", "Champions", "Anchor", "No Purchase"].iter().map(|s| s.to_string()).collect();
        let perm = canonical_order(RFM11_ORDER, &labels);
        let sorted: Vec<&str> = perm.iter().map(|&i| labels[i].as_str()).collect();
        assert_eq!(sorted, ["Champions", "Lost", "No Purchase", "Anchor", "VIP", "(new)"]);
    }
}
