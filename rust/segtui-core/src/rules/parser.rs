//! Recursive-descent parser of the rule language.
//!
//! ```text
//! rule      := or EOF
//! or        := and ("or" and)*
//! and       := unary ("and" unary)*
//! unary     := "not" unary | primary
//! primary   := "(" or ")" | event | metric_cond
//! event     := "did" TEXT [CMP INT ("times"|"time")] [("in" window) | "ever"]
//!            | "first" TEXT "in" window
//!            | "active_days" [TEXT] "in" window CMP INT
//! metric_cond := NAME CMP literal
//!            | NAME ["not"] "in" "(" literal ("," literal)* ")"
//!            | NAME ["not"] "in" ["next"] window          (date metrics)
//!            | NAME ["not"] "between" literal "and" literal
//!            | NAME "is" ["not"] "null"
//! window    := INT ("d"|"w"|"days"|"weeks")                e.g. 30d, 4w, 30 days
//! literal   := NUMBER ["%"] | TEXT | DATE | "true" | "false"
//! ```
//! Keywords are case-insensitive; metric names are case-sensitive.

use super::ast::*;
use super::error::{RuleError, Span};
use super::lexer::{lex, window_days, window_unit, Tok, Token};

const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "between", "is", "null", "did", "first", "active_days", "times", "time", "next",
    "ever", "true", "false",
];

pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
}

/// Parses one rule.
pub fn parse(src: &str) -> Result<Expr, RuleError> {
    let tokens = lex(src)?;
    let mut p = Parser { src, tokens, pos: 0 };
    if p.peek().tok == Tok::Eof {
        return Err(p.error_here("the rule is empty: write a condition such as `margin < 0` or `did \"login\" in 30d`"));
    }
    let e = p.or()?;
    match &p.peek().tok {
        Tok::Eof => Ok(e),
        Tok::RParen => Err(p.error_here("unexpected `)`: there is no `(` for it to close")),
        _ => Err(p.error_here(&format!(
            "expected `and`, `or` or the end of the rule after a condition, found {}",
            p.describe_here()
        ))),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos]
    }

    fn peek_at(&self, k: usize) -> &Token {
        &self.tokens[(self.pos + k).min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.pos].clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn prev_span(&self) -> Span {
        if self.pos == 0 {
            Span::new(0, 0)
        } else {
            self.tokens[self.pos - 1].span
        }
    }

    fn error_at(&self, span: Span, msg: &str) -> RuleError {
        RuleError::at(self.src, span, msg)
    }

    fn error_here(&self, msg: &str) -> RuleError {
        self.error_at(self.peek().span, msg)
    }

    /// The source text of a span.
    fn text(&self, span: Span) -> String {
        self.src.chars().skip(span.start).take(span.end.saturating_sub(span.start)).collect()
    }

    fn describe_here(&self) -> String {
        let t = self.peek();
        match &t.tok {
            Tok::Eof => "the end of the rule".into(),
            Tok::Str(_) => format!("the text {}", self.text(t.span)),
            Tok::Num { .. } => format!("the number {}", self.text(t.span)),
            Tok::Window(_) => format!("the window {}", self.text(t.span)),
            Tok::Date(_) => format!("the date {}", self.text(t.span)),
            _ => format!("`{}`", self.text(t.span)),
        }
    }

    fn expected(&self, what: &str, after: Span) -> RuleError {
        let after = self.text(after);
        self.error_here(&format!("expected {what} after `{after}`, found {}", self.describe_here()))
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.and()?];
        while self.is_kw("or") {
            let kw = self.next().span;
            if !self.starts_condition() {
                return Err(self.expected("a condition", kw));
            }
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap() } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut items = vec![self.unary()?];
        while self.is_kw("and") {
            let kw = self.next().span;
            if !self.starts_condition() {
                return Err(self.expected("a condition", kw));
            }
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.pop().unwrap() } else { Expr::And(items) })
    }

    fn starts_condition(&self) -> bool {
        match &self.peek().tok {
            Tok::LParen => true,
            Tok::Ident(s) => !["and", "or", "in", "between", "is", "null", "times", "time", "next", "ever", "true", "false"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(s)),
            _ => false,
        }
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        if self.is_kw("not") {
            let kw = self.next().span;
            if !self.starts_condition() {
                return Err(self.expected("a condition", kw));
            }
            let inner = self.unary()?;
            return Ok(Expr::Not(Box::new(inner), kw));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, RuleError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::LParen => {
                self.next();
                if !self.starts_condition() {
                    return Err(self.expected("a condition", t.span));
                }
                let e = self.or()?;
                if self.peek().tok != Tok::RParen {
                    let col = RuleError::at(self.src, t.span, "").column;
                    return Err(self.error_here(&format!(
                        "expected `)` to close the `(` at column {col}, found {}",
                        self.describe_here()
                    )));
                }
                self.next();
                Ok(e)
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("did") => self.did().map(Expr::Cond),
            Tok::Ident(s) if s.eq_ignore_ascii_case("first") => self.first().map(Expr::Cond),
            Tok::Ident(s) if s.eq_ignore_ascii_case("active_days") => self.active_days().map(Expr::Cond),
            Tok::Ident(s) if !self.starts_condition() => Err(self.error_here(&format!(
                "expected a condition, found the keyword `{s}`"
            ))),
            Tok::Ident(_) => self.metric_cond().map(Expr::Cond),
            Tok::Str(_) => Err(self.error_here(&format!(
                "expected a metric name or an event condition, found {} (to test an event write `did {} in 30d`)",
                self.describe_here(),
                self.text(t.span)
            ))),
            Tok::Num { .. } | Tok::Date(_) | Tok::Window(_) => Err(self.error_here(&format!(
                "expected a metric name on the left of the comparison, found {} (write e.g. `employees > 50`)",
                self.describe_here()
            ))),
            Tok::RParen => Err(self.error_here("expected a condition, found `)`")),
            _ => Err(self.error_here(&format!("expected a condition, found {}", self.describe_here()))),
        }
    }

    fn text_lit(&mut self, what: &str, after: Span) -> Result<Lit, RuleError> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Str(s) => {
                self.next();
                if s.is_empty() {
                    return Err(self.error_at(t.span, &format!("{what} cannot be empty")));
                }
                Ok(Lit { value: LitValue::Text(s), span: t.span })
            }
            Tok::Ident(ref s) if !is_keyword(s) => Err(self.error_here(&format!(
                "expected {what} in quotes after `{}`, found `{s}`: write \"{s}\"",
                self.text(after)
            ))),
            _ => Err(self.expected(&format!("{what} in quotes"), after)),
        }
    }

    /// `op N times` inside `did`.
    fn count_test(&mut self, require_times: bool) -> Result<CountTest, RuleError> {
        let op_tok = self.next();
        let Tok::Op(op) = op_tok.tok else { unreachable!() };
        let t = self.peek().clone();
        let value = match t.tok {
            Tok::Num { value, percent: false } => match value.as_integer() {
                Some(n) if n >= 0 && n <= u32::MAX as i128 => n as u64,
                _ => {
                    return Err(self.error_here("a count is a whole number, 0 or more"));
                }
            },
            _ => return Err(self.expected("a count (a whole number)", op_tok.span)),
        };
        self.next();
        if require_times {
            if self.is_kw("times") || self.is_kw("time") {
                self.next();
            } else {
                return Err(self.expected("`times`", t.span));
            }
        }
        Ok(CountTest { op, value, span: op_tok.span.to(t.span) })
    }

    fn window(&mut self, after: Span) -> Result<Window, RuleError> {
        let mut ahead = false;
        let start = self.peek().span;
        if self.is_kw("next") {
            self.next();
            ahead = true;
        }
        let t = self.peek().clone();
        match t.tok {
            Tok::Window(days) => {
                self.next();
                Ok(Window { days: Some(days), ahead, span: start.to(t.span) })
            }
            Tok::Num { value, percent: false } => {
                let unit = self.peek_at(1).clone();
                match &unit.tok {
                    Tok::Ident(u) if window_unit(u).is_some() => {
                        self.next();
                        self.next();
                        let span = t.span.to(unit.span);
                        let days = window_days(self.src, span, value, window_unit(u).unwrap())?;
                        Ok(Window { days: Some(days), ahead, span: start.to(span) })
                    }
                    _ => Err(self.error_at(
                        t.span,
                        &format!("expected a window such as `30d` or `30 days`, found {}: add the unit", self.describe_here()),
                    )),
                }
            }
            _ => {
                let after = if ahead { self.prev_span() } else { after };
                Err(self.expected("a window such as `30d`", after))
            }
        }
    }

    fn did(&mut self) -> Result<Cond, RuleError> {
        let kw = self.next().span;
        let kind = self.text_lit("an event name", kw)?;
        let count = if matches!(self.peek().tok, Tok::Op(_)) { Some(self.count_test(true)?) } else { None };
        let window = if self.is_kw("in") {
            let in_span = self.next().span;
            if self.is_kw("next") {
                return Err(self.error_here("events are only counted up to the as-of day: `in next ...` applies to dates such as renewal_day"));
            }
            self.window(in_span)?
        } else if self.is_kw("ever") {
            let s = self.next().span;
            Window { days: None, ahead: false, span: s }
        } else {
            if let Tok::Num { .. } = self.peek().tok {
                return Err(self.error_here(&format!(
                    "expected a comparison before the count, e.g. `did {} >= {} times`",
                    self.text(kind.span),
                    self.text(self.peek().span)
                )));
            }
            Window { days: None, ahead: false, span: self.prev_span() }
        };
        if let Tok::Op(_) = self.peek().tok {
            return Err(self.error_here(&format!(
                "write the count before the window: `did {} >= 3 times in 30d`",
                self.text(kind.span)
            )));
        }
        Ok(Cond { span: kw.to(self.prev_span()), kind: CondKind::Did { kind, count, window } })
    }

    fn first(&mut self) -> Result<Cond, RuleError> {
        let kw = self.next().span;
        let kind = self.text_lit("an event name", kw)?;
        if !self.is_kw("in") {
            return Err(self.expected("`in` and a window (e.g. `in 7d`)", kind.span));
        }
        let in_span = self.next().span;
        if self.is_kw("next") {
            return Err(self.error_here("events are only counted up to the as-of day: `in next ...` applies to dates such as renewal_day"));
        }
        let window = self.window(in_span)?;
        Ok(Cond { span: kw.to(self.prev_span()), kind: CondKind::First { kind, window } })
    }

    fn active_days(&mut self) -> Result<Cond, RuleError> {
        let kw = self.next().span;
        let kind = if let Tok::Str(_) = self.peek().tok { Some(self.text_lit("an event name", kw)?) } else { None };
        if !self.is_kw("in") {
            return Err(self.expected("`in` and a window (e.g. `in 30d`)", kind.as_ref().map_or(kw, |k| k.span)));
        }
        let in_span = self.next().span;
        if self.is_kw("next") {
            return Err(self.error_here("events are only counted up to the as-of day: `in next ...` applies to dates such as renewal_day"));
        }
        let window = self.window(in_span)?;
        if !matches!(self.peek().tok, Tok::Op(_)) {
            return Err(self.expected("a comparison such as `>= 20`", window.span));
        }
        let test = self.count_test(false)?;
        if self.is_kw("days") || self.is_kw("day") {
            self.next();
        }
        Ok(Cond { span: kw.to(self.prev_span()), kind: CondKind::ActiveDays { kind, window, test } })
    }

    fn literal(&mut self, after: Span) -> Result<Lit, RuleError> {
        let t = self.peek().clone();
        let value = match t.tok {
            Tok::Num { value, percent } => LitValue::Num { value, percent },
            Tok::Str(s) => LitValue::Text(s),
            Tok::Date(d) => LitValue::Date(d),
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("true") => LitValue::Bool(true),
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("false") => LitValue::Bool(false),
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("null") => {
                return Err(self.error_here(
                    "nothing is equal to null: test a missing value with `is null` or `is not null`",
                ))
            }
            Tok::Ident(ref s) if !is_keyword(s) => {
                return Err(self.error_here(&format!(
                    "expected a number or quoted text after `{}`, found `{s}` (metrics compare with values, not with other metrics; quote text: \"{s}\")",
                    self.text(after)
                )))
            }
            Tok::Window(_) => {
                return Err(self.error_here(&format!(
                    "expected a number or quoted text after `{}`, found the window {}",
                    self.text(after),
                    self.text(t.span)
                )))
            }
            _ => return Err(self.expected("a number or quoted text", after)),
        };
        self.next();
        Ok(Lit { value, span: t.span })
    }

    fn metric_cond(&mut self) -> Result<Cond, RuleError> {
        let t = self.next();
        let Tok::Ident(name) = t.tok else { unreachable!() };
        let metric = Name { name, span: t.span };
        let start = metric.span;
        let kind = match self.peek().tok.clone() {
            Tok::Op(op) => {
                let op_span = self.next().span;
                let value = self.literal(op_span)?;
                CondKind::Compare { metric, op, value }
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("is") => {
                let is_span = self.next().span;
                let negated = if self.is_kw("not") {
                    self.next();
                    true
                } else {
                    false
                };
                if !self.is_kw("null") {
                    let after = if negated { self.prev_span() } else { is_span };
                    return Err(self.expected("`null`", after));
                }
                self.next();
                CondKind::IsNull { metric, negated }
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("not") => {
                let not_span = self.next().span;
                if self.is_kw("in") {
                    self.in_tail(metric, true)?
                } else if self.is_kw("between") {
                    self.between_tail(metric, true)?
                } else {
                    return Err(self.expected("`in` or `between`", not_span));
                }
            }
            Tok::Ident(s) if s.eq_ignore_ascii_case("in") => self.in_tail(metric, false)?,
            Tok::Ident(s) if s.eq_ignore_ascii_case("between") => self.between_tail(metric, false)?,
            _ => {
                return Err(self.error_here(&format!(
                    "expected a comparison (=, !=, <, <=, >, >=), `in`, `between` or `is null` after `{}`, found {}",
                    metric.name,
                    self.describe_here()
                )))
            }
        };
        Ok(Cond { kind, span: start.to(self.prev_span()) })
    }

    fn in_tail(&mut self, metric: Name, negated: bool) -> Result<CondKind, RuleError> {
        let in_span = self.next().span;
        if self.peek().tok == Tok::LParen {
            let open = self.next().span;
            let mut values = Vec::new();
            if self.peek().tok == Tok::RParen {
                return Err(self.error_here("the list is empty: put at least one value between the parentheses"));
            }
            loop {
                let after = self.prev_span();
                values.push(self.literal(after)?);
                match self.peek().tok {
                    Tok::Comma => {
                        self.next();
                    }
                    Tok::RParen => {
                        self.next();
                        break;
                    }
                    _ => {
                        let col = RuleError::at(self.src, open, "").column;
                        return Err(self.error_here(&format!(
                            "expected `,` or `)` to close the list opened at column {col}, found {}",
                            self.describe_here()
                        )));
                    }
                }
            }
            return Ok(CondKind::In { metric, negated, values });
        }
        match self.peek().tok {
            Tok::Window(_) | Tok::Num { .. } => {}
            Tok::Ident(ref s) if s.eq_ignore_ascii_case("next") => {}
            _ => return Err(self.expected("a list of values such as `(\"a\", \"b\")` or a window such as `30d`", in_span)),
        }
        let window = self.window(in_span)?;
        Ok(CondKind::DateIn { metric, negated, window })
    }

    fn between_tail(&mut self, metric: Name, negated: bool) -> Result<CondKind, RuleError> {
        let kw = self.next().span;
        let low = self.literal(kw)?;
        if !self.is_kw("and") {
            return Err(self.expected("`and` and the upper bound", low.span));
        }
        let and_span = self.next().span;
        let high = self.literal(and_span)?;
        Ok(CondKind::Between { metric, negated, low, high })
    }
}
