//! Fail fast or degrade? The cost of each at checkout when the stock database is down
//! (chapter 05).
//!
//! Degrading is right when the fallback is harmless: stale product descriptions, popular
//! items instead of recommendations. It is wrong when a stale answer commits you to
//! something you cannot keep. At checkout the cache still says "in stock", but the real
//! stock may have run out.
//!
//! * **Degrade:** accept orders from the cached stock. Afterwards, the orders beyond the
//!   real stock are oversold: each costs a refund, an apology and support time.
//! * **Fail fast:** "checkout temporarily unavailable, try again". Some customers come
//!   back after the outage and buy (while stock lasts); the rest are lost sales.
//!
//! Which costs less depends on how much stock was left when the database went down; the
//! experiment sweeps it. With `N` expected orders during the outage, `s` units left, a
//! share `c` coming back, margin `m` and oversell cost `o`: degrading costs
//! `o * max(0, N - s)` and failing fast costs `m * (min(N, s) - min(c N, s))`.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::error::{ConfigError, check_probability};
use crate::sim::{Arrivals, rng};

/// What the checkout does while the stock database is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Choice {
    /// Refuse orders: "checkout temporarily unavailable, try again".
    FailFast,
    /// Accept orders from the cached stock.
    Degrade,
}

impl Choice {
    /// Both, in the order the notebook shows them.
    pub const ALL: [Choice; 2] = [Choice::FailFast, Choice::Degrade];

    /// A name for tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            Choice::FailFast => "fail fast (\"try again later\")",
            Choice::Degrade => "degrade (sell from cached stock)",
        }
    }
}

/// The experiment's settings.
///
/// # Default
/// 0.5 orders/s during a 30-minute outage (about 900 orders); half the customers turned
/// away come back; a lost sale costs $10 of margin, an oversold order $40 (refund,
/// apology voucher, support).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StockOutage {
    /// Orders per second during the outage (Poisson).
    pub rate: f64,
    /// How long the stock database is down.
    pub outage: Duration,
    /// Share of turned-away customers who come back afterwards.
    pub come_back: f64,
    /// Margin lost with a lost sale, dollars.
    pub margin: f64,
    /// Cost of an oversold order, dollars.
    pub oversell_cost: f64,
}

impl Default for StockOutage {
    fn default() -> Self {
        Self {
            rate: 0.5,
            outage: Duration::from_secs(1800),
            come_back: 0.5,
            margin: 10.0,
            oversell_cost: 40.0,
        }
    }
}

/// What one outage cost.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cost {
    /// The choice.
    pub choice: Choice,
    /// Units in stock when the database went down.
    pub stock: u32,
    /// Orders placed during the outage.
    pub orders: u32,
    /// Orders that ended in a sale (during the outage, or by customers who came back).
    pub sold: u32,
    /// Customers who did not buy although stock was there for them.
    pub lost: u32,
    /// Orders accepted beyond the real stock.
    pub oversold: u32,
    /// Dollars: lost margin plus oversell costs.
    pub dollars: f64,
}

impl StockOutage {
    /// Checks the settings.
    ///
    /// # Errors
    /// A share outside 0-1, or a cost that is negative or not a number.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_probability("come_back", self.come_back)?;
        for (field, v) in [("margin", self.margin), ("oversell_cost", self.oversell_cost)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConfigError::new(field, format!("{v} is not a cost; use dollars, zero or more")));
            }
        }
        Ok(())
    }

    /// One outage with `stock` units left, handled as `choice`. Both choices see the same
    /// customers for the same seed.
    ///
    /// # Errors
    /// Invalid settings.
    pub fn run(&self, choice: Choice, stock: u32, seed: u64) -> Result<Cost, ConfigError> {
        self.validate()?;
        let mut r = rng(seed);
        let orders = Arrivals::flat(self.rate).sample(self.outage, &mut r)?.len() as u32;
        let (sold, lost, oversold) = match choice {
            Choice::Degrade => (orders.min(stock), 0, orders.saturating_sub(stock)),
            Choice::FailFast => {
                let returning = (0..orders).filter(|_| r.random::<f64>() < self.come_back).count() as u32;
                let sold = returning.min(stock);
                // Lost: customers who would have had stock, but did not come back.
                (sold, orders.min(stock) - sold, 0)
            }
        };
        let dollars = f64::from(lost) * self.margin + f64::from(oversold) * self.oversell_cost;
        Ok(Cost { choice, stock, orders, sold, lost, oversold, dollars })
    }

    /// The expected cost of `choice` with `stock` units left, from the formulas in the
    /// module documentation, taking the number of orders at its mean.
    pub fn expected(&self, choice: Choice, stock: u32) -> f64 {
        let n = self.rate * self.outage.as_secs_f64();
        let s = f64::from(stock);
        match choice {
            Choice::Degrade => self.oversell_cost * (n - s).max(0.0),
            Choice::FailFast => self.margin * (n.min(s) - (self.come_back * n).min(s)),
        }
    }

    /// Both choices for each stock level in `stocks`, averaged over `runs` outages
    /// (seeds `seed`, `seed + 1`, ...): `(stock, [fail fast, degrade] mean dollars)`.
    ///
    /// # Errors
    /// Invalid settings, or zero runs.
    pub fn sweep(&self, stocks: &[u32], runs: u32, seed: u64) -> Result<Vec<(u32, [f64; 2])>, ConfigError> {
        if runs == 0 {
            return Err(ConfigError::new("runs", "average over at least one run"));
        }
        stocks
            .iter()
            .map(|&s| {
                let mut mean = [0.0; 2];
                for (i, c) in Choice::ALL.iter().enumerate() {
                    for k in 0..runs {
                        mean[i] +=
                            self.run(*c, s, seed.wrapping_add(u64::from(k)))?.dollars / f64::from(runs);
                    }
                }
                Ok((s, mean))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_choice_wins_where_the_formula_says() {
        let x = StockOutage::default();
        // 900 orders expected. Plenty of stock: degrading costs nothing, failing fast
        // loses the half that never comes back. No stock: degrading oversells everything.
        let plenty = x.sweep(&[5000], 200, 1).unwrap()[0].1;
        assert_eq!(plenty[1], 0.0);
        assert!(
            (plenty[0] - x.expected(Choice::FailFast, 5000)).abs()
                < 0.03 * x.expected(Choice::FailFast, 5000)
        );
        let none = x.sweep(&[0], 200, 1).unwrap()[0].1;
        assert_eq!(none[0], 0.0);
        assert!((none[1] - 36_000.0).abs() < 0.03 * 36_000.0, "{}", none[1]);
        // The crossover: 40 (900 - s) = 10 (s - 450) at s = 810.
        assert!(x.expected(Choice::Degrade, 700) > x.expected(Choice::FailFast, 700));
        assert!(x.expected(Choice::Degrade, 850) < x.expected(Choice::FailFast, 850));
    }

    #[test]
    fn bad_settings_are_refused() {
        let x = StockOutage { oversell_cost: -1.0, ..StockOutage::default() };
        assert_eq!(x.run(Choice::Degrade, 1, 1).unwrap_err().field, "oversell_cost");
    }
}
