//! Prices are integer credits; token prices are per 1,000 tokens and round up, so a request
//! never costs less than its share. Costs are computed in `i128` and bounded by
//! [`MAX_CREDITS`]: no price or token count can wrap one around (to 0 or below).

use confab_core::MAX_CREDITS;
use serde::{Deserialize, Serialize};

/// A model's list prices, in credits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Prices {
    /// Per request.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub per_request: i64,
    /// Per 1,000 prompt tokens.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub per_1k_prompt_tokens: i64,
    /// Per 1,000 answer tokens.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub per_1k_completion_tokens: i64,
    /// Per image.
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub per_image: i64,
}

impl Prices {
    /// The exact cost, however large.
    fn exact(&self, prompt_tokens: u32, completion_tokens: u32, images: u32) -> i128 {
        let per_tokens = |tokens: u32, per_1k: i64| {
            (i128::from(tokens) * i128::from(per_1k) + 999).div_euclid(1000)
        };
        i128::from(self.per_request)
            + per_tokens(prompt_tokens, self.per_1k_prompt_tokens)
            + per_tokens(completion_tokens, self.per_1k_completion_tokens)
            + i128::from(images) * i128::from(self.per_image)
    }

    /// The cost, or `None` when it is above [`MAX_CREDITS`] (more than anyone can pay).
    pub fn checked_cost(
        &self,
        prompt_tokens: u32,
        completion_tokens: u32,
        images: u32,
    ) -> Option<i64> {
        bounded(self.exact(prompt_tokens, completion_tokens, images))
    }

    /// The cost, at most [`MAX_CREDITS`] (what a hold, which is never larger, caps anyway).
    pub fn cost(&self, prompt_tokens: u32, completion_tokens: u32, images: u32) -> i64 {
        self.checked_cost(prompt_tokens, completion_tokens, images)
            .unwrap_or(MAX_CREDITS)
    }
}

fn bounded(cost: i128) -> Option<i64> {
    i64::try_from(cost)
        .ok()
        .filter(|cost| (0..=MAX_CREDITS).contains(cost))
}

/// A model's prices as one caller pays them: the caller's tier multiplier (a percentage) is
/// applied to the whole cost, rounded up, so a discount never makes a request free by rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub prices: Prices,
    pub percent: u32,
}

impl Rate {
    pub fn full(prices: Prices) -> Self {
        Self {
            prices,
            percent: 100,
        }
    }

    /// The cost, or `None` when it is above [`MAX_CREDITS`]: a request that could cost that
    /// much is refused before it starts, never charged less.
    pub fn checked_cost(
        &self,
        prompt_tokens: u32,
        completion_tokens: u32,
        images: u32,
    ) -> Option<i64> {
        let base = self.prices.exact(prompt_tokens, completion_tokens, images);
        bounded((base * i128::from(self.percent) + 99).div_euclid(100))
    }

    /// The cost, at most [`MAX_CREDITS`].
    pub fn cost(&self, prompt_tokens: u32, completion_tokens: u32, images: u32) -> i64 {
        self.checked_cost(prompt_tokens, completion_tokens, images)
            .unwrap_or(MAX_CREDITS)
    }
}

impl Prices {
    /// Nothing about the model costs credits (no hold, no tier lookup needed for the price).
    pub fn is_free(&self) -> bool {
        *self == Prices::default()
    }
}

#[cfg(test)]
mod tests {
    use super::{Prices, Rate};

    #[test]
    fn multipliers_apply_to_the_total_and_round_up() {
        let prices = Prices {
            per_1k_completion_tokens: 3,
            ..Prices::default()
        };
        let half = Rate {
            prices,
            percent: 50,
        };
        assert_eq!(Rate::full(prices).cost(0, 1000, 0), 3);
        assert_eq!(half.cost(0, 1000, 0), 2);
        assert_eq!(Rate { prices, percent: 0 }.cost(0, 1000, 0), 0);
        assert_eq!(
            Rate {
                prices,
                percent: 250
            }
            .cost(0, 1000, 0),
            8
        );
    }

    #[test]
    fn token_prices_round_up() {
        let prices = Prices {
            per_request: 1,
            per_1k_prompt_tokens: 10,
            per_1k_completion_tokens: 30,
            per_image: 0,
        };
        assert_eq!(prices.cost(0, 0, 0), 1);
        assert_eq!(prices.cost(1, 0, 0), 2);
        assert_eq!(prices.cost(1000, 1000, 0), 41);
        assert_eq!(prices.cost(1001, 0, 0), 12);
        let images = Prices {
            per_image: 50,
            ..Prices::default()
        };
        assert_eq!(images.cost(0, 0, 3), 150);
    }

    #[test]
    fn huge_prices_never_wrap_around() {
        let extreme = Prices {
            per_1k_completion_tokens: i64::MAX,
            ..Prices::default()
        };
        assert_eq!(extreme.checked_cost(0, 1000, 0), None);
        assert_eq!(extreme.cost(0, 1000, 0), confab_core::MAX_CREDITS);
        let rate = Rate {
            prices: extreme,
            percent: 1000,
        };
        assert_eq!(rate.checked_cost(0, u32::MAX, 0), None);
        assert_eq!(rate.cost(0, u32::MAX, 0), confab_core::MAX_CREDITS);

        let most = Prices {
            per_request: confab_core::MAX_PRICE,
            per_1k_prompt_tokens: confab_core::MAX_PRICE,
            per_1k_completion_tokens: confab_core::MAX_PRICE,
            per_image: confab_core::MAX_PRICE,
        };
        let ten_times = Rate {
            prices: most,
            percent: 1000,
        };
        // The largest allowed prices over a model's largest window stay payable...
        assert_eq!(
            ten_times.checked_cost(10_000_000, 10_000_000, 10),
            Some(200_000_000_000_000 + 10_000_000_000 + 100_000_000_000)
        );
        // ...and over impossible token counts are refused, not wrapped.
        assert_eq!(ten_times.checked_cost(u32::MAX, u32::MAX, u32::MAX), None);
    }
}
