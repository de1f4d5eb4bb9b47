//! A day of shop traffic with the recommendation engine down for part of it: the
//! article's e-commerce story (chapter 05).
//!
//! Visitors arrive all day (Poisson, with a daily cycle). Each renders the product page
//! with the [page model](crate::degrade::page) as the dependencies stand at that moment,
//! then may buy. The model's assumptions, all fields of [`ShopDay`]:
//!
//! * a visitor whose page renders fully buys with probability `conversion`;
//! * a share `via_recommendations` of those purchases comes through the recommendations
//!   section, the rest from the product itself;
//! * when popular items stand in for recommendations, they still make a share
//!   `popular_recovers` of the purchases recommendations would have made; a hidden or
//!   empty section makes none;
//! * an error page sells nothing, and a visitor buys only if checkout works.
//!
//! So during the outage, sales relative to normal are
//! `1 - via_recommendations * (1 - popular_recovers)` with degradation (0.85 with the
//! defaults: the article's "sales continue at 85% of normal"), `1 - via_recommendations`
//! with errors caught but no fallback (0.70), and 0 when any error fails the page. The
//! 85% is therefore an *input* built from two stated assumptions; the simulation shows
//! what it means hour by hour, with the noise of real traffic, and the tests check that
//! the measured share agrees with it.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::degrade::{Dependency, Health, Mode, Shown, Status, storefront};
use crate::error::{ConfigError, check_probability};
use crate::sim::{Arrivals, SimTime, count_in_bins, rng, substream};

/// The day's settings.
///
/// # Default
/// Traffic peaking at 3 visits/s at 20:00, 15% of that at the quietest hour (about
/// 150,000 visits); the recommendation engine down from 10:00 to 16:00; 3% of visits buy;
/// 30% of purchases come through recommendations; popular items recover half of those.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ShopDay {
    /// Visitor arrivals (t = 0 is midnight).
    pub traffic: Arrivals,
    /// Simulated time.
    pub horizon: Duration,
    /// Which dependency goes down.
    pub down: Dependency,
    /// `(start, end)` of the outage.
    pub outage: (SimTime, SimTime),
    /// Share of fully rendered visits that buy.
    pub conversion: f64,
    /// Share of purchases that come through the recommendations section.
    pub via_recommendations: f64,
    /// Share of those that popular items still make when they stand in.
    pub popular_recovers: f64,
}

impl Default for ShopDay {
    fn default() -> Self {
        let h = |x: u64| Duration::from_secs(x * 3600);
        Self {
            traffic: Arrivals::daily(3.0, 20.0, 0.15),
            horizon: h(24),
            down: Dependency::Recommendations,
            outage: (h(10), h(16)),
            conversion: 0.03,
            via_recommendations: 0.30,
            popular_recovers: 0.5,
        }
    }
}

/// One visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Visit {
    /// When it happened.
    pub at: SimTime,
    /// What the product page did.
    pub status: Status,
    /// Whether the visitor bought.
    pub bought: bool,
}

/// One simulated day.
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    /// How the pages handled the outage (`None`: a normal day, no outage).
    pub mode: Option<Mode>,
    /// Every visit, in order.
    pub visits: Vec<Visit>,
}

impl Day {
    /// A name for tables and legends.
    pub fn name(&self) -> &'static str {
        self.mode.map_or("normal day (no outage)", Mode::name)
    }

    /// Visits matching `keep` per hour, as `(middle of the hour, count)`: the visits from
    /// 10:00 to 11:00 are at 10.5.
    pub fn per_hour(&self, keep: impl Fn(&Visit) -> bool) -> Vec<(f64, f64)> {
        let hours = self.visits.last().map_or(0, |v| v.at.as_secs() / 3600 + 1).max(24);
        let times = self.visits.iter().filter(|v| keep(v)).map(|v| v.at);
        count_in_bins(times, 3600.0, hours as f64 * 3600.0)
            .iter()
            .enumerate()
            .map(|(h, &k)| (h as f64 + 0.5, k as f64))
            .collect()
    }

    /// Purchases made in `[from, to)`.
    pub fn sales_between(&self, from: SimTime, to: SimTime) -> usize {
        self.visits.iter().filter(|v| v.bought && from <= v.at && v.at < to).count()
    }
}

impl ShopDay {
    /// Sales during the outage relative to a normal day, as the model's assumptions
    /// predict for `mode`.
    pub fn predicted_share(&self, mode: Mode) -> f64 {
        match mode {
            Mode::FailWhole => 0.0,
            Mode::NoFallback => 1.0 - self.via_recommendations,
            Mode::Degrade => 1.0 - self.via_recommendations * (1.0 - self.popular_recovers),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A share outside 0-1, an outage that ends before it starts, or traffic the
    /// sampler refuses.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_probability("conversion", self.conversion)?;
        check_probability("via_recommendations", self.via_recommendations)?;
        check_probability("popular_recovers", self.popular_recovers)?;
        if self.outage.1 < self.outage.0 {
            return Err(ConfigError::new("outage", "the outage ends before it starts; swap the two times"));
        }
        Ok(())
    }

    /// Simulates the day, the pages handling the outage as `mode` (`None`: no outage).
    /// Every mode sees the same visitors making the same choices for the same seed, so
    /// differences between modes are the mode's alone.
    ///
    /// # Errors
    /// Invalid settings ([`validate`](Self::validate)).
    pub fn run(&self, mode: Option<Mode>, seed: u64) -> Result<Day, ConfigError> {
        self.run_with(&Health::with_down(&[self.down]), mode, seed)
    }

    /// [`run`](Self::run) with every dependency that `broken` has down failing during the
    /// outage (instead of `down` alone).
    ///
    /// # Errors
    /// Invalid settings ([`validate`](Self::validate)).
    pub fn run_with(&self, broken: &Health, mode: Option<Mode>, seed: u64) -> Result<Day, ConfigError> {
        self.validate()?;
        let arrivals = self.traffic.sample(self.horizon, &mut rng(seed))?;
        let mut choice = substream(seed, 1);
        let [product, checkout] = storefront();
        // The pages depend only on the health and the mode: each is rendered once.
        let visit = |health: &Health, how: Mode| {
            let page = product.render(health, how);
            let recs = match page.section("recommendations") {
                Some(Shown::Live) => 1.0,
                Some(Shown::Fallback(_)) => self.popular_recovers,
                _ => 0.0,
            };
            let can_pay = checkout.render(health, how).section("payment") == Some(&Shown::Live);
            let p = self.conversion * ((1.0 - self.via_recommendations) + self.via_recommendations * recs);
            let served = !matches!(page.status, Status::Error(_));
            (page.status, served && can_pay, p)
        };
        let healthy = visit(&Health::all_up(), Mode::Degrade);
        let during = mode.map_or(healthy, |m| visit(broken, m));
        let visits = arrivals
            .into_iter()
            .map(|at| {
                let u: f64 = choice.random();
                let (status, can_buy, p) = if mode.is_some() && self.outage.0 <= at && at < self.outage.1 {
                    during
                } else {
                    healthy
                };
                Visit { at, status, bought: can_buy && u < p }
            })
            .collect();
        Ok(Day { mode, visits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measured share of normal sales during the outage agrees with the model's
    /// prediction within 3 binomial standard errors.
    #[test]
    fn sales_during_the_outage_match_the_models_share() {
        let d = ShopDay::default();
        let normal = d.run(None, 5).unwrap();
        let base = normal.sales_between(d.outage.0, d.outage.1) as f64;
        assert!(base > 500.0, "{base}");
        for mode in Mode::ALL {
            let day = d.run(Some(mode), 5).unwrap();
            let got = day.sales_between(d.outage.0, d.outage.1) as f64 / base;
            let want = d.predicted_share(mode);
            // Common random numbers: a mode's buyers are a subset of the normal day's.
            let se = (want * (1.0 - want) / base).sqrt();
            assert!((got - want).abs() <= 3.0 * se + 1e-9, "{mode:?}: {got} vs {want}");
            // Outside the outage, every mode sells exactly as on a normal day.
            assert_eq!(
                day.sales_between(Duration::ZERO, d.outage.0),
                normal.sales_between(Duration::ZERO, d.outage.0)
            );
        }
        assert!((d.predicted_share(Mode::Degrade) - 0.85).abs() < 1e-12);
        let errors = d
            .run(Some(Mode::FailWhole), 5)
            .unwrap()
            .visits
            .iter()
            .filter(|v| v.status == Status::Error(500))
            .count();
        assert!(errors > 10_000, "{errors}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let d = ShopDay { via_recommendations: 1.5, ..ShopDay::default() };
        assert_eq!(d.run(None, 1).unwrap_err().field, "via_recommendations");
    }
}
