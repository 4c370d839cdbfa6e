//! Civil dates on day numbers (days since 1970-01-01, proleptic Gregorian) and the calendar
//! periods history works in: weeks (Monday to Sunday), months and quarters.

/// (year, month 1..=12, day 1..=31) of a day number.
pub fn civil_from_days(z: i32) -> (i32, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = z as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from March 1st
    let mp = (5 * doy + 2) / 153; // 0..=11, March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y as i32, m, d)
}

/// The day number of a civil date (the inverse of [`civil_from_days`]).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = y as i64 - if m <= 2 { 1 } else { 0 };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i32
}

/// A calendar period length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// Monday to Sunday.
    Week,
    Month,
    Quarter,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            "quarter" => Some(Period::Quarter),
            _ => None,
        }
    }

    /// The index of the period containing `day` (consecutive periods have consecutive
    /// indexes; index 0 contains 1970-01-01).
    pub fn index(self, day: i32) -> i32 {
        match self {
            // 1970-01-01 was a Thursday: shift so that weeks start on Monday.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                (y - 1970) * 12 + m as i32 - 1
            }
            Period::Quarter => {
                let (y, m, _) = civil_from_days(day);
                (y - 1970) * 4 + (m as i32 - 1) / 3
            }
        }
    }

    /// First day of period `index`.
    pub fn start(self, index: i32) -> i32 {
        match self {
            Period::Week => index * 7 - 3,
            Period::Month => {
                let y = 1970 + index.div_euclid(12);
                let m = index.rem_euclid(12) as u32 + 1;
                days_from_civil(y, m, 1)
            }
            Period::Quarter => {
                let y = 1970 + index.div_euclid(4);
                let m = index.rem_euclid(4) as u32 * 3 + 1;
                days_from_civil(y, m, 1)
            }
        }
    }

    /// Last day of period `index`.
    pub fn end(self, index: i32) -> i32 {
        self.start(index + 1) - 1
    }

    /// A short label: `2025-W07`-style ISO weeks are not used; weeks are labelled by their
    /// Monday (`2025-02-10`), months `2025-02`, quarters `2025-Q1`.
    pub fn label(self, index: i32) -> String {
        match self {
            Period::Week => {
                let (y, m, d) = civil_from_days(self.start(index));
                format!("{y:04}-{m:02}-{d:02}")
            }
            Period::Month => {
                let (y, m, _) = civil_from_days(self.start(index));
                format!("{y:04}-{m:02}")
            }
            Period::Quarter => {
                let (y, m, _) = civil_from_days(self.start(index));
                format!("{y:04}-Q{}", (m - 1) / 3 + 1)
            }
        }
    }
}

/// The as-of days of a series: the last day of every period that ends on or after `since`
/// and on or before `until`, in order. `since` itself is included when it is a period end.
pub fn series_days(period: Period, since: i32, until: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if until < since {
        return out;
    }
    let mut i = period.index(since);
    loop {
        let end = period.end(i);
        if end > until {
            break;
        }
        if end >= since {
            out.push(end);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_five_centuries() {
        for z in -80_000..120_000 {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(days_from_civil(2025, 3, 1) - days_from_civil(2025, 2, 28), 1);
        assert_eq!(days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28), 2);
    }

    #[test]
    fn periods_are_contiguous_and_labelled() {
        for p in [Period::Week, Period::Month, Period::Quarter] {
            for i in -30..800 {
                assert_eq!(p.end(i) + 1, p.start(i + 1));
                assert_eq!(p.index(p.start(i)), i);
                assert_eq!(p.index(p.end(i)), i);
            }
        }
        let d = days_from_civil(2025, 2, 12); // a Wednesday
        assert_eq!(Period::Month.label(Period::Month.index(d)), "2025-02");
        assert_eq!(Period::Quarter.label(Period::Quarter.index(d)), "2025-Q1");
        assert_eq!(Period::Week.label(Period::Week.index(d)), "2025-02-10");
        assert_eq!(Period::Week.end(Period::Week.index(d)), days_from_civil(2025, 2, 16));
    }

    #[test]
    fn series_days_are_period_ends() {
        let since = days_from_civil(2025, 1, 1);
        let until = days_from_civil(2025, 12, 31);
        let months = series_days(Period::Month, since, until);
        assert_eq!(months.len(), 12);
        assert_eq!(months[0], days_from_civil(2025, 1, 31));
        assert_eq!(months[1], days_from_civil(2025, 2, 28));
        assert_eq!(months[11], until);
        let q = series_days(Period::Quarter, since, days_from_civil(2025, 9, 29));
        assert_eq!(q, vec![days_from_civil(2025, 3, 31), days_from_civil(2025, 6, 30)]);
        // `since` on a period end is included
        let m = series_days(Period::Month, days_from_civil(2025, 1, 31), days_from_civil(2025, 2, 28));
        assert_eq!(m.len(), 2);
        assert!(series_days(Period::Week, until, since).is_empty());
    }
}
