//! Errors of the rule language: a message that says what was expected, and where.

use std::fmt;

/// A span of a rule's text, in characters (not bytes), `start..end`, 0-based.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// A mistake in a rule (syntax, an unknown metric, a type mismatch, a rule that can never
/// match). `line` and `column` are 1-based and count characters; `len` is the number of
/// characters the mistake covers (at least 1), so a caller can underline it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub len: usize,
    /// True when the rule text has more than one line (then `Display` names the line too).
    pub multiline: bool,
}

impl RuleError {
    /// An error at `span` of `src`.
    pub fn at(src: &str, span: Span, message: impl Into<String>) -> Self {
        let mut line = 1;
        let mut column = 1;
        for (i, c) in src.chars().enumerate() {
            if i >= span.start {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        RuleError {
            message: message.into(),
            line,
            column,
            len: span.end.saturating_sub(span.start).max(1),
            multiline: src.contains('\n'),
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.multiline {
            write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
        } else {
            write!(f, "column {}: {}", self.column, self.message)
        }
    }
}

impl std::error::Error for RuleError {}
