//! Money as integer cents (fen for CNY). Gateways that speak decimal yuan strings ("12.30") go
//! through [`yuan_to_cents`] and [`cents_to_yuan`]; no float ever touches an amount.

/// Why a decimal amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not of the form `digits[.d[d]]` (no sign, no exponent, at most two decimals).
    #[error("not a decimal amount with at most two decimals: {0:?}")]
    Format(String),
    /// Too large to count in `i64` cents.
    #[error("amount out of range")]
    Overflow,
}

/// Parses a non-negative decimal amount with at most two decimals into cents: `"12.30"` ->
/// `1230`, `"12.3"` -> `1230`, `"12"` -> `1200`. Refuses signs, exponents, spaces, a dot without
/// digits on both sides, and more than two decimals.
pub fn yuan_to_cents(text: &str) -> Result<i64, MoneyError> {
    let bad = || MoneyError::Format(text.chars().take(32).collect());
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let frac_cents = match frac {
        None => 0,
        Some(f) if f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(bad());
        }
        Some(f) => {
            let digits: i64 = f.bytes().fold(0, |acc, b| acc * 10 + i64::from(b - b'0'));
            if f.len() == 1 { digits * 10 } else { digits }
        }
    };
    let mut units: i64 = 0;
    for b in whole.bytes() {
        units = units
            .checked_mul(10)
            .and_then(|u| u.checked_add(i64::from(b - b'0')))
            .ok_or(MoneyError::Overflow)?;
    }
    units
        .checked_mul(100)
        .and_then(|c| c.checked_add(frac_cents))
        .ok_or(MoneyError::Overflow)
}

/// Formats cents as a decimal amount with exactly two decimals: `1230` -> `"12.30"`, `5` ->
/// `"0.05"`, `-150` -> `"-1.50"`.
pub fn cents_to_yuan(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_amounts() {
        assert_eq!(yuan_to_cents("12.30"), Ok(1230));
        assert_eq!(yuan_to_cents("12.3"), Ok(1230));
        assert_eq!(yuan_to_cents("12"), Ok(1200));
        assert_eq!(yuan_to_cents("0.01"), Ok(1));
        assert_eq!(yuan_to_cents("0"), Ok(0));
        assert_eq!(yuan_to_cents("007.05"), Ok(705));
        assert_eq!(yuan_to_cents("92233720368547758.07"), Ok(i64::MAX));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "", ".", "12.", ".5", "1.234", "-1.00", "+1", "1e3", "1.0e1", " 1", "1 ", "1,00",
            "1.-1", "NaN", "inf", "1..2", "1.2.3", "１",
        ] {
            assert!(
                matches!(yuan_to_cents(bad), Err(MoneyError::Format(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            yuan_to_cents("92233720368547758.08"),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            yuan_to_cents("99999999999999999999"),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn formats_cents() {
        assert_eq!(cents_to_yuan(1230), "12.30");
        assert_eq!(cents_to_yuan(5), "0.05");
        assert_eq!(cents_to_yuan(0), "0.00");
        assert_eq!(cents_to_yuan(100), "1.00");
        assert_eq!(cents_to_yuan(-150), "-1.50");
        assert_eq!(cents_to_yuan(i64::MIN), "-92233720368547758.08");
    }

    #[test]
    fn round_trips() {
        for cents in [0, 1, 9, 10, 99, 100, 101, 123_456_789, i64::MAX] {
            assert_eq!(yuan_to_cents(&cents_to_yuan(cents)), Ok(cents));
        }
    }
}
