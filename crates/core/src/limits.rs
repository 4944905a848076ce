//! The largest numbers Confab accepts, so no sum, product or database column can overflow.
//! They are part of the API contract (the OpenAPI document states them as `maximum`).

/// The most credits anything holds or moves: a balance, an adjustment, a cost.
/// 10^15 is far beyond any real account and 9,000 times below `i64::MAX`, so adding two amounts
/// that each respect it can never overflow (SQLite would silently turn such a sum into a REAL).
pub const MAX_CREDITS: i64 = 1_000_000_000_000_000;

/// The most a model may cost per request, per 1,000 prompt or completion tokens and per image:
/// 10^9 credits. At `u32::MAX` tokens and the largest tier multiplier (1000 %), each token
/// term (price x tokens / 1000 x 10) stays near 4.3 x 10^16, well inside `i64`; pricing still
/// computes in `i128`, so even `u32::MAX` images cannot overflow, and a cost above
/// [`MAX_CREDITS`] is refused, never wrapped or made free.
pub const MAX_PRICE: i64 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_product_fits_in_i64() {
        let per_term = i128::from(MAX_PRICE) * i128::from(u32::MAX) / 1000 * 10;
        assert!(4 * per_term < i128::from(i64::MAX));
        assert!(MAX_CREDITS.checked_add(MAX_CREDITS).is_some());
    }
}
