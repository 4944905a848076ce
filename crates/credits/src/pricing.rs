//! Prices are integer credits; token prices are per 1,000 tokens and round up, so a request
//! never costs less than its share.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Prices {
    pub per_request: i64,
    pub per_1k_prompt_tokens: i64,
    pub per_1k_completion_tokens: i64,
    pub per_image: i64,
}

impl Prices {
    pub fn cost(&self, prompt_tokens: u32, completion_tokens: u32, images: u32) -> i64 {
        let per_tokens = |tokens: u32, per_1k: i64| {
            (i64::from(tokens).saturating_mul(per_1k) + 999).div_euclid(1000)
        };
        self.per_request
            .saturating_add(per_tokens(prompt_tokens, self.per_1k_prompt_tokens))
            .saturating_add(per_tokens(completion_tokens, self.per_1k_completion_tokens))
            .saturating_add(i64::from(images).saturating_mul(self.per_image))
    }
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

    pub fn cost(&self, prompt_tokens: u32, completion_tokens: u32, images: u32) -> i64 {
        let base = self.prices.cost(prompt_tokens, completion_tokens, images);
        if self.percent == 100 {
            return base;
        }
        let scaled = (i128::from(base) * i128::from(self.percent) + 99).div_euclid(100);
        i64::try_from(scaled).unwrap_or(i64::MAX)
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
}
