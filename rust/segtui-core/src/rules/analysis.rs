//! Rules that can never match, found before any data is read.
//!
//! The rule (in negation normal form) is expanded into alternatives (a disjunction of
//! conjunctions). A conjunction is impossible when its conditions contradict each other *by
//! construction*, whatever the data:
//! - on one metric: disjoint ranges (`x < 1 and x > 5`), a value outside a list, `is null`
//!   together with any comparison (a comparison on a missing value is never true);
//! - on events, using facts that hold for every account: counts never go down as a window
//!   grows (all windows end on the as-of day), a window of N days holds at most N active days
//!   and N+k days at most k more than N days, an account with an event of a kind in a window
//!   has an active day there, and the first event of a kind in the last N days means an event
//!   of that kind in those N days.
//!
//! The whole rule is rejected when every alternative is impossible; the error names a smallest
//! set of conditions that contradict each other. A part of a rule that can never match (a dead
//! branch of an `or`) is reported as a warning. The check is sound (it never rejects a rule
//! that some data could satisfy) but not complete.

use std::collections::{BTreeMap, BTreeSet};

use super::compile::{CompiledRule, FloatSet, IntSet, Leaf, Node, Test};
use super::error::{RuleError, Span};

type Lit = (usize, bool);

/// Alternatives beyond this many are not expanded (the check is skipped for that part).
const MAX_ALTERNATIVES: usize = 256;

pub fn check(rule: &mut CompiledRule) -> Result<(), RuleError> {
    let leaves = &rule.leaves;
    let src = &rule.source;
    let Some(dnf) = dnf(&rule.root) else { return Ok(()) };
    let impossible: Vec<Vec<Lit>> = dnf.iter().filter(|c| !feasible(c, leaves)).cloned().collect();
    if impossible.len() == dnf.len() {
        let mut reasons: Vec<(Span, String)> = Vec::new();
        for conj in &impossible {
            let core = minimal_core(conj, leaves);
            let r = explain(&core, leaves);
            if !reasons.iter().any(|x| x.1 == r.1) {
                reasons.push(r);
            }
        }
        reasons.sort_by_key(|r| r.0.start);
        let first = reasons[0].0;
        let text = if reasons.len() == 1 {
            format!("this rule can never match: {}", reasons[0].1)
        } else {
            let shown: Vec<String> = reasons.iter().take(3).map(|r| r.1.clone()).collect();
            format!("this rule can never match: each alternative contradicts itself: {}", shown.join("; "))
        };
        return Err(RuleError::at(src, first, text));
    }
    // Dead branches: the largest parts that can never match.
    let mut warnings = Vec::new();
    dead_parts(&rule.root, leaves, &mut warnings);
    for (span, msg) in warnings {
        let w = RuleError::at(src, span, format!("this part of the rule can never match: {msg}"));
        if !rule.warnings.contains(&w) {
            rule.warnings.push(w);
        }
    }
    Ok(())
}

fn dead_parts(node: &Node, leaves: &[Leaf], out: &mut Vec<(Span, String)>) {
    let children = match node {
        Node::And(c) | Node::Or(c) => c,
        Node::Lit(..) => return,
    };
    for child in children {
        match dnf(child) {
            Some(alts) if alts.iter().all(|c| !feasible(c, leaves)) => {
                let core = minimal_core(&alts[0], leaves);
                out.push(explain(&core, leaves));
            }
            _ => dead_parts(child, leaves, out),
        }
    }
}

/// The rule as alternatives of conjunctions, `None` when there would be too many.
fn dnf(node: &Node) -> Option<Vec<Vec<Lit>>> {
    match node {
        Node::Lit(i, n) => Some(vec![vec![(*i, *n)]]),
        Node::Or(items) => {
            let mut out = Vec::new();
            for it in items {
                out.extend(dnf(it)?);
                if out.len() > MAX_ALTERNATIVES {
                    return None;
                }
            }
            Some(out)
        }
        Node::And(items) => {
            let mut acc: Vec<Vec<Lit>> = vec![vec![]];
            for it in items {
                let d = dnf(it)?;
                if acc.len() * d.len() > MAX_ALTERNATIVES {
                    return None;
                }
                let mut next = Vec::with_capacity(acc.len() * d.len());
                for a in &acc {
                    for b in &d {
                        let mut c = a.clone();
                        c.extend_from_slice(b);
                        next.push(c);
                    }
                }
                acc = next;
            }
            Some(acc)
        }
    }
}

/// Drops conditions one by one while the rest stays impossible.
fn minimal_core(conj: &[Lit], leaves: &[Leaf]) -> Vec<Lit> {
    let mut core: Vec<Lit> = conj.to_vec();
    core.sort_by_key(|l| leaves[l.0].span.start);
    core.dedup();
    let mut i = 0;
    while i < core.len() {
        let mut without = core.clone();
        without.remove(i);
        if !without.is_empty() && !feasible(&without, leaves) {
            core = without;
        } else {
            i += 1;
        }
    }
    core
}

fn explain(core: &[Lit], leaves: &[Leaf]) -> (Span, String) {
    let texts: Vec<String> = core.iter().map(|(i, n)| format!("`{}`", leaves[*i].literal_text(*n))).collect();
    let span = leaves[core[0].0].span;
    let msg = match texts.len() {
        1 => {
            let hint = match &leaves[core[0].0].test {
                Test::Active { window, .. } if !core[0].1 => format!(" (a {window}-day window has at most {window} active days)"),
                Test::Count { .. } if !core[0].1 => " (a count is 0 or more)".to_string(),
                _ => String::new(),
            };
            format!("{} can never be true{hint}", texts[0])
        }
        2 => format!("{} and {} cannot both be true", texts[0], texts[1]),
        n => format!("{} and {} cannot all be true", texts[..n - 1].join(", "), texts[n - 1]),
    };
    (span, msg)
}

// ---- constraints -----------------------------------------------------------------------

/// A set of whole numbers: `lo..=hi`, optionally within a finite set, minus excluded ranges.
#[derive(Clone, Debug)]
struct IntCons {
    lo: i64,
    hi: i64,
    set: Option<Vec<i64>>,
    excl: Vec<(i64, i64)>,
}

impl IntCons {
    fn new(lo: i64, hi: i64) -> Self {
        IntCons { lo, hi, set: None, excl: Vec::new() }
    }

    fn add(&mut self, s: &IntSet) {
        match s {
            IntSet::Range(a, b) => {
                self.lo = self.lo.max(*a);
                self.hi = self.hi.min(*b);
            }
            IntSet::In(v) => {
                self.set = Some(match self.set.take() {
                    None => v.clone(),
                    Some(old) => old.into_iter().filter(|x| v.contains(x)).collect(),
                })
            }
        }
    }

    fn exclude(&mut self, s: &IntSet) {
        match s {
            IntSet::Range(a, b) => {
                if a <= b {
                    self.excl.push((*a, *b))
                }
            }
            IntSet::In(v) => self.excl.extend(v.iter().map(|x| (*x, *x))),
        }
    }

    fn allowed(&self, x: i64) -> bool {
        x >= self.lo
            && x <= self.hi
            && self.set.as_ref().is_none_or(|s| s.contains(&x))
            && !self.excl.iter().any(|(a, b)| *a <= x && x <= *b)
    }

    /// The smallest value in the set.
    fn min(&self) -> Option<i64> {
        if self.lo > self.hi {
            return None;
        }
        if let Some(s) = &self.set {
            return s.iter().copied().filter(|x| self.allowed(*x)).min();
        }
        let mut ex = self.excl.clone();
        ex.sort_unstable();
        let mut cur = self.lo;
        for (a, b) in ex {
            if a > cur {
                break;
            }
            if b >= cur {
                if b == i64::MAX {
                    return None;
                }
                cur = b + 1;
            }
        }
        (cur <= self.hi).then_some(cur)
    }

    fn max(&self) -> Option<i64> {
        if self.lo > self.hi {
            return None;
        }
        if let Some(s) = &self.set {
            return s.iter().copied().filter(|x| self.allowed(*x)).max();
        }
        let mut ex = self.excl.clone();
        ex.sort_unstable_by_key(|e| std::cmp::Reverse(e.1));
        let mut cur = self.hi;
        for (a, b) in ex {
            if b < cur {
                break;
            }
            if a <= cur {
                if a == i64::MIN {
                    return None;
                }
                cur = a - 1;
            }
        }
        (cur >= self.lo).then_some(cur)
    }

    fn raise(&mut self, lo: i64) -> bool {
        if lo > self.lo {
            self.lo = lo;
            true
        } else {
            false
        }
    }

    fn lower(&mut self, hi: i64) -> bool {
        if hi < self.hi {
            self.hi = hi;
            true
        } else {
            false
        }
    }
}

#[derive(Clone, Debug)]
struct FloatCons {
    lo: f64,
    lo_incl: bool,
    hi: f64,
    hi_incl: bool,
    set: Option<Vec<f64>>,
    excl: Vec<(f64, bool, f64, bool)>,
}

impl FloatCons {
    fn new() -> Self {
        FloatCons { lo: f64::NEG_INFINITY, lo_incl: true, hi: f64::INFINITY, hi_incl: true, set: None, excl: Vec::new() }
    }

    fn add(&mut self, s: &FloatSet) {
        match s {
            FloatSet::Range { lo, lo_incl, hi, hi_incl } => {
                if *lo > self.lo || (*lo == self.lo && !lo_incl) {
                    self.lo = *lo;
                    self.lo_incl = *lo_incl;
                }
                if *hi < self.hi || (*hi == self.hi && !hi_incl) {
                    self.hi = *hi;
                    self.hi_incl = *hi_incl;
                }
            }
            FloatSet::In(v) => {
                self.set = Some(match self.set.take() {
                    None => v.clone(),
                    Some(old) => old.into_iter().filter(|x| v.contains(x)).collect(),
                })
            }
        }
    }

    fn exclude(&mut self, s: &FloatSet) {
        match s {
            FloatSet::Range { lo, lo_incl, hi, hi_incl } => self.excl.push((*lo, *lo_incl, *hi, *hi_incl)),
            FloatSet::In(v) => self.excl.extend(v.iter().map(|x| (*x, true, *x, true))),
        }
    }

    fn in_bounds(&self, x: f64) -> bool {
        (x > self.lo || (x == self.lo && self.lo_incl)) && (x < self.hi || (x == self.hi && self.hi_incl))
    }

    fn excluded(&self, x: f64) -> bool {
        self.excl
            .iter()
            .any(|(a, ai, b, bi)| (x > *a || (x == *a && *ai)) && (x < *b || (x == *b && *bi)))
    }

    fn feasible(&self) -> bool {
        if let Some(s) = &self.set {
            return s.iter().any(|x| self.in_bounds(*x) && !self.excluded(*x));
        }
        if self.lo > self.hi || (self.lo == self.hi && !(self.lo_incl && self.hi_incl)) {
            return false;
        }
        if self.lo == self.hi {
            return !self.excluded(self.lo);
        }
        // An interval of positive length survives unless one excluded range covers it.
        !self.excl.iter().any(|(a, ai, b, bi)| {
            (*a < self.lo || (*a == self.lo && (*ai || !self.lo_incl)))
                && (*b > self.hi || (*b == self.hi && (*bi || !self.hi_incl)))
        })
    }
}

#[derive(Clone, Debug, Default)]
struct TextCons {
    set: Option<BTreeSet<String>>,
    excl: BTreeSet<String>,
}

impl TextCons {
    fn feasible(&self) -> bool {
        self.set.as_ref().is_none_or(|s| s.iter().any(|v| !self.excl.contains(v)))
    }
}

#[derive(Clone, Debug, Default)]
struct ColState {
    null: bool,
    not_null: bool,
    int: Option<IntCons>,
    rel: Option<IntCons>,
    float: Option<FloatCons>,
    text: Option<TextCons>,
}

impl ColState {
    fn feasible(&self) -> bool {
        !(self.null && self.not_null)
            && self.int.as_ref().is_none_or(|c| c.min().is_some())
            && self.rel.as_ref().is_none_or(|c| c.min().is_some())
            && self.float.as_ref().is_none_or(|c| c.feasible())
            && self.text.as_ref().is_none_or(|c| c.feasible())
    }
}

/// First event of a kind: its age (days before D) is in `lo..=hi`, or there is none
/// (allowed when `never_ok`).
#[derive(Clone, Debug)]
struct FirstCons {
    never_ok: bool,
    lo: i64,
    hi: i64,
}

/// Event quantities keyed by (kind or None = any kind, window or None = ever).
#[derive(Default)]
struct EventState {
    counts: BTreeMap<(String, Option<u32>), IntCons>,
    active: BTreeMap<(Option<String>, u32), IntCons>,
    first: BTreeMap<String, FirstCons>,
}

/// Whether the conjunction of literals could be true for some account.
fn feasible(conj: &[Lit], leaves: &[Leaf]) -> bool {
    let mut cols: BTreeMap<&str, ColState> = BTreeMap::new();
    let mut ev = EventState::default();
    for &(i, neg) in conj {
        match &leaves[i].test {
            Test::Int { col, set } => {
                let st = cols.entry(col).or_default();
                st.not_null = true;
                let c = st.int.get_or_insert_with(|| IntCons::new(i64::MIN + 1, i64::MAX));
                if neg { c.exclude(set) } else { c.add(set) }
            }
            Test::DayRel { col, lo, hi } => {
                let st = cols.entry(col).or_default();
                st.not_null = true;
                let c = st.rel.get_or_insert_with(|| IntCons::new(i64::MIN + 1, i64::MAX));
                let set = IntSet::Range(*lo, *hi);
                if neg { c.exclude(&set) } else { c.add(&set) }
            }
            Test::Float { col, set } => {
                let st = cols.entry(col).or_default();
                st.not_null = true;
                let c = st.float.get_or_insert_with(FloatCons::new);
                if neg { c.exclude(set) } else { c.add(set) }
            }
            Test::Text { col, values } => {
                let st = cols.entry(col).or_default();
                st.not_null = true;
                let c = st.text.get_or_insert_with(TextCons::default);
                if neg {
                    c.excl.extend(values.iter().cloned());
                } else {
                    let v: BTreeSet<String> = values.iter().cloned().collect();
                    c.set = Some(match c.set.take() {
                        None => v,
                        Some(old) => old.intersection(&v).cloned().collect(),
                    });
                }
            }
            Test::IsNull { col } => {
                let st = cols.entry(col).or_default();
                if neg { st.not_null = true } else { st.null = true }
            }
            Test::Count { kind, window, lo, hi } => {
                let c = ev.counts.entry((kind.clone(), *window)).or_insert_with(|| IntCons::new(0, i64::MAX));
                let set = IntSet::Range(*lo, *hi);
                if neg { c.exclude(&set) } else { c.add(&set) }
            }
            Test::Active { kind, window, lo, hi } => {
                let c = ev.active.entry((kind.clone(), *window)).or_insert_with(|| IntCons::new(0, *window as i64));
                let set = IntSet::Range(*lo, *hi);
                if neg { c.exclude(&set) } else { c.add(&set) }
            }
            Test::First { kind, window } => {
                let f = ev.first.entry(kind.clone()).or_insert(FirstCons { never_ok: true, lo: 0, hi: i64::MAX });
                if neg {
                    f.lo = f.lo.max(*window as i64);
                } else {
                    f.never_ok = false;
                    f.hi = f.hi.min(*window as i64 - 1);
                }
            }
        }
    }
    cols.values().all(|c| c.feasible()) && events_feasible(ev)
}

fn events_feasible(mut ev: EventState) -> bool {
    if ev.counts.is_empty() && ev.active.is_empty() && ev.first.is_empty() {
        return true;
    }
    // Every window in play, and every kind: add the implied quantities so that facts can flow
    // between conditions that do not name each other (a count in 7 days and active days in 30).
    let mut windows: BTreeSet<u32> = BTreeSet::new();
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    for (k, w) in ev.counts.keys() {
        kinds.insert(k.clone());
        if let Some(w) = w {
            windows.insert(*w);
        }
    }
    for (k, w) in ev.active.keys() {
        if let Some(k) = k {
            kinds.insert(k.clone());
        }
        windows.insert(*w);
    }
    for k in ev.first.keys() {
        kinds.insert(k.clone());
    }
    for f in ev.first.values() {
        if f.lo > 0 && f.lo < i64::MAX && f.lo <= super::lexer::MAX_WINDOW_DAYS as i64 {
            windows.insert(f.lo as u32);
        }
        if f.hi < i64::MAX && f.hi + 1 <= super::lexer::MAX_WINDOW_DAYS as i64 {
            windows.insert(f.hi as u32 + 1);
        }
    }
    let any_active = ev.active.keys().any(|(k, _)| k.is_none());
    for k in &kinds {
        for w in windows.iter().map(|w| Some(*w)).chain([None]) {
            ev.counts.entry((k.clone(), w)).or_insert_with(|| IntCons::new(0, i64::MAX));
        }
        for w in &windows {
            ev.active.entry((Some(k.clone()), *w)).or_insert_with(|| IntCons::new(0, *w as i64));
        }
    }
    if any_active || !kinds.is_empty() {
        for w in &windows {
            ev.active.entry((None, *w)).or_insert_with(|| IntCons::new(0, *w as i64));
        }
    }

    // Relations: a <= b + c, and "a >= 1 implies b >= 1".
    enum Q {
        C(String, Option<u32>),
        A(Option<String>, u32),
    }
    let mut le: Vec<(Q, Q, i64)> = Vec::new();
    let mut pos: Vec<(Q, Q)> = Vec::new();
    let ws: Vec<u32> = windows.iter().copied().collect();
    for k in &kinds {
        let mut cw: Vec<Option<u32>> = ws.iter().map(|w| Some(*w)).collect();
        cw.push(None);
        for p in cw.windows(2) {
            le.push((Q::C(k.clone(), p[0]), Q::C(k.clone(), p[1]), 0));
        }
        for w in &ws {
            le.push((Q::A(Some(k.clone()), *w), Q::C(k.clone(), Some(*w)), 0));
            le.push((Q::A(Some(k.clone()), *w), Q::A(None, *w), 0));
            pos.push((Q::C(k.clone(), Some(*w)), Q::A(Some(k.clone()), *w)));
        }
    }
    let mut akinds: Vec<Option<String>> = kinds.iter().cloned().map(Some).collect();
    akinds.push(None);
    for k in &akinds {
        for p in ws.windows(2) {
            le.push((Q::A(k.clone(), p[0]), Q::A(k.clone(), p[1]), 0));
            le.push((Q::A(k.clone(), p[1]), Q::A(k.clone(), p[0]), (p[1] - p[0]) as i64));
        }
    }

    fn get<'e>(ev: &'e mut EventState, q: &Q) -> &'e mut IntCons {
        match q {
            Q::C(k, w) => ev.counts.get_mut(&(k.clone(), *w)).expect("count quantity"),
            Q::A(k, w) => ev.active.get_mut(&(k.clone(), *w)).expect("active quantity"),
        }
    }

    for _ in 0..64 {
        let mut changed = false;
        for (a, b, c) in &le {
            let (Some(mn_a), Some(mx_a)) = (get(&mut ev, a).min(), get(&mut ev, a).max()) else { return false };
            let _ = mx_a;
            let Some(mx_b) = get(&mut ev, b).max() else { return false };
            changed |= get(&mut ev, a).lower(mx_b.saturating_add(*c));
            changed |= get(&mut ev, b).raise(mn_a.saturating_sub(*c));
        }
        for (a, b) in &pos {
            let Some(mn_a) = get(&mut ev, a).min() else { return false };
            let Some(mx_b) = get(&mut ev, b).max() else { return false };
            if mn_a >= 1 {
                changed |= get(&mut ev, b).raise(1);
            }
            if mx_b == 0 {
                changed |= get(&mut ev, a).lower(0);
            }
        }
        let kinds_first: Vec<String> = ev.first.keys().cloned().collect();
        for k in kinds_first {
            let mut f = ev.first[&k].clone();
            let windows_k: Vec<Option<u32>> =
                ev.counts.keys().filter(|(kk, _)| *kk == k).map(|(_, w)| *w).collect();
            for w in &windows_k {
                let c = &ev.counts[&(k.clone(), *w)];
                let (Some(mn), Some(mx)) = (c.min(), c.max()) else { return false };
                if mn >= 1 {
                    f.never_ok = false;
                }
                if mx == 0 {
                    match w {
                        Some(w) => f.lo = f.lo.max(*w as i64),
                        None => f.hi = -1,
                    }
                }
            }
            let interval = f.lo <= f.hi;
            if !f.never_ok && !interval {
                return false;
            }
            if !interval {
                for w in &windows_k {
                    changed |= ev.counts.get_mut(&(k.clone(), *w)).unwrap().lower(0);
                }
            }
            if !f.never_ok {
                let (Some(mn_e), Some(mx_e)) = (ev.counts[&(k.clone(), None)].min(), ev.counts[&(k.clone(), None)].max())
                else {
                    return false;
                };
                let mut mn_all = mn_e;
                let mut mx_all = mx_e;
                for w in windows_k.iter().flatten() {
                    if (*w as i64) > f.hi {
                        let c = ev.counts.get_mut(&(k.clone(), Some(*w))).unwrap();
                        changed |= c.raise(1);
                        // The first event is inside the window: it holds all of them.
                        let (Some(mn), Some(mx)) = (c.min(), c.max()) else { return false };
                        mn_all = mn_all.max(mn);
                        mx_all = mx_all.min(mx);
                    }
                }
                changed |= ev.counts.get_mut(&(k.clone(), None)).unwrap().raise(mn_all.max(1));
                changed |= ev.counts.get_mut(&(k.clone(), None)).unwrap().lower(mx_all);
                for w in windows_k.iter().flatten() {
                    if (*w as i64) > f.hi {
                        let c = ev.counts.get_mut(&(k.clone(), Some(*w))).unwrap();
                        changed |= c.raise(mn_all);
                        changed |= c.lower(mx_all);
                    }
                }
            }
            let old = &ev.first[&k];
            if old.never_ok != f.never_ok || old.lo != f.lo || old.hi != f.hi {
                changed = true;
            }
            ev.first.insert(k, f);
        }
        if ev.counts.values().chain(ev.active.values()).any(|c| c.min().is_none()) {
            return false;
        }
        if !changed {
            return true;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_cons_min_max_with_exclusions() {
        let mut c = IntCons::new(0, 10);
        c.exclude(&IntSet::Range(0, 3));
        c.exclude(&IntSet::Range(4, 4));
        c.exclude(&IntSet::Range(9, 10));
        assert_eq!((c.min(), c.max()), (Some(5), Some(8)));
        c.exclude(&IntSet::Range(5, 8));
        assert_eq!((c.min(), c.max()), (None, None));
        let mut s = IntCons::new(0, 10);
        s.add(&IntSet::In(vec![2, 4, 12]));
        s.exclude(&IntSet::Range(2, 2));
        assert_eq!((s.min(), s.max()), (Some(4), Some(4)));
    }

    #[test]
    fn float_cons() {
        let mut c = FloatCons::new();
        c.add(&FloatSet::Range { lo: 0.5, lo_incl: false, hi: f64::INFINITY, hi_incl: true });
        c.add(&FloatSet::Range { lo: f64::NEG_INFINITY, lo_incl: true, hi: 0.5, hi_incl: true });
        assert!(!c.feasible());
        let mut d = FloatCons::new();
        d.add(&FloatSet::Range { lo: 0.0, lo_incl: true, hi: 1.0, hi_incl: true });
        d.exclude(&FloatSet::Range { lo: -1.0, lo_incl: true, hi: 2.0, hi_incl: false });
        assert!(!d.feasible());
    }
}
