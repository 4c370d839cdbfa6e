//! The syntax tree of a rule, as written (names not yet resolved).

use super::error::Span;
use super::lexer::{CmpOp, Decimal};

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `not X`; the span covers the `not` keyword.
    Not(Box<Expr>, Span),
    Cond(Cond),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum LitValue {
    Num { value: Decimal, percent: bool },
    Text(String),
    Date(i32),
    Bool(bool),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lit {
    pub value: LitValue,
    pub span: Span,
}

/// A time window relative to the as-of day D.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// `None`: all history up to and including D (`ever`, or no window written).
    pub days: Option<u32>,
    /// `in next Nd`: the N days after D (D+1 ..= D+N). Otherwise the N days ending on D.
    pub ahead: bool,
    pub span: Span,
}

/// A count test written in an event condition: `>= 3 times`, `= 0`, `< 20`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CountTest {
    pub op: CmpOp,
    pub value: u64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CondKind {
    /// `metric op literal`
    Compare { metric: Name, op: CmpOp, value: Lit },
    /// `metric [not] in (a, b, ...)`
    In { metric: Name, negated: bool, values: Vec<Lit> },
    /// `metric [not] between low and high` (inclusive)
    Between { metric: Name, negated: bool, low: Lit, high: Lit },
    /// `metric is [not] null`
    IsNull { metric: Name, negated: bool },
    /// `date_metric [not] in [next] Nd`
    DateIn { metric: Name, negated: bool, window: Window },
    /// `did "kind" [op N times] [in Nd | ever]`; no count test means `>= 1`.
    Did { kind: Lit, count: Option<CountTest>, window: Window },
    /// `first "kind" in Nd`: the account's first-ever event of that kind falls in the window.
    First { kind: Lit, window: Window },
    /// `active_days ["kind"] in Nd op N`: distinct days with an event (of that kind).
    ActiveDays { kind: Option<Lit>, window: Window, test: CountTest },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    pub kind: CondKind,
    pub span: Span,
}

impl Expr {
    /// The metric names the rule mentions, sorted, without duplicates.
    pub fn metrics(&self) -> Vec<String> {
        fn walk(e: &Expr, out: &mut Vec<String>) {
            match e {
                Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| walk(i, out)),
                Expr::Not(inner, _) => walk(inner, out),
                Expr::Cond(c) => match &c.kind {
                    CondKind::Compare { metric, .. }
                    | CondKind::In { metric, .. }
                    | CondKind::Between { metric, .. }
                    | CondKind::IsNull { metric, .. }
                    | CondKind::DateIn { metric, .. } => out.push(metric.name.clone()),
                    _ => {}
                },
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out.sort();
        out.dedup();
        out
    }
}
