//! Binding: a parsed rule becomes typed tests over named columns and event features, in
//! negation normal form, with literals converted exactly into each column's own units.
//!
//! Three-valued logic (as in SQL): a comparison on a missing value is *unknown*; `not unknown`
//! is unknown; `and` / `or` follow Kleene's tables; an account matches only when the rule is
//! *true*. So `not (employees > 100)` does not match accounts with unknown employees; write
//! `employees <= 100 or employees is null` to include them. Under this logic De Morgan's laws
//! hold and `not (x < 5)` is exactly `x >= 5`, so negations are pushed down to the tests.

use super::ast::*;
use super::error::{RuleError, Span};
use super::lexer::{CmpOp, Decimal};
use super::parser::parse;
use super::table::{MetricDef, Schema, Unit};

/// A set of whole numbers (in the column's native units: minor units, days, counts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntSet {
    /// Inclusive; empty when `lo > hi`.
    Range(i64, i64),
    In(Vec<i64>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum FloatSet {
    Range { lo: f64, lo_incl: bool, hi: f64, hi_incl: bool },
    In(Vec<f64>),
}

/// One test on one account. A test on a missing value is unknown; event tests are never
/// unknown (no event is a count of 0).
#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    /// Int, Money, Bool (0/1) and absolute Day columns.
    Int { col: String, set: IntSet },
    Float { col: String, set: FloatSet },
    Text { col: String, values: Vec<String> },
    IsNull { col: String },
    /// `day - D` in `lo..=hi` (windows on date columns).
    DayRel { col: String, lo: i64, hi: i64 },
    /// Events of `kind` in the window (`None`: all history up to D), count in `lo..=hi`.
    Count { kind: String, window: Option<u32>, lo: i64, hi: i64 },
    /// Distinct days with an event (of `kind`, or of any kind) in the window, in `lo..=hi`.
    Active { kind: Option<String>, window: u32, lo: i64, hi: i64 },
    /// The first event of `kind` up to D falls in the window.
    First { kind: String, window: u32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Leaf {
    pub test: Test,
    pub span: Span,
    /// The condition as written.
    pub text: String,
    /// The written condition is the negation of `test` (`!=`, `not in`, `is not null`, ...).
    pub written_negated: bool,
}

impl Leaf {
    /// The text of the literal `(self, negated)` as the user would read it.
    pub fn literal_text(&self, negated: bool) -> String {
        if negated == self.written_negated {
            self.text.clone()
        } else {
            format!("not {}", self.text)
        }
    }
}

/// A rule in negation normal form: `Lit(leaf, negated)` at the leaves.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Lit(usize, bool),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CompiledRule {
    pub source: String,
    pub leaves: Vec<Leaf>,
    pub root: Node,
    /// Non-fatal remarks (an event kind or a text value that never occurs, a part of the rule
    /// that can never match).
    pub warnings: Vec<RuleError>,
}

/// Parses, binds and checks one rule against a schema.
pub fn compile(src: &str, schema: &Schema) -> Result<CompiledRule, RuleError> {
    let ast = parse(src)?;
    let mut b = Binder { src, schema, leaves: Vec::new(), warnings: Vec::new() };
    let root = b.bind(&ast, false)?;
    let mut rule = CompiledRule { source: src.to_string(), leaves: b.leaves, root, warnings: b.warnings };
    super::analysis::check(&mut rule)?;
    Ok(rule)
}

struct Binder<'s, 'a> {
    src: &'s str,
    schema: &'s Schema<'a>,
    leaves: Vec<Leaf>,
    warnings: Vec<RuleError>,
}

const MIN1: i64 = i64::MIN + 1;

fn text_of(src: &str, span: Span) -> String {
    src.chars().skip(span.start).take(span.end.saturating_sub(span.start)).collect()
}

/// Edit distance (for "did you mean").
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate: equal ignoring case, else within a small edit distance.
pub fn suggest<'c>(word: &str, candidates: impl Iterator<Item = &'c str> + Clone) -> Option<&'c str> {
    if let Some(c) = candidates.clone().find(|c| c.eq_ignore_ascii_case(word)) {
        return Some(c);
    }
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .map(|c| (levenshtein(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn floor_div(a: i128, b: i128) -> i128 {
    a.div_euclid(b)
}

fn ceil_div(a: i128, b: i128) -> i128 {
    -(-a).div_euclid(b)
}

/// An inclusive range of i128 bounds clamped to the non-null i64 values.
fn clamp_range(lo: i128, hi: i128) -> IntSet {
    if lo > hi || hi < MIN1 as i128 || lo > i64::MAX as i128 {
        return IntSet::Range(1, 0);
    }
    IntSet::Range(lo.max(MIN1 as i128) as i64, hi.min(i64::MAX as i128) as i64)
}

/// `v op num/den` over whole numbers v, as a set (`op` is never `Ne` here).
fn int_cmp(op: CmpOp, num: i128, den: i128) -> IntSet {
    const LO: i128 = i64::MIN as i128;
    const HI: i128 = i64::MAX as i128;
    match op {
        CmpOp::Lt => clamp_range(LO, ceil_div(num, den) - 1),
        CmpOp::Le => clamp_range(LO, floor_div(num, den)),
        CmpOp::Gt => clamp_range(floor_div(num, den) + 1, HI),
        CmpOp::Ge => clamp_range(ceil_div(num, den), HI),
        CmpOp::Eq | CmpOp::Ne => {
            if num % den == 0 {
                clamp_range(num / den, num / den)
            } else {
                IntSet::Range(1, 0)
            }
        }
    }
}

fn float_cmp(op: CmpOp, q: f64) -> FloatSet {
    let inf = f64::INFINITY;
    match op {
        CmpOp::Lt => FloatSet::Range { lo: -inf, lo_incl: true, hi: q, hi_incl: false },
        CmpOp::Le => FloatSet::Range { lo: -inf, lo_incl: true, hi: q, hi_incl: true },
        CmpOp::Gt => FloatSet::Range { lo: q, lo_incl: false, hi: inf, hi_incl: true },
        CmpOp::Ge => FloatSet::Range { lo: q, lo_incl: true, hi: inf, hi_incl: true },
        CmpOp::Eq | CmpOp::Ne => FloatSet::In(vec![q]),
    }
}

/// A literal read in a column's units.
enum Value {
    /// `num / den` in native whole units (minor units, days, 0/1).
    Ratio(i128, i128),
    Float(f64),
    Text(String),
}

impl<'s, 'a> Binder<'s, 'a> {
    fn err(&self, span: Span, msg: impl Into<String>) -> RuleError {
        RuleError::at(self.src, span, msg)
    }

    fn warn(&mut self, span: Span, msg: impl Into<String>) {
        let w = RuleError::at(self.src, span, msg);
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    fn metric(&self, name: &Name) -> Result<MetricDef<'a>, RuleError> {
        if let Some(m) = self.schema.metrics.iter().find(|m| m.name == name.name) {
            return Ok(*m);
        }
        let names = self.schema.metrics.iter().map(|m| m.name);
        let msg = match suggest(&name.name, names.clone()) {
            Some(s) => format!("unknown metric `{}` (did you mean `{s}`?)", name.name),
            None => {
                let mut all: Vec<&str> = names.collect();
                all.sort_unstable();
                let shown = all.iter().take(40).copied().collect::<Vec<_>>().join(", ");
                let more = if all.len() > 40 { ", ..." } else { "" };
                format!("unknown metric `{}`: the metrics are {shown}{more}", name.name)
            }
        };
        Err(self.err(name.span, msg))
    }

    fn value(&self, m: &MetricDef, lit: &Lit) -> Result<Value, RuleError> {
        let name = m.name;
        let shown = text_of(self.src, lit.span);
        let mismatch = |what: &str| {
            self.err(lit.span, format!("{name} is {}, but {shown} is {what}", m.unit.describe()))
        };
        match (m.unit, &lit.value) {
            (Unit::Int, LitValue::Num { value, percent: false }) => Ok(Value::Ratio(value.mantissa, pow10(value.scale))),
            (Unit::Money { scale }, LitValue::Num { value, percent: false }) => {
                let num = value.mantissa.checked_mul(pow10(scale)).ok_or_else(|| self.err(lit.span, "number too large"))?;
                Ok(Value::Ratio(num, pow10(value.scale)))
            }
            (Unit::Int | Unit::Money { .. }, LitValue::Num { percent: true, .. }) => {
                Err(mismatch("a percentage (percentages apply to ratios such as margin_pct)"))
            }
            (Unit::Float, LitValue::Num { value, .. }) => Ok(Value::Float(value.to_f64())),
            // Written in percent either way; `20%` was read as 0.20 by the lexer.
            (Unit::Percent, LitValue::Num { value, percent }) => {
                let points = if *percent { Decimal { mantissa: value.mantissa, scale: value.scale - 2 } } else { *value };
                Ok(Value::Float(points.to_f64()))
            }
            (Unit::Ratio, LitValue::Num { value, percent }) => {
                let fraction = if *percent { *value } else { Decimal { mantissa: value.mantissa, scale: value.scale + 2 } };
                Ok(Value::Float(fraction.to_f64()))
            }
            (Unit::Day, LitValue::Date(d)) => Ok(Value::Ratio(*d as i128, 1)),
            (Unit::Day, LitValue::Text(s)) => match super::lexer::parse_iso_date(s) {
                Some(d) => Ok(Value::Ratio(d as i128, 1)),
                None => Err(self.err(lit.span, format!("{name} is a date: write it as YYYY-MM-DD, e.g. 2025-01-31"))),
            },
            (Unit::Day, LitValue::Num { .. }) => {
                Err(self.err(lit.span, format!("{name} is a date: write it as YYYY-MM-DD, e.g. 2025-01-31, or use a window such as `{name} in 30d`")))
            }
            (Unit::Text, LitValue::Text(s)) => Ok(Value::Text(s.clone())),
            (Unit::Text, LitValue::Num { .. } | LitValue::Date(_)) => {
                Err(self.err(lit.span, format!("{name} is text: put the value in quotes, \"{shown}\"")))
            }
            (Unit::Bool, LitValue::Bool(b)) => Ok(Value::Ratio(*b as i128, 1)),
            (Unit::Bool, _) => Err(self.err(lit.span, format!("{name} is true/false: compare it with `true` or `false`"))),
            (_, LitValue::Text(_)) => Err(mismatch("text (remove the quotes to compare with a number)")),
            (_, LitValue::Date(_)) => Err(mismatch("a date")),
            (_, LitValue::Bool(_)) => Err(mismatch("true/false")),
        }
    }

    fn check_text_values(&mut self, m: &MetricDef, lits: &[&Lit]) {
        let Some(labels) = m.labels else { return };
        for lit in lits {
            if let LitValue::Text(s) = &lit.value {
                if labels.iter().any(|l| l == s) {
                    continue;
                }
                let msg = match suggest(s, labels.iter().map(|l| l.as_str())) {
                    Some(close) => format!("\"{s}\" never occurs in {} (did you mean \"{close}\"?)", m.name),
                    None => format!("\"{s}\" never occurs in {}", m.name),
                };
                self.warn(lit.span, msg);
            }
        }
    }

    fn check_kind(&mut self, lit: &Lit) -> String {
        let LitValue::Text(kind) = &lit.value else { unreachable!("the parser gives text") };
        if let Some(kinds) = self.schema.event_kinds {
            if !kinds.iter().any(|k| k == kind) {
                let msg = match suggest(kind, kinds.iter().map(|k| k.as_str())) {
                    Some(close) => format!("no event \"{kind}\" in the data (did you mean \"{close}\"?): it counts as never done"),
                    None => format!("no event \"{kind}\" in the data: it counts as never done"),
                };
                self.warn(lit.span, msg);
            }
        }
        kind.clone()
    }

    fn leaf(&mut self, test: Test, cond: &Cond, written_negated: bool, negated: bool) -> Node {
        self.leaves.push(Leaf { test, span: cond.span, text: text_of(self.src, cond.span), written_negated });
        Node::Lit(self.leaves.len() - 1, negated ^ written_negated)
    }

    fn bind(&mut self, e: &Expr, neg: bool) -> Result<Node, RuleError> {
        Ok(match e {
            Expr::And(items) | Expr::Or(items) => {
                let nodes = items.iter().map(|i| self.bind(i, neg)).collect::<Result<Vec<_>, _>>()?;
                // De Morgan under a negation.
                if matches!(e, Expr::And(_)) != neg {
                    Node::And(nodes)
                } else {
                    Node::Or(nodes)
                }
            }
            Expr::Not(inner, _) => self.bind(inner, !neg)?,
            Expr::Cond(c) => self.cond(c, neg)?,
        })
    }

    fn set_for(&self, m: &MetricDef, op: CmpOp, lit: &Lit) -> Result<Test, RuleError> {
        let col = m.name.to_string();
        match self.value(m, lit)? {
            Value::Ratio(num, den) => {
                if m.unit == Unit::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.err(lit.span, format!("{} is true/false: compare it with = or !=", m.name)));
                }
                Ok(Test::Int { col, set: int_cmp(op, num, den) })
            }
            Value::Float(q) => Ok(Test::Float { col, set: float_cmp(op, q) }),
            Value::Text(s) => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.err(
                        lit.span,
                        format!("{} is text: compare it with =, != or `in (...)`, not {}", m.name, op.symbol()),
                    ));
                }
                Ok(Test::Text { col, values: vec![s] })
            }
        }
    }

    fn cond(&mut self, c: &Cond, neg: bool) -> Result<Node, RuleError> {
        match &c.kind {
            CondKind::Compare { metric, op, value } => {
                let m = self.metric(metric)?;
                let test = self.set_for(&m, *op, value)?;
                if m.unit == Unit::Text {
                    self.check_text_values(&m, &[value]);
                }
                Ok(self.leaf(test, c, *op == CmpOp::Ne, neg))
            }
            CondKind::In { metric, negated, values } => {
                let m = self.metric(metric)?;
                let col = m.name.to_string();
                let test = match m.unit {
                    Unit::Text => {
                        let mut vs = Vec::new();
                        for v in values {
                            match self.value(&m, v)? {
                                Value::Text(s) => vs.push(s),
                                _ => unreachable!(),
                            }
                        }
                        self.check_text_values(&m, &values.iter().collect::<Vec<_>>());
                        Test::Text { col, values: vs }
                    }
                    Unit::Float | Unit::Percent | Unit::Ratio => {
                        let mut vs = Vec::new();
                        for v in values {
                            if let Value::Float(f) = self.value(&m, v)? {
                                vs.push(f)
                            }
                        }
                        Test::Float { col, set: FloatSet::In(vs) }
                    }
                    _ => {
                        let mut vs = Vec::new();
                        for v in values {
                            if let Value::Ratio(num, den) = self.value(&m, v)? {
                                if num % den == 0 && (MIN1 as i128..=i64::MAX as i128).contains(&(num / den)) {
                                    vs.push((num / den) as i64);
                                }
                            }
                        }
                        vs.sort_unstable();
                        vs.dedup();
                        Test::Int { col, set: IntSet::In(vs) }
                    }
                };
                Ok(self.leaf(test, c, *negated, neg))
            }
            CondKind::Between { metric, negated, low, high } => {
                let m = self.metric(metric)?;
                if m.unit == Unit::Text || m.unit == Unit::Bool {
                    return Err(self.err(metric.span, format!("{} is {}: `between` needs numbers or dates", m.name, m.unit.describe())));
                }
                let lo = self.set_for(&m, CmpOp::Ge, low)?;
                let hi = self.set_for(&m, CmpOp::Le, high)?;
                let col = m.name.to_string();
                let test = match (lo, hi) {
                    (Test::Int { set: IntSet::Range(a, _), .. }, Test::Int { set: IntSet::Range(_, b), .. }) => {
                        Test::Int { col, set: IntSet::Range(a, b) }
                    }
                    (
                        Test::Float { set: FloatSet::Range { lo, .. }, .. },
                        Test::Float { set: FloatSet::Range { hi, .. }, .. },
                    ) => Test::Float { col, set: FloatSet::Range { lo, lo_incl: true, hi, hi_incl: true } },
                    _ => unreachable!(),
                };
                if lit_order(&low.value, &high.value) == Some(std::cmp::Ordering::Greater) {
                    return Err(self.err(
                        low.span.to(high.span),
                        format!(
                            "`between {} and {}` is empty: the lower bound comes first (`between {} and {}`)",
                            text_of(self.src, low.span),
                            text_of(self.src, high.span),
                            text_of(self.src, high.span),
                            text_of(self.src, low.span)
                        ),
                    ));
                }
                Ok(self.leaf(test, c, *negated, neg))
            }
            CondKind::IsNull { metric, negated } => {
                let m = self.metric(metric)?;
                Ok(self.leaf(Test::IsNull { col: m.name.to_string() }, c, *negated, neg))
            }
            CondKind::DateIn { metric, negated, window } => {
                let m = self.metric(metric)?;
                if m.unit != Unit::Day {
                    return Err(self.err(
                        window.span,
                        format!("a window applies to dates and events; {} is {}", m.name, m.unit.describe()),
                    ));
                }
                let n = window.days.expect("date windows have a length") as i64;
                let (lo, hi) = if window.ahead { (1, n) } else { (1 - n, 0) };
                Ok(self.leaf(Test::DayRel { col: m.name.to_string(), lo, hi }, c, *negated, neg))
            }
            CondKind::Did { kind, count, window } => {
                let kind = self.check_kind(kind);
                let (lo, hi, written_negated) = match count {
                    None => (1, i64::MAX, false),
                    Some(t) => count_range(t),
                };
                Ok(self.leaf(Test::Count { kind, window: window.days, lo, hi }, c, written_negated, neg))
            }
            CondKind::First { kind, window } => {
                let kind = self.check_kind(kind);
                Ok(self.leaf(Test::First { kind, window: window.days.expect("first has a window") }, c, false, neg))
            }
            CondKind::ActiveDays { kind, window, test } => {
                let kind = kind.as_ref().map(|k| self.check_kind(k));
                let (lo, hi, written_negated) = count_range(test);
                let window = window.days.expect("active_days has a window");
                Ok(self.leaf(Test::Active { kind, window, lo, hi }, c, written_negated, neg))
            }
        }
    }
}

fn pow10(k: u32) -> i128 {
    10i128.pow(k.min(36))
}

/// `count op n` as an inclusive range over counts (`!=` as the negation of `=`).
fn count_range(t: &CountTest) -> (i64, i64, bool) {
    let n = t.value as i64;
    match t.op {
        CmpOp::Eq => (n, n, false),
        CmpOp::Ne => (n, n, true),
        CmpOp::Lt => (0, n - 1, false),
        CmpOp::Le => (0, n, false),
        CmpOp::Gt => (n + 1, i64::MAX, false),
        CmpOp::Ge => (n, i64::MAX, false),
    }
}

fn lit_order(a: &LitValue, b: &LitValue) -> Option<std::cmp::Ordering> {
    fn cmp_dec(a: Decimal, b: Decimal) -> std::cmp::Ordering {
        let s = a.scale.max(b.scale);
        (a.mantissa * pow10(s - a.scale)).cmp(&(b.mantissa * pow10(s - b.scale)))
    }
    match (a, b) {
        (LitValue::Num { value: x, .. }, LitValue::Num { value: y, .. }) => Some(cmp_dec(*x, *y)),
        (LitValue::Date(x), LitValue::Date(y)) => Some(x.cmp(y)),
        _ => None,
    }
}
