//! The rule language's lexer: characters to tokens, each with its span (in characters).

use super::error::{RuleError, Span};

/// An exact decimal: `mantissa / 10^scale` (so `12.50` is `1250 / 10^2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    pub mantissa: i128,
    pub scale: u32,
}

impl Decimal {
    pub fn int(v: i128) -> Self {
        Decimal { mantissa: v, scale: 0 }
    }

    /// The nearest `f64` (exact for the decimals people write).
    pub fn to_f64(self) -> f64 {
        // Through text, so the conversion is correctly rounded.
        let mut s = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        if scale > 0 {
            if s.len() <= scale {
                s = format!("{}{}", "0".repeat(scale + 1 - s.len()), s);
            }
            s.insert(s.len() - scale, '.');
        }
        let v: f64 = s.parse().unwrap_or(f64::INFINITY);
        if self.mantissa < 0 {
            -v
        } else {
            v
        }
    }

    /// `Some(n)` when the value is a whole number that fits.
    pub fn as_integer(self) -> Option<i128> {
        let p = 10i128.checked_pow(self.scale)?;
        if self.mantissa % p == 0 {
            Some(self.mantissa / p)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator that holds exactly when this one does not (on a known value).
    pub fn negate(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Ne,
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::Lt => CmpOp::Ge,
            CmpOp::Le => CmpOp::Gt,
            CmpOp::Gt => CmpOp::Le,
            CmpOp::Ge => CmpOp::Lt,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name: a metric or a keyword (keywords are matched case-insensitively by the parser).
    Ident(String),
    /// Quoted text (double or single quotes), escapes resolved.
    Str(String),
    /// A number; `percent` when written with a `%` suffix (then the value is already / 100).
    Num { value: Decimal, percent: bool },
    /// A window written in one piece: `30d`, `4w`, `7days`.
    Window(u32),
    /// An unquoted ISO date `2025-01-31`, as days since 1970-01-01.
    Date(i32),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// The longest window accepted (100 years).
pub const MAX_WINDOW_DAYS: u64 = 36_500;

/// Days per unit word of a window, `None` for anything else.
pub fn window_unit(word: &str) -> Option<u32> {
    match word.to_ascii_lowercase().as_str() {
        "d" | "day" | "days" => Some(1),
        "w" | "week" | "weeks" => Some(7),
        _ => None,
    }
}

/// Days since 1970-01-01 of a valid calendar date, `None` when the date does not exist.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i32> {
    if !(1..=12).contains(&m) || d == 0 || !(1..=9999).contains(&y) {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m as usize - 1];
    if d > dim {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) as i32)
}

/// Parses `YYYY-MM-DD` exactly.
pub fn parse_iso_date(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    days_from_civil(digits(0..4)?, digits(5..7)? as u32, digits(8..10)? as u32)
}

pub fn lex(src: &str) -> Result<Vec<Token>, RuleError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |start: usize, end: usize, msg: String| RuleError::at(src, Span::new(start, end), msg);
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                Tok::Op(CmpOp::Eq)
            }
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                } else {
                    return Err(err(i, i + 1, "unexpected `!`: write `!=` for \"not equal\", or `not` to negate a condition".into()));
                }
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '≤' => {
                i += 1;
                Tok::Op(CmpOp::Le)
            }
            '≥' => {
                i += 1;
                Tok::Op(CmpOp::Ge)
            }
            '≠' => {
                i += 1;
                Tok::Op(CmpOp::Ne)
            }
            '"' | '\'' | '“' | '”' => {
                let close = if c == '“' { '”' } else { c };
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(err(
                                start,
                                start + 1,
                                format!("this text is never closed: add a closing {close}"),
                            ))
                        }
                        Some('\\') => {
                            let e = chars.get(i + 1).copied();
                            match e {
                                Some('\\') | Some('"') | Some('\'') => s.push(e.unwrap()),
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                _ => {
                                    return Err(err(
                                        i,
                                        i + 2,
                                        "unknown escape: inside quotes write \\\\, \\\", \\', \\n or \\t".into(),
                                    ))
                                }
                            }
                            i += 2;
                        }
                        Some(&ch) if ch == close || (c == '”' && ch == '”') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                Tok::Str(s)
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) => {
                lex_number(src, &chars, &mut i)?
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            '-' => {
                return Err(err(i, i + 1, "unexpected `-`: the rule language has no arithmetic; write a negative number as -5".into()))
            }
            other => {
                return Err(err(
                    i,
                    i + 1,
                    format!("unexpected character `{other}`: expected a metric name, a number, quoted text, a comparison, `(` or `)`"),
                ))
            }
        };
        out.push(Token { tok, span: Span::new(start, i) });
    }
    out.push(Token { tok: Tok::Eof, span: Span::new(chars.len(), chars.len() + 1) });
    Ok(out)
}

fn lex_number(src: &str, chars: &[char], i: &mut usize) -> Result<Tok, RuleError> {
    let start = *i;
    let err = |a: usize, b: usize, msg: String| RuleError::at(src, Span::new(a, b), msg);
    // An unquoted ISO date: 4 digits, '-', 2 digits, '-', 2 digits.
    if chars.len() >= start + 10
        && chars[start..start + 4].iter().all(|c| c.is_ascii_digit())
        && chars[start + 4] == '-'
    {
        let text: String = chars[start..start + 10].iter().collect();
        let boundary = chars.get(start + 10).is_none_or(|c| !c.is_ascii_alphanumeric() && *c != '_');
        if boundary {
            if let Some(day) = parse_iso_date(&text) {
                *i = start + 10;
                return Ok(Tok::Date(day));
            }
            if text.as_bytes()[7] == b'-' && text.bytes().enumerate().all(|(k, b)| k == 4 || k == 7 || b.is_ascii_digit()) {
                return Err(err(start, start + 10, format!("`{text}` is not a calendar date (dates are written YYYY-MM-DD)")));
            }
        }
    }
    let negative = chars[start] == '-';
    if negative {
        *i += 1;
    }
    let mut mantissa: i128 = 0;
    let mut scale: u32 = 0;
    let mut seen_dot = false;
    let mut digits = 0usize;
    while *i < chars.len() {
        let c = chars[*i];
        if c.is_ascii_digit() {
            digits += 1;
            if digits > 30 {
                return Err(err(start, *i + 1, "number too long (at most 30 digits)".into()));
            }
            mantissa = mantissa * 10 + (c as u8 - b'0') as i128;
            if seen_dot {
                scale += 1;
            }
        } else if c == '_' && chars.get(*i + 1).is_some_and(|d| d.is_ascii_digit()) && *i > start {
            // digit separator: 1_000_000
        } else if c == '.' && !seen_dot && chars.get(*i + 1).is_some_and(|d| d.is_ascii_digit()) {
            seen_dot = true;
        } else if c == '.' {
            return Err(err(*i, *i + 1, "misplaced `.` in a number: write numbers like 12.5".into()));
        } else {
            break;
        }
        *i += 1;
    }
    let mut value = Decimal { mantissa: if negative { -mantissa } else { mantissa }, scale };
    // A unit glued to the number: 30d, 4w, 7days, 20%.
    if *i < chars.len() && chars[*i] == '%' {
        *i += 1;
        value.scale += 2;
        return Ok(Tok::Num { value, percent: true });
    }
    if *i < chars.len() && (chars[*i].is_ascii_alphabetic() || chars[*i] == '_') {
        let ustart = *i;
        while *i < chars.len() && (chars[*i].is_ascii_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        let unit: String = chars[ustart..*i].iter().collect();
        let Some(per) = window_unit(&unit) else {
            let hint = if unit.eq_ignore_ascii_case("m") || unit.to_ascii_lowercase().starts_with("month") {
                "months have no fixed length: write the window in days, e.g. `90d`"
            } else {
                "a window is written like `30d`, `4w` or `30 days`"
            };
            return Err(err(ustart, *i, format!("unknown unit `{unit}` after a number: {hint}")));
        };
        return window_days(src, Span::new(start, *i), value, per).map(Tok::Window);
    }
    Ok(Tok::Num { value, percent: false })
}

/// A window's length in days from a number and a unit, checked.
pub fn window_days(src: &str, span: Span, value: Decimal, per_unit: u32) -> Result<u32, RuleError> {
    let n = match value.as_integer() {
        Some(n) => n,
        None => return Err(RuleError::at(src, span, "a window is a whole number of days, e.g. `30d`")),
    };
    if n < 1 {
        return Err(RuleError::at(src, span, "a window is at least 1 day long (`in 1d` is the as-of day alone)"));
    }
    let days = n.saturating_mul(per_unit as i128);
    if days > MAX_WINDOW_DAYS as i128 {
        return Err(RuleError::at(src, span, format!("a window is at most {MAX_WINDOW_DAYS} days long")));
    }
    Ok(days as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_windows_dates_and_percent() {
        assert_eq!(
            toks("1_000 -2.50 30d 4w 7days 20% 2024-02-29"),
            vec![
                Tok::Num { value: Decimal { mantissa: 1000, scale: 0 }, percent: false },
                Tok::Num { value: Decimal { mantissa: -250, scale: 2 }, percent: false },
                Tok::Window(30),
                Tok::Window(28),
                Tok::Window(7),
                Tok::Num { value: Decimal { mantissa: 20, scale: 2 }, percent: true },
                Tok::Date(19782),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn operators_and_text() {
        assert_eq!(
            toks(r#"a<=b <> 'x\'y' "q""#),
            vec![
                Tok::Ident("a".into()),
                Tok::Op(CmpOp::Le),
                Tok::Ident("b".into()),
                Tok::Op(CmpOp::Ne),
                Tok::Str("x'y".into()),
                Tok::Str("q".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn lexer_errors_point_at_the_character() {
        let e = lex("x = \"open").unwrap_err();
        assert_eq!((e.column, e.message.as_str()), (5, "this text is never closed: add a closing \""));
        let e = lex("x $ 3").unwrap_err();
        assert_eq!(e.column, 3);
        let e = lex("in 3m").unwrap_err();
        assert_eq!(e.column, 5);
        assert!(e.message.contains("months"), "{}", e.message);
        let e = lex("in 0d").unwrap_err();
        assert_eq!(e.column, 4);
        let e = lex("d = 2023-02-29").unwrap_err();
        assert_eq!(e.column, 5);
        let e = lex("a\n  $").unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert_eq!(e.to_string(), "line 2, column 3: unexpected character `$`: expected a metric name, a number, quoted text, a comparison, `(` or `)`");
    }

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11017));
        assert_eq!(days_from_civil(2023, 2, 29), None);
        assert_eq!(parse_iso_date("2025-12-31"), Some(20453));
    }
}
