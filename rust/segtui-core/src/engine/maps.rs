//! RFM segment maps as data: total grids over the 125 (R, F, M) score triples.
//!
//! A map is a list of segments, each naming the cells it covers. A cell spec is a
//! whitespace-separated list of terms `r<a>`, `f<a>`, `m<a>` or `fm<a>`, each optionally a range
//! `<a>-<b>` (1 ≤ a ≤ b ≤ 5); a dimension that is not named is unrestricted, and `fm` is
//! `(F + M + 1) div 2`. So `"r4-5 fm4-5"` is the Champions corner of the design's grid.
//! A segment of the coarse map may instead name segments of the fine map (`rfm11 = [...]`).
//! Validation is total: every one of the 125 triples must be covered exactly once, otherwise the
//! map is rejected with the first offending cell named.

use super::config::ConfigError;

/// The segment of accounts without a purchase by the as-of date (code 0 in both maps).
pub const NO_PURCHASE: &str = "No Purchase";

/// One entry of a configured map, as written in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentDef {
    pub name: String,
    /// Cell specs (`"r4-5 fm4-5"`).
    pub cells: Vec<String>,
    /// Names of segments of the fine map (`rfm11`) this segment groups (coarse map only).
    pub rfm11: Vec<String>,
    /// The default playbook action (free text, may be empty).
    pub action: String,
}

/// A validated map: label list and a lookup table over the 125 triples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentMap {
    pub defs: Vec<SegmentDef>,
    /// `labels[0]` is [`NO_PURCHASE`]; `labels[i]` is `defs[i - 1].name`.
    pub labels: Vec<String>,
    /// Code (index into `labels`, ≥ 1) of each triple, at [`cell_index`]`(r, f, m)`.
    pub table: Vec<u8>,
}

/// Index of the triple (r, f, m), each 1..=5, in [`SegmentMap::table`].
#[inline]
pub fn cell_index(r: u8, f: u8, m: u8) -> usize {
    (r as usize - 1) * 25 + (f as usize - 1) * 5 + (m as usize - 1)
}

/// `(F + M + 1) div 2`: the average of F and M, halves rounded up.
#[inline]
pub fn fm(f: u8, m: u8) -> u8 {
    (f + m + 1) / 2
}

fn describe(r: u8, f: u8, m: u8) -> String {
    format!("r{r} f{f} m{m} (fm{})", fm(f, m))
}

/// Parse one cell spec into a predicate over triples: bounds per dimension r, f, m, fm.
fn parse_cell(spec: &str, key: &str) -> Result<[(u8, u8); 4], ConfigError> {
    let mut bounds = [(1u8, 5u8); 4];
    let mut seen = [false; 4];
    let terms: Vec<&str> = spec.split_whitespace().collect();
    if terms.is_empty() {
        return Err(ConfigError::new(key, "empty cell spec (expected e.g. \"r4-5 fm4-5\")"));
    }
    for term in terms {
        let t = term.to_ascii_lowercase();
        let (dim, rest) = if let Some(rest) = t.strip_prefix("fm") {
            (3, rest)
        } else if let Some(rest) = t.strip_prefix('r') {
            (0, rest)
        } else if let Some(rest) = t.strip_prefix('f') {
            (1, rest)
        } else if let Some(rest) = t.strip_prefix('m') {
            (2, rest)
        } else {
            return Err(ConfigError::new(
                key,
                format!("cell spec {spec:?}: term {term:?} must start with r, f, m or fm"),
            ));
        };
        if seen[dim] {
            return Err(ConfigError::new(key, format!("cell spec {spec:?}: {term:?} repeats a dimension")));
        }
        seen[dim] = true;
        let parse = |s: &str| -> Option<u8> {
            let v: u8 = s.parse().ok()?;
            (1..=5).contains(&v).then_some(v)
        };
        let (lo, hi) = match rest.split_once('-') {
            Some((a, b)) => (parse(a), parse(b)),
            None => (parse(rest), parse(rest)),
        };
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo <= hi => bounds[dim] = (lo, hi),
            _ => {
                return Err(ConfigError::new(
                    key,
                    format!("cell spec {spec:?}: {term:?} needs a score or range within 1-5"),
                ))
            }
        }
    }
    Ok(bounds)
}

fn in_bounds(b: &[(u8, u8); 4], r: u8, f: u8, m: u8) -> bool {
    let v = [r, f, m, fm(f, m)];
    (0..4).all(|i| b[i].0 <= v[i] && v[i] <= b[i].1)
}

impl SegmentMap {
    /// Validate `defs` into a total map. `key` names the map in messages (`maps.rfm11`);
    /// `fine` is the map that `rfm11 = [...]` entries refer to.
    pub fn build(key: &str, defs: Vec<SegmentDef>, fine: Option<&SegmentMap>) -> Result<Self, ConfigError> {
        if defs.is_empty() {
            return Err(ConfigError::new(key, "a map needs at least one segment"));
        }
        if defs.len() > 254 {
            return Err(ConfigError::new(key, "a map has at most 254 segments"));
        }
        let mut owner: Vec<u8> = vec![0; 125];
        for (i, def) in defs.iter().enumerate() {
            let dkey = format!("{key}[{i}]");
            let code = (i + 1) as u8;
            if def.name.trim().is_empty() {
                return Err(ConfigError::new(&format!("{dkey}.name"), "a segment needs a non-empty name"));
            }
            if def.name == NO_PURCHASE {
                return Err(ConfigError::new(
                    &format!("{dkey}.name"),
                    format!("{NO_PURCHASE:?} is reserved for accounts without a purchase"),
                ));
            }
            if let Some(j) = defs[..i].iter().position(|d| d.name == def.name) {
                return Err(ConfigError::new(
                    &format!("{dkey}.name"),
                    format!("segment {:?} is already defined at {key}[{j}]", def.name),
                ));
            }
            if def.cells.is_empty() && def.rfm11.is_empty() {
                return Err(ConfigError::new(&dkey, format!("segment {:?} names no cells", def.name)));
            }
            let claim = |r: u8, f: u8, m: u8, owner: &mut Vec<u8>| -> Result<(), ConfigError> {
                let c = cell_index(r, f, m);
                if owner[c] != 0 && owner[c] != code {
                    let other = &defs[owner[c] as usize - 1].name;
                    return Err(ConfigError::new(
                        key,
                        format!("cell {} is named twice: {other:?} and {:?}", describe(r, f, m), def.name),
                    ));
                }
                owner[c] = code;
                Ok(())
            };
            for (k, spec) in def.cells.iter().enumerate() {
                let b = parse_cell(spec, &format!("{dkey}.cells[{k}]"))?;
                for r in 1..=5 {
                    for f in 1..=5 {
                        for m in 1..=5 {
                            if in_bounds(&b, r, f, m) {
                                claim(r, f, m, &mut owner)?;
                            }
                        }
                    }
                }
            }
            if !def.rfm11.is_empty() {
                let Some(fine) = fine else {
                    return Err(ConfigError::new(&format!("{dkey}.rfm11"), "only the rfm5 map can group rfm11 segments"));
                };
                for (k, name) in def.rfm11.iter().enumerate() {
                    let Some(fc) = fine.labels.iter().position(|l| l == name).filter(|&p| p > 0) else {
                        return Err(ConfigError::new(
                            &format!("{dkey}.rfm11[{k}]"),
                            format!("no rfm11 segment is named {name:?}"),
                        ));
                    };
                    for r in 1..=5 {
                        for f in 1..=5 {
                            for m in 1..=5 {
                                if fine.table[cell_index(r, f, m)] as usize == fc {
                                    claim(r, f, m, &mut owner)?;
                                }
                            }
                        }
                    }
                }
            }
        }
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    if owner[cell_index(r, f, m)] == 0 {
                        return Err(ConfigError::new(key, format!("cell {} has no segment", describe(r, f, m))));
                    }
                }
            }
        }
        let mut labels = vec![NO_PURCHASE.to_string()];
        labels.extend(defs.iter().map(|d| d.name.clone()));
        Ok(SegmentMap { defs, labels, table: owner })
    }

    /// The code of the triple; 0 ([`NO_PURCHASE`]) when any score is 0.
    #[inline]
    pub fn code(&self, r: u8, f: u8, m: u8) -> u8 {
        if r == 0 || f == 0 || m == 0 {
            0
        } else {
            self.table[cell_index(r, f, m)]
        }
    }
}

fn def(name: &str, cells: &[&str], rfm11: &[&str], action: &str) -> SegmentDef {
    SegmentDef {
        name: name.into(),
        cells: cells.iter().map(|s| s.to_string()).collect(),
        rfm11: rfm11.iter().map(|s| s.to_string()).collect(),
        action: action.into(),
    }
}

/// The design's `rfm11` grid (recency against FM) with its default playbooks.
pub fn default_rfm11() -> SegmentMap {
    let defs = vec![
        def("Champions", &["r4-5 fm4-5"], &[], "reward, ask for referrals and reviews, early access"),
        def("Loyal", &["r3 fm4-5"], &[], "upsell, loyalty programme"),
        def("Potential Loyalist", &["r4-5 fm2-3"], &[], "membership or bundle offer, onboarding to more products"),
        def("New Customers", &["r5 fm1"], &[], "welcome series, fast first value"),
        def("Promising", &["r4 fm1"], &[], "build the relationship, free trial of a higher tier"),
        def("Need Attention", &["r3 fm3"], &[], "time-limited offer, check-in call"),
        def("About to Sleep", &["r3 fm1-2"], &[], "reactivation campaign, share popular products"),
        def("At Risk", &["r2 fm3-5", "r1 fm3"], &[], "personal outreach, win-back offer"),
        def("Can't Lose Them", &["r1 fm4-5"], &[], "win them back now; escalate to an owner"),
        def("Hibernating", &["r2 fm1-2"], &[], "low-cost re-engagement or sunset"),
        def("Lost", &["r1 fm1-2"], &[], "ignore, or one last win-back; recover their cost to serve"),
    ];
    SegmentMap::build("maps.rfm11", defs, None).expect("the default rfm11 map is total")
}

/// The design's `rfm5` map: a coarsening of `rfm11`.
pub fn default_rfm5(rfm11: &SegmentMap) -> Result<SegmentMap, ConfigError> {
    SegmentMap::build("maps.rfm5", default_rfm5_defs(), Some(rfm11))
}

/// The entries of the design's `rfm5` map (they name the default `rfm11` segments).
pub fn default_rfm5_defs() -> Vec<SegmentDef> {
    vec![
        def("Champions", &[], &["Champions"], ""),
        def("Loyal", &[], &["Loyal", "Potential Loyalist", "New Customers", "Promising"], ""),
        def("At Risk", &[], &["At Risk", "Can't Lose Them", "Need Attention", "About to Sleep"], ""),
        def("Dormant", &[], &["Hibernating"], ""),
        def("Lost", &[], &["Lost"], ""),
    ]
}
