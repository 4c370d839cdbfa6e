//! Exact decimal text → integer minor units.
//!
//! Money never passes through a float. A value is parsed into a [`Dec`] (an `i128` mantissa and
//! a decimal scale), then converted to minor units of the store's currency:
//! - a given amount must fit the minor unit exactly ([`Dec::to_minor_exact`]: `12.50` and
//!   `12.500` are 1250 cents, `12.505` is refused rather than rounded);
//! - a computed amount (quantity × unit price) may carry more decimals than the currency; it is
//!   rounded half to even to the minor unit ([`Dec::to_minor_half_even`]), once, per row.
//!
//! Accepted text: optional surrounding ASCII whitespace, an optional sign (`+`/`-`) or
//! accounting parentheses (`(12.50)` is negative), digits with at most one `.`. Refused with a
//! reason: thousands separators, currency symbols, exponents, empty text, more than 30 digits.

use std::fmt;

/// Most digits accepted in one number (keeps every product inside `i128`).
pub const MAX_DIGITS: u32 = 30;

/// An exact decimal: `mant / 10^scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dec {
    pub mant: i128,
    pub scale: u32,
}

/// Why a money or number text was refused (the message is shown to the user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneyError(pub String);

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, MoneyError> {
    Err(MoneyError(msg.into()))
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `10^n` as i128 (n ≤ 38).
pub fn pow10(n: u32) -> i128 {
    POW10[n as usize]
}

impl Dec {
    pub const ZERO: Dec = Dec { mant: 0, scale: 0 };

    /// Parse exact decimal text (see the module docs for what is accepted).
    pub fn parse(text: &str) -> Result<Dec, MoneyError> {
        Dec::parse_with(text, b'.')
    }

    /// As [`Dec::parse`], with `point` (`b'.'` or `b','`) as the decimal mark. The other mark
    /// is refused like any thousands separator (`1.234,50` is not read with `,`).
    pub fn parse_with(text: &str, point: u8) -> Result<Dec, MoneyError> {
        let b = text.as_bytes();
        let (mut i, mut j) = (0usize, b.len());
        while i < j && b[i].is_ascii_whitespace() {
            i += 1;
        }
        while j > i && b[j - 1].is_ascii_whitespace() {
            j -= 1;
        }
        if i == j {
            return err("empty");
        }
        let mut neg = false;
        if b[i] == b'(' && b[j - 1] == b')' && j - i >= 3 {
            neg = true;
            i += 1;
            j -= 1;
        }
        if b[i] == b'-' || b[i] == b'+' {
            if neg {
                return err(format!("{text:?}: a sign inside parentheses"));
            }
            neg = b[i] == b'-';
            i += 1;
        }
        let mut mant: i128 = 0;
        let mut digits = 0u32;
        let mut scale = 0u32;
        let mut seen_dot = false;
        let mut any_digit = false;
        for &c in &b[i..j] {
            match c {
                b'0'..=b'9' => {
                    any_digit = true;
                    // leading zeros do not count towards the digit limit
                    if mant != 0 || c != b'0' {
                        digits += 1;
                    }
                    if digits > MAX_DIGITS {
                        return err(format!("{text:?}: more than {MAX_DIGITS} digits"));
                    }
                    mant = mant * 10 + (c - b'0') as i128;
                    if seen_dot {
                        scale += 1;
                        if scale > MAX_DIGITS {
                            return err(format!("{text:?}: more than {MAX_DIGITS} decimals"));
                        }
                    }
                }
                c if c == point && !seen_dot => seen_dot = true,
                c if c == point => {
                    let mark = if point == b',' { "comma" } else { "point" };
                    return err(format!("{text:?}: more than one decimal {mark}"));
                }
                b'.' => {
                    return err(format!(
                        "{text:?}: contains '.' (with --decimal-comma the decimal mark is ',' and thousands separators \
                         are not read; write 1234,50)"
                    ))
                }
                b',' => {
                    return err(format!(
                        "{text:?}: contains ',' (thousands separators and decimal commas are not read; \
                         export plain decimal text such as 1234.50)"
                    ))
                }
                b'e' | b'E' => return err(format!("{text:?}: exponent notation is not exact money")),
                b'-' | b'+' => return err(format!("{text:?}: misplaced sign")),
                b' ' | b'\t' => return err(format!("{text:?}: space inside a number")),
                _ => {
                    let ch = text[i..].chars().find(|ch| !ch.is_ascii_digit() && *ch != '.').unwrap_or('?');
                    return err(format!("{text:?}: unexpected character {ch:?}"));
                }
            }
        }
        if !any_digit {
            return err(format!("{text:?}: no digits"));
        }
        Ok(Dec {
            mant: if neg { -mant } else { mant },
            scale,
        })
    }

    /// Exactly `self × 10^digits` as an integer, or an error when that needs rounding.
    pub fn to_minor_exact(self, digits: u32) -> Result<i64, MoneyError> {
        let v = if self.scale <= digits {
            self.mant.checked_mul(pow10(digits - self.scale))
        } else {
            let p = pow10(self.scale - digits);
            if self.mant % p != 0 {
                return err(format!(
                    "{}: has {} decimals, the currency has {}",
                    self, self.scale, digits
                ));
            }
            Some(self.mant / p)
        };
        v.and_then(|v| i64::try_from(v).ok())
            .ok_or_else(|| MoneyError(format!("{self}: too large")))
    }

    /// `self × 10^digits` rounded half to even to an integer.
    pub fn to_minor_half_even(self, digits: u32) -> Result<i64, MoneyError> {
        let v = if self.scale <= digits {
            self.mant.checked_mul(pow10(digits - self.scale))
        } else {
            let p = pow10(self.scale - digits);
            let (q, r) = (self.mant.div_euclid(p), self.mant.rem_euclid(p));
            // q is the floor; compare 2r with p to decide
            let twice = 2 * r;
            let up = twice > p || (twice == p && q % 2 != 0);
            Some(if up { q + 1 } else { q })
        };
        v.and_then(|v| i64::try_from(v).ok())
            .ok_or_else(|| MoneyError(format!("{self}: too large")))
    }

    /// The exact product.
    pub fn mul(self, other: Dec) -> Result<Dec, MoneyError> {
        let mant = self
            .mant
            .checked_mul(other.mant)
            .ok_or_else(|| MoneyError(format!("{self} × {other}: too large")))?;
        Ok(Dec {
            mant,
            scale: self.scale + other.scale,
        }
        .trimmed())
    }

    /// The same value with trailing fractional zeros removed (canonical form).
    pub fn trimmed(mut self) -> Dec {
        if self.mant == 0 {
            return Dec::ZERO;
        }
        while self.scale > 0 && self.mant % 10 == 0 {
            self.mant /= 10;
            self.scale -= 1;
        }
        self
    }

    /// An integer, when the value has no fractional part.
    pub fn to_integer(self) -> Option<i64> {
        let t = self.trimmed();
        if t.scale == 0 {
            i64::try_from(t.mant).ok()
        } else {
            None
        }
    }
}

impl fmt::Display for Dec {
    /// Canonical text: `-12.5`, `0`, `3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.trimmed();
        let neg = t.mant < 0;
        let a = t.mant.unsigned_abs();
        if t.scale == 0 {
            return write!(f, "{}{}", if neg { "-" } else { "" }, a);
        }
        let p = pow10(t.scale) as u128;
        write!(
            f,
            "{}{}.{:0width$}",
            if neg { "-" } else { "" },
            a / p,
            a % p,
            width = t.scale as usize
        )
    }
}

/// Integer minor units → exact decimal text (`-1234.50`).
pub fn format_minor(v: i64, digits: u32) -> String {
    if digits == 0 {
        return v.to_string();
    }
    let neg = v < 0;
    let a = (v as i128).unsigned_abs();
    let p = pow10(digits) as u128;
    format!(
        "{}{}.{:0width$}",
        if neg { "-" } else { "" },
        a / p,
        a % p,
        width = digits as usize
    )
}

/// Decimals of a currency's minor unit (ISO 4217). Unknown codes have 2, as most do.
pub fn currency_digits(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// A currency code as stored: trimmed, upper case, three ASCII letters.
pub fn normalize_currency(text: &str) -> Result<String, MoneyError> {
    let t = text.trim();
    if t.len() == 3 && t.bytes().all(|c| c.is_ascii_alphabetic()) {
        Ok(t.to_ascii_uppercase())
    } else {
        err(format!(
            "{text:?} is not a three-letter ISO 4217 currency code"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Dec {
        Dec::parse(s).unwrap()
    }

    #[test]
    fn parses_plain_decimals() {
        assert_eq!(
            p("12.50"),
            Dec {
                mant: 1250,
                scale: 2
            }
        );
        assert_eq!(p(" -0.5 "), Dec { mant: -5, scale: 1 });
        assert_eq!(p("+7"), Dec { mant: 7, scale: 0 });
        assert_eq!(p(".25"), Dec { mant: 25, scale: 2 });
        assert_eq!(p("3."), Dec { mant: 3, scale: 0 });
        assert_eq!(
            p("(4.20)"),
            Dec {
                mant: -420,
                scale: 2
            }
        );
        assert_eq!(
            p("000000000000000000000000000000000001.5"),
            Dec { mant: 15, scale: 1 }
        );
    }

    #[test]
    fn refuses_what_is_not_exact_money() {
        for bad in [
            "", "  ", "1,234.50", "1.2.3", "$5", "1e3", "12 3", "--1", "1-", "abc", ".", "-",
            "(-1)", "NaN", "∞",
        ] {
            assert!(Dec::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Dec::parse("1234567890123456789012345678901").is_err());
        assert!(Dec::parse("1,5").unwrap_err().0.contains("thousands"));
    }

    #[test]
    fn exact_minor_units() {
        assert_eq!(p("12.50").to_minor_exact(2), Ok(1250));
        assert_eq!(p("12.500").to_minor_exact(2), Ok(1250));
        assert_eq!(p("12").to_minor_exact(2), Ok(1200));
        assert_eq!(p("-0.01").to_minor_exact(2), Ok(-1));
        assert_eq!(p("1500").to_minor_exact(0), Ok(1500));
        assert_eq!(p("1.234").to_minor_exact(3), Ok(1234));
        assert!(p("12.505").to_minor_exact(2).is_err());
        assert!(p("99999999999999999999").to_minor_exact(2).is_err());
        assert_eq!(p("92233720368547758.07").to_minor_exact(2), Ok(i64::MAX));
    }

    #[test]
    fn half_even_rounding() {
        let r = |s: &str| p(s).to_minor_half_even(2).unwrap();
        assert_eq!(r("0.125"), 12);
        assert_eq!(r("0.135"), 14);
        assert_eq!(r("0.1251"), 13);
        assert_eq!(r("-0.125"), -12);
        assert_eq!(r("-0.135"), -14);
        assert_eq!(r("-0.1251"), -13);
        assert_eq!(r("0.005"), 0);
        assert_eq!(r("0.015"), 2);
        assert_eq!(r("2.5"), 250);
        assert_eq!(p("2.5").to_minor_half_even(0).unwrap(), 2);
        assert_eq!(p("3.5").to_minor_half_even(0).unwrap(), 4);
        assert_eq!(p("-2.5").to_minor_half_even(0).unwrap(), -2);
    }

    #[test]
    fn products_are_exact() {
        // 6 × 2.55 = 15.30; 12 × 0.001 = 0.012 → 0.01; -3 × 0.85 = -2.55
        assert_eq!(
            p("6").mul(p("2.55")).unwrap().to_minor_half_even(2),
            Ok(1530)
        );
        assert_eq!(
            p("12").mul(p("0.001")).unwrap().to_minor_half_even(2),
            Ok(1)
        );
        assert_eq!(p("-3").mul(p("0.85")).unwrap().to_minor_exact(2), Ok(-255));
        assert_eq!(p("0.1").mul(p("0.2")).unwrap(), Dec { mant: 2, scale: 2 });
        let big = p("999999999999999");
        assert!(big.mul(big).unwrap().mul(big).is_err());
    }

    #[test]
    fn canonical_text() {
        assert_eq!(p("012.500").to_string(), "12.5");
        assert_eq!(p("-0.00").to_string(), "0");
        assert_eq!(p("-0.05").to_string(), "-0.05");
        assert_eq!(p("100").to_string(), "100");
        assert_eq!(format_minor(-123450, 2), "-1234.50");
        assert_eq!(format_minor(5, 3), "0.005");
        assert_eq!(format_minor(i64::MIN, 2), "-92233720368547758.08");
        assert_eq!(p("4.0").to_integer(), Some(4));
        assert_eq!(p("4.5").to_integer(), None);
    }

    #[test]
    fn currencies() {
        assert_eq!(currency_digits("JPY"), 0);
        assert_eq!(currency_digits("KWD"), 3);
        assert_eq!(currency_digits("EUR"), 2);
        assert_eq!(normalize_currency(" gbp ").unwrap(), "GBP");
        assert!(normalize_currency("£").is_err());
        assert!(normalize_currency("EURO").is_err());
    }
}
