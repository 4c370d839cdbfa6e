//! Dates and timestamps, strictly.
//!
//! Every parsed value gives a [`Stamp`]: `day` = days since 1970-01-01 of the calendar date as
//! written, `ts` = Unix seconds (UTC when the text carries an offset, else the local time as
//! written, read as if it were UTC).
//!
//! Without a format ([`DateFormat::Auto`]) two forms are read, both unambiguous:
//! - ISO 8601 extended: `2024-03-05`, `2024-03-05T14:30`, `2024-03-05 14:30:15.250`, with an
//!   optional offset `Z`, `+01:00`, `+0100`, `+01` or ` UTC`;
//! - epoch seconds: `1709649000` (optionally with a fraction, which is dropped).
//!
//! Anything else is an error, never a guess: `05/03/2024` is refused as ambiguous (day/month
//! or month/day?) and so is `20240305` (a compact date, or epoch seconds in 1970?). Those need
//! an explicit format: [`DateFormat::parse`] reads strftime directives (`%d/%m/%Y %H:%M`) or
//! the spelled-out form (`dd/mm/yyyy HH:MM`), plus `epoch` and `epoch_ms`. With a pattern,
//! unambiguous ISO 8601 text is still accepted as a fallback.

use std::fmt;

/// A parsed moment: calendar day as written and Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub day: i32,
    pub ts: i64,
}

/// Why a date was refused: `code` is `bad_date` or `ambiguous_date`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateError {
    pub code: &'static str,
    pub message: String,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn bad<T>(message: impl Into<String>) -> Result<T, DateError> {
    Err(DateError {
        code: "bad_date",
        message: message.into(),
    })
}

fn ambiguous<T>(message: impl Into<String>) -> Result<T, DateError> {
    Err(DateError {
        code: "ambiguous_date",
        message: message.into(),
    })
}

/// Years accepted (anything outside is a placeholder or a wrong format, not a real date).
pub const MIN_YEAR: i64 = 1900;
pub const MAX_YEAR: i64 = 2199;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `(year, month, day)` of days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of days since 1970-01-01.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Fields collected while matching; turned into a [`Stamp`] by [`Parts::stamp`].
#[derive(Default)]
struct Parts {
    year: Option<i64>,
    month: Option<u32>,
    day: Option<u32>,
    hour: u32,
    minute: u32,
    second: u32,
    pm: Option<bool>,
    hour12: bool,
    offset: i64, // seconds east of UTC
}

impl Parts {
    fn stamp(&self, text: &str) -> Result<Stamp, DateError> {
        let (Some(y), Some(m), Some(d)) = (self.year, self.month, self.day) else {
            return bad(format!(
                "{text:?}: the format has no full date (year, month and day)"
            ));
        };
        if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
            return bad(format!(
                "{text:?}: year {y} is outside {MIN_YEAR}..{MAX_YEAR}"
            ));
        }
        if !(1..=12).contains(&m) {
            return bad(format!("{text:?}: month {m} does not exist"));
        }
        if d < 1 || d > days_in_month(y, m) {
            return bad(format!("{text:?}: day {d} does not exist in {y:04}-{m:02}"));
        }
        let mut hour = self.hour;
        if self.hour12 {
            if !(1..=12).contains(&hour) {
                return bad(format!("{text:?}: hour {hour} is not a 12-hour clock hour"));
            }
            match self.pm {
                Some(true) => hour = hour % 12 + 12,
                Some(false) => hour %= 12,
                None => return bad(format!("{text:?}: 12-hour time without AM/PM")),
            }
        }
        if hour > 23 || self.minute > 59 || self.second > 59 {
            return bad(format!(
                "{text:?}: time {hour:02}:{:02}:{:02} does not exist",
                self.minute, self.second
            ));
        }
        let day = days_from_civil(y, m, d);
        let ts = day * 86400 + (hour * 3600 + self.minute * 60 + self.second) as i64 - self.offset;
        Ok(Stamp {
            day: day as i32,
            ts,
        })
    }
}

/// One element of a date pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Year4,
    Year2,
    Month,
    MonthName,
    Day,
    Hour,
    Hour12,
    Minute,
    Second,
    Fraction,
    AmPm,
    Offset,
    /// One or more whitespace characters.
    Space,
    Lit(char),
}

/// How dates are read: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateFormat {
    Auto,
    Epoch,
    EpochMs,
    Pattern { spec: String, items: Vec<Item> },
}

impl DateFormat {
    /// Read a user's format: `auto`/`iso`, `epoch`, `epoch_ms`, strftime directives
    /// (`%Y %y %m %d %H %I %M %S %f %p %z %b %B %F %T %%`) or spelled-out tokens
    /// (`yyyy yy mm dd HH hh MM ss`; an `mm`/`MM` before the hour is the month, after it the
    /// minutes, whatever its case).
    pub fn parse(spec: &str) -> Result<DateFormat, String> {
        let s = spec.trim();
        match s.to_ascii_lowercase().as_str() {
            "" | "auto" | "iso" | "iso8601" => return Ok(DateFormat::Auto),
            "epoch" | "epoch_s" | "unix" => return Ok(DateFormat::Epoch),
            "epoch_ms" | "unix_ms" => return Ok(DateFormat::EpochMs),
            _ => {}
        }
        let items = if s.contains('%') {
            strftime_items(s)?
        } else {
            token_items(s)?
        };
        let has = |it: &Item| items.contains(it);
        if !(has(&Item::Year4) || has(&Item::Year2))
            || !(has(&Item::Month) || has(&Item::MonthName))
            || !has(&Item::Day)
        {
            return Err(format!(
                "date format {spec:?} needs a year, a month and a day"
            ));
        }
        if has(&Item::Hour12) != has(&Item::AmPm) {
            return Err(format!(
                "date format {spec:?}: a 12-hour clock (%I) needs AM/PM (%p) and vice versa"
            ));
        }
        Ok(DateFormat::Pattern {
            spec: s.to_string(),
            items,
        })
    }

    /// Parse one value.
    pub fn parse_value(&self, text: &str) -> Result<Stamp, DateError> {
        let t = text.trim();
        if t.is_empty() {
            return bad("empty date");
        }
        match self {
            DateFormat::Auto => parse_auto(t),
            DateFormat::Epoch => parse_epoch(t, 1),
            DateFormat::EpochMs => parse_epoch(t, 1000),
            DateFormat::Pattern { spec, items } => match match_items(t, items) {
                Ok(st) => Ok(st),
                Err(e) => {
                    // unambiguous ISO 8601 stays readable whatever the format says
                    if let Some(st) = try_iso(t.as_bytes()) {
                        return st;
                    }
                    Err(DateError {
                        code: e.code,
                        message: format!("{} (format {spec:?})", e.message),
                    })
                }
            },
        }
    }
}

fn strftime_items(s: &str) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let d = chars
                .next()
                .ok_or_else(|| format!("date format {s:?} ends with '%'"))?;
            match d {
                'Y' => out.push(Item::Year4),
                'y' => out.push(Item::Year2),
                'm' => out.push(Item::Month),
                'b' | 'B' | 'h' => out.push(Item::MonthName),
                'd' | 'e' => out.push(Item::Day),
                'H' => out.push(Item::Hour),
                'I' => out.push(Item::Hour12),
                'M' => out.push(Item::Minute),
                'S' => out.push(Item::Second),
                'f' => out.push(Item::Fraction),
                'p' | 'P' => out.push(Item::AmPm),
                'z' | 'Z' => out.push(Item::Offset),
                'F' => out.extend([
                    Item::Year4,
                    Item::Lit('-'),
                    Item::Month,
                    Item::Lit('-'),
                    Item::Day,
                ]),
                'T' => out.extend([
                    Item::Hour,
                    Item::Lit(':'),
                    Item::Minute,
                    Item::Lit(':'),
                    Item::Second,
                ]),
                '%' => out.push(Item::Lit('%')),
                other => return Err(format!("date format {s:?}: %{other} is not supported")),
            }
        } else if c.is_whitespace() {
            if out.last() != Some(&Item::Space) {
                out.push(Item::Space);
            }
        } else {
            out.push(Item::Lit(c));
        }
    }
    Ok(out)
}

fn token_items(s: &str) -> Result<Vec<Item>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_hour = false;
    let mut minutes_seen = false;
    while i < b.len() {
        let c = b[i];
        let mut n = 1;
        while i + n < b.len() && b[i + n] == c {
            n += 1;
        }
        let lc = c.to_ascii_lowercase();
        let item = match (lc, n) {
            ('y', 4) => Some(Item::Year4),
            ('y', 2) => Some(Item::Year2),
            ('d', 1 | 2) => Some(Item::Day),
            ('h', 1 | 2) => {
                after_hour = true;
                Some(Item::Hour)
            }
            ('m', 1 | 2) if !after_hour => Some(Item::Month),
            ('m', 1 | 2) => {
                if minutes_seen {
                    return Err(format!(
                        "date format {s:?}: cannot tell month from minutes; use %m and %M"
                    ));
                }
                minutes_seen = true;
                Some(Item::Minute)
            }
            ('m', 3 | 4) => Some(Item::MonthName),
            ('s', 1 | 2) => Some(Item::Second),
            ('y' | 'd' | 'h' | 'm' | 's', _) => {
                return Err(format!(
                    "date format {s:?}: {:?} is not a known token",
                    b[i..i + n].iter().collect::<String>()
                ))
            }
            _ => None,
        };
        match item {
            Some(it) => {
                out.push(it);
                i += n;
            }
            None => {
                if c.is_whitespace() {
                    if out.last() != Some(&Item::Space) {
                        out.push(Item::Space);
                    }
                } else if c.is_ascii_alphabetic() {
                    return Err(format!("date format {s:?}: {c:?} is not a known token (use yyyy, mm, dd, HH, MM, ss or %-directives)"));
                } else {
                    out.push(Item::Lit(c));
                }
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Read 1..=max ASCII digits at `*i`.
fn digits(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *i;
    let mut v: u32 = 0;
    while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
        v = v * 10 + (b[*i] - b'0') as u32;
        *i += 1;
    }
    if *i - start < min {
        *i = start;
        return None;
    }
    Some(v)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const MONTHS_LONG: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_name(b: &[u8], i: &mut usize) -> Option<u32> {
    let rest = &b[*i..];
    let lower = |n: usize| -> Option<String> {
        if rest.len() >= n {
            Some(String::from_utf8_lossy(&rest[..n]).to_ascii_lowercase())
        } else {
            None
        }
    };
    for (k, name) in MONTHS_LONG.iter().enumerate() {
        if lower(name.len()).as_deref() == Some(*name) {
            *i += name.len();
            return Some(k as u32 + 1);
        }
    }
    for (k, name) in MONTHS.iter().enumerate() {
        if lower(3).as_deref() == Some(*name) {
            *i += 3;
            // "Sept" is common enough to accept
            if k == 8 && rest.len() > 3 && (rest[3] == b't' || rest[3] == b'T') {
                *i += 1;
            }
            return Some(k as u32 + 1);
        }
    }
    None
}

/// `Z`, `+HH:MM`, `+HHMM`, `+HH`, ` UTC`/`UTC`, `GMT`; returns seconds east of UTC.
fn offset(b: &[u8], i: &mut usize) -> Option<i64> {
    let start = *i;
    if *i < b.len() && b[*i] == b' ' {
        *i += 1;
    }
    if *i < b.len() && (b[*i] == b'Z' || b[*i] == b'z') {
        *i += 1;
        return Some(0);
    }
    for name in [b"UTC".as_slice(), b"GMT".as_slice()] {
        if b[*i..].len() >= 3 && b[*i..*i + 3].eq_ignore_ascii_case(name) {
            *i += 3;
            if *i == b.len() {
                return Some(0);
            }
        }
    }
    if *i < b.len() && (b[*i] == b'+' || b[*i] == b'-') {
        let neg = b[*i] == b'-';
        *i += 1;
        let h = digits(b, i, 2, 2);
        if let Some(h) = h {
            let mut m = 0;
            if *i < b.len() && b[*i] == b':' {
                *i += 1;
                match digits(b, i, 2, 2) {
                    Some(v) => m = v,
                    None => {
                        *i = start;
                        return None;
                    }
                }
            } else if let Some(v) = digits(b, i, 2, 2) {
                m = v;
            }
            if h <= 23 && m <= 59 {
                let s = (h * 3600 + m * 60) as i64;
                return Some(if neg { -s } else { s });
            }
        }
    }
    *i = start;
    None
}

fn match_items(t: &str, items: &[Item]) -> Result<Stamp, DateError> {
    let b = t.as_bytes();
    let mut i = 0usize;
    let mut p = Parts::default();
    let miss = |what: &str, i: usize| -> DateError {
        DateError {
            code: "bad_date",
            message: format!("{t:?}: expected {what} at position {}", i + 1),
        }
    };
    for it in items {
        match it {
            Item::Year4 => {
                p.year =
                    Some(digits(b, &mut i, 4, 4).ok_or_else(|| miss("a 4-digit year", i))? as i64)
            }
            Item::Year2 => {
                // POSIX pivot: 69–99 → 1969–1999, 00–68 → 2000–2068
                let y = digits(b, &mut i, 2, 2).ok_or_else(|| miss("a 2-digit year", i))? as i64;
                p.year = Some(if y >= 69 { 1900 + y } else { 2000 + y });
            }
            Item::Month => {
                p.month = Some(digits(b, &mut i, 1, 2).ok_or_else(|| miss("a month", i))?)
            }
            Item::MonthName => {
                p.month = Some(month_name(b, &mut i).ok_or_else(|| miss("a month name", i))?)
            }
            Item::Day => p.day = Some(digits(b, &mut i, 1, 2).ok_or_else(|| miss("a day", i))?),
            Item::Hour => p.hour = digits(b, &mut i, 1, 2).ok_or_else(|| miss("an hour", i))?,
            Item::Hour12 => {
                p.hour = digits(b, &mut i, 1, 2).ok_or_else(|| miss("an hour", i))?;
                p.hour12 = true;
            }
            Item::Minute => {
                p.minute = digits(b, &mut i, 2, 2).ok_or_else(|| miss("2-digit minutes", i))?
            }
            Item::Second => {
                p.second = digits(b, &mut i, 2, 2).ok_or_else(|| miss("2-digit seconds", i))?
            }
            Item::Fraction => {
                digits(b, &mut i, 1, 9).ok_or_else(|| miss("a fraction of a second", i))?;
            }
            Item::AmPm => {
                let r = &b[i..];
                if r.len() >= 2
                    && r[1].eq_ignore_ascii_case(&b'm')
                    && (r[0] | 0x20 == b'a' || r[0] | 0x20 == b'p')
                {
                    p.pm = Some(r[0] | 0x20 == b'p');
                    i += 2;
                } else {
                    return Err(miss("AM or PM", i));
                }
            }
            Item::Offset => p.offset = offset(b, &mut i).ok_or_else(|| miss("a UTC offset", i))?,
            Item::Space => {
                if i >= b.len() || !b[i].is_ascii_whitespace() {
                    return Err(miss("a space", i));
                }
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
            Item::Lit(c) => {
                let mut buf = [0u8; 4];
                let lit = c.encode_utf8(&mut buf).as_bytes();
                if b[i..].starts_with(lit) {
                    i += lit.len();
                } else {
                    return Err(miss(&format!("{c:?}"), i));
                }
            }
        }
    }
    if i != b.len() {
        return bad(format!(
            "{t:?}: unexpected text {:?} after the date",
            &t[i..]
        ));
    }
    p.stamp(t)
}

/// ISO 8601 extended form, or `None` when the text is not shaped like it at all.
fn try_iso(b: &[u8]) -> Option<Result<Stamp, DateError>> {
    if b.len() < 5 || b[4] != b'-' || !b[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let t = std::str::from_utf8(b).unwrap_or("");
    let mut i = 0usize;
    let mut p = Parts::default();
    let fail = |what: &str| {
        Some(bad(format!(
            "{t:?}: not ISO 8601 YYYY-MM-DD[THH:MM[:SS]][offset] ({what})"
        )))
    };
    p.year = Some(digits(b, &mut i, 4, 4)? as i64);
    i += 1;
    let Some(m) = digits(b, &mut i, 2, 2) else {
        return fail("month must be 2 digits");
    };
    p.month = Some(m);
    if i >= b.len() || b[i] != b'-' {
        return fail("month must be 2 digits");
    }
    i += 1;
    let Some(d) = digits(b, &mut i, 2, 2) else {
        return fail("day must be 2 digits");
    };
    p.day = Some(d);
    if i < b.len() {
        if b[i] != b'T' && b[i] != b't' && b[i] != b' ' {
            return fail("unexpected text after the date");
        }
        i += 1;
        let Some(h) = digits(b, &mut i, 2, 2) else {
            return fail("hour must be 2 digits");
        };
        if i >= b.len() || b[i] != b':' {
            return fail("time must be HH:MM");
        }
        i += 1;
        let Some(mi) = digits(b, &mut i, 2, 2) else {
            return fail("minutes must be 2 digits");
        };
        p.hour = h;
        p.minute = mi;
        if i < b.len() && b[i] == b':' {
            i += 1;
            let Some(s) = digits(b, &mut i, 2, 2) else {
                return fail("seconds must be 2 digits");
            };
            p.second = s;
            if i < b.len() && (b[i] == b'.' || b[i] == b',') {
                i += 1;
                if digits(b, &mut i, 1, 9).is_none() {
                    return fail("fraction of a second");
                }
            }
        }
        if i < b.len() {
            match offset(b, &mut i) {
                Some(o) => p.offset = o,
                None => return fail("unreadable UTC offset"),
            }
        }
        if i != b.len() {
            return fail("unexpected text after the time");
        }
    }
    Some(p.stamp(t))
}

fn parse_epoch(t: &str, per_second: i64) -> Result<Stamp, DateError> {
    let b = t.as_bytes();
    let (neg, body) = match b[0] {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    let int_end = body
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(body.len());
    if int_end == 0 || int_end > 16 {
        return bad(format!(
            "{t:?}: not epoch {}",
            if per_second == 1 {
                "seconds"
            } else {
                "milliseconds"
            }
        ));
    }
    if int_end < body.len()
        && (body[int_end] != b'.' || !body[int_end + 1..].iter().all(u8::is_ascii_digit))
    {
        return bad(format!("{t:?}: not a number"));
    }
    let mut v: i64 = 0;
    for &c in &body[..int_end] {
        v = v * 10 + (c - b'0') as i64;
    }
    let v = if neg { -v } else { v };
    let ts = v.div_euclid(per_second);
    let day = ts.div_euclid(86400);
    let (y, _, _) = civil_from_days(day);
    if !(MIN_YEAR..=MAX_YEAR).contains(&y) {
        let hint = if per_second == 1 && y > MAX_YEAR {
            " (epoch milliseconds? use --date-format epoch_ms)"
        } else {
            ""
        };
        return bad(format!(
            "{t:?}: epoch value lands in year {y}, outside {MIN_YEAR}..{MAX_YEAR}{hint}"
        ));
    }
    Ok(Stamp {
        day: day as i32,
        ts,
    })
}

fn parse_auto(t: &str) -> Result<Stamp, DateError> {
    let b = t.as_bytes();
    if let Some(r) = try_iso(b) {
        return r;
    }
    let numeric = b.iter().filter(|c| **c == b'.').count() <= 1
        && b.iter().enumerate().all(|(k, c)| {
            c.is_ascii_digit() || (k == 0 && (*c == b'-' || *c == b'+')) || *c == b'.'
        });
    if numeric {
        let n_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if n_digits == 8 && b.len() == 8 {
            let y = t[..4].parse::<i64>().unwrap_or(0);
            let m = t[4..6].parse::<u32>().unwrap_or(0);
            let d = t[6..8].parse::<u32>().unwrap_or(0);
            if (MIN_YEAR..=MAX_YEAR).contains(&y)
                && (1..=12).contains(&m)
                && d >= 1
                && d <= days_in_month(y, m)
            {
                return ambiguous(format!(
                    "{t:?}: a compact yyyymmdd date or epoch seconds? give --date-format %Y%m%d or epoch"
                ));
            }
        }
        return parse_epoch(t, 1);
    }
    if b.iter()
        .filter(|c| **c == b'/' || **c == b'.' || **c == b'-')
        .count()
        >= 2
        && b[0].is_ascii_digit()
    {
        return ambiguous(format!(
            "{t:?}: day/month order cannot be told without a format; give --date-format, e.g. %d/%m/%Y or %m/%d/%Y %H:%M"
        ));
    }
    bad(format!("{t:?}: not an ISO 8601 date (YYYY-MM-DD[THH:MM[:SS]][offset]) or epoch seconds; give --date-format"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(s: &str) -> Result<Stamp, DateError> {
        DateFormat::Auto.parse_value(s)
    }
    fn day(y: i64, m: u32, d: u32) -> i32 {
        days_from_civil(y, m, d) as i32
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for z in (-80_000..120_000).step_by(7) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(format_day(19787), "2024-03-05");
    }

    #[test]
    fn iso_forms() {
        let d = day(2024, 3, 5);
        assert_eq!(
            auto("2024-03-05").unwrap(),
            Stamp {
                day: d,
                ts: d as i64 * 86400
            }
        );
        assert_eq!(
            auto("2024-03-05T14:30").unwrap().ts,
            d as i64 * 86400 + 14 * 3600 + 30 * 60
        );
        assert_eq!(
            auto(" 2024-03-05 14:30:15.250 ").unwrap().ts,
            d as i64 * 86400 + 52215
        );
        // an offset changes ts (UTC) but not the calendar day as written
        let st = auto("2024-03-05T00:30:00+02:00").unwrap();
        assert_eq!(st.day, d);
        assert_eq!(st.ts, d as i64 * 86400 + 1800 - 7200);
        assert_eq!(
            auto("2024-03-05T10:00:00Z").unwrap().ts,
            auto("2024-03-05T11:00:00+0100").unwrap().ts
        );
        assert_eq!(
            auto("2024-03-05T10:00:00-05").unwrap().ts,
            auto("2024-03-05T15:00:00Z").unwrap().ts
        );
        assert_eq!(
            auto("2024-03-05 10:00:00 UTC").unwrap().ts,
            auto("2024-03-05T10:00:00Z").unwrap().ts
        );
        assert_eq!(auto("2024-02-29").unwrap().day, day(2024, 2, 29));
    }

    #[test]
    fn impossible_dates_are_refused() {
        for s in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-03-05T24:00",
            "2024-03-05T10:60",
            "2024-3-5",
            "2024-03-05X",
            "0001-01-01",
            "2024-03-05T10",
            "2024-03-05T10:00:00+25:00",
            "yesterday",
            "",
            "  ",
        ] {
            let e = auto(s).unwrap_err();
            assert_eq!(e.code, "bad_date", "{s:?}: {e}");
        }
    }

    #[test]
    fn ambiguity_is_an_error() {
        for s in [
            "05/03/2024",
            "5.3.2024",
            "12/1/2010 8:26",
            "20240305",
            "03-05-2024",
        ] {
            let e = auto(s).unwrap_err();
            assert_eq!(e.code, "ambiguous_date", "{s:?}: {e}");
        }
    }

    #[test]
    fn epoch_seconds_and_millis() {
        assert_eq!(
            auto("1709649000").unwrap(),
            Stamp {
                day: day(2024, 3, 5),
                ts: 1709649000
            }
        );
        assert_eq!(auto("1709649000.75").unwrap().ts, 1709649000);
        assert_eq!(auto("-86400").unwrap().day, -1);
        let e = auto("1709649000000").unwrap_err();
        assert!(e.message.contains("epoch_ms"), "{e}");
        let ms = DateFormat::parse("epoch_ms").unwrap();
        assert_eq!(ms.parse_value("1709649000123").unwrap().ts, 1709649000);
        assert!(ms.parse_value("abc").is_err());
        let s = DateFormat::parse("epoch").unwrap();
        assert_eq!(s.parse_value("20240305").unwrap().day, day(1970, 8, 23));
    }

    #[test]
    fn explicit_patterns() {
        let us = DateFormat::parse("%m/%d/%Y %H:%M").unwrap();
        let st = us.parse_value("12/1/2010 8:26").unwrap();
        assert_eq!(st.day, day(2010, 12, 1));
        assert_eq!(st.ts, day(2010, 12, 1) as i64 * 86400 + 8 * 3600 + 26 * 60);
        // same thing, spelled out as in the design
        assert_eq!(
            DateFormat::parse("mm/dd/yyyy HH:MM")
                .unwrap()
                .parse_value("12/1/2010 8:26")
                .unwrap(),
            st
        );
        // java-style spelling: MM before the hour is the month, mm after it the minutes
        assert_eq!(
            DateFormat::parse("MM/dd/yyyy HH:mm")
                .unwrap()
                .parse_value("12/01/2010 08:26")
                .unwrap(),
            st
        );
        let eu = DateFormat::parse("dd/mm/yyyy").unwrap();
        assert_eq!(eu.parse_value("05/03/2024").unwrap().day, day(2024, 3, 5));
        assert_eq!(eu.parse_value("31/02/2024").unwrap_err().code, "bad_date");
        assert!(eu.parse_value("05/03/2024 10:00").is_err());
        // ISO stays readable under any pattern
        assert_eq!(eu.parse_value("2024-03-05").unwrap().day, day(2024, 3, 5));
        let named = DateFormat::parse("%d %b %Y %I:%M %p").unwrap();
        assert_eq!(
            named.parse_value("5 Mar 2024 2:30 pm").unwrap().ts,
            day(2024, 3, 5) as i64 * 86400 + 14 * 3600 + 1800
        );
        assert_eq!(
            named.parse_value("5 March 2024 12:05 AM").unwrap().ts,
            day(2024, 3, 5) as i64 * 86400 + 300
        );
        let z = DateFormat::parse("%Y%m%d%H%M%S%z").unwrap();
        assert_eq!(
            z.parse_value("20240305103000+0100").unwrap().ts,
            auto("2024-03-05T09:30:00Z").unwrap().ts
        );
        assert_eq!(
            DateFormat::parse("%y-%m-%d")
                .unwrap()
                .parse_value("69-01-01")
                .unwrap()
                .day,
            day(1969, 1, 1)
        );
        assert_eq!(
            DateFormat::parse("%y-%m-%d")
                .unwrap()
                .parse_value("24-01-01")
                .unwrap()
                .day,
            day(2024, 1, 1)
        );
    }

    #[test]
    fn bad_formats_are_refused() {
        for f in [
            "%Y-%m",
            "%d/%m/%Q",
            "dd/mm",
            "HH:mm dd/MM/yyyy",
            "%I:%M %d/%m/%Y",
            "dd/mm/yyyy x",
            "%",
        ] {
            assert!(DateFormat::parse(f).is_err(), "{f:?}");
        }
        assert_eq!(DateFormat::parse("iso").unwrap(), DateFormat::Auto);
    }
}
