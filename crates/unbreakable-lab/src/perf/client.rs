//! What the client sees: how long a response takes to arrive over a link, and an
//! infinite-scroll session that fetches pages by cursor, with and without prefetching.
//!
//! A model, not a measurement: [`fetch_time`] is one request on an open connection, with
//! TCP slow start (an initial window of 10 segments of 1,460 bytes, RFC 6928, doubling
//! every round trip until the window fills the link) and no loss. It leaves out DNS, the
//! TCP and TLS handshakes, the time to parse and render, and any competing traffic, so
//! it is a lower bound on what a user waits.

use std::time::Duration;

use rand_distr::{Distribution, Exp};

use crate::error::ConfigError;
use crate::sim::rng;

/// TCP's initial window (RFC 6928): 10 segments.
pub const INITIAL_WINDOW: usize = 10 * SEGMENT;
/// One TCP segment's payload on an Ethernet path (MTU 1,500 less 40 bytes of headers).
pub const SEGMENT: usize = 1_460;

/// A network path: its round-trip time and its bandwidth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Round-trip time.
    pub rtt: Duration,
    /// Bandwidth, bytes per second.
    pub bytes_per_s: f64,
}

impl Link {
    /// A link of `mbit_s` megabits per second and `rtt` round trip.
    ///
    /// # Errors
    /// A bandwidth that is not a positive number.
    pub fn new(mbit_s: f64, rtt: Duration) -> Result<Self, ConfigError> {
        if !(mbit_s.is_finite() && mbit_s > 0.0) {
            return Err(ConfigError::new(
                "mbit_s",
                format!("{mbit_s} Mbit/s is not a bandwidth; give a positive number"),
            ));
        }
        Ok(Self { rtt, bytes_per_s: mbit_s * 1e6 / 8.0 })
    }
}

/// Time from sending a request on an open connection to the last byte of a `bytes`
/// response, when the server takes `server` to produce it: half a round trip up, the
/// server's time, then slow start (each window sent, then a round trip for its
/// acknowledgements, the window doubling) until the window covers the link's
/// bandwidth-delay product, the rest at the link's full rate, and half a round trip
/// for the last byte to arrive.
pub fn fetch_time(link: Link, bytes: usize, server: Duration) -> Duration {
    let rtt = link.rtt.as_secs_f64();
    let mut t = rtt / 2.0 + server.as_secs_f64();
    let (mut left, mut window) = (bytes as f64, INITIAL_WINDOW as f64);
    loop {
        let send = left.min(window);
        let wire = send / link.bytes_per_s;
        left -= send;
        if left <= 0.0 {
            t += wire;
            break;
        }
        if wire >= rtt {
            // The window fills the link: the rest streams at the link's rate.
            t += (send + left) / link.bytes_per_s;
            break;
        }
        t += rtt;
        window *= 2.0;
    }
    Duration::from_secs_f64(t + rtt / 2.0)
}

/// A user scrolling a list served in pages by cursor ("the frontend fetches more as
/// the user scrolls"). The user looks at each item for a random time (exponential, mean
/// `dwell`); the next page is requested when `prefetch_at` items of the current pages
/// are left unseen (0: only when the user reaches the end, and then waits). A stall is
/// the user reaching the end of what has arrived before the next page is there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scroll {
    /// Items the user looks at in the session.
    pub items: u32,
    /// Items per page.
    pub page: u32,
    /// Mean time on one item.
    pub dwell: Duration,
    /// Request the next page when this many items are left unseen (below `page`).
    pub prefetch_at: u32,
    /// Time to fetch one page (see [`fetch_time`]).
    pub fetch: Duration,
}

/// What a [`Scroll`] session cost the user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScrollRun {
    /// Pages fetched after the first.
    pub fetches: u32,
    /// Fetches the user had to wait for.
    pub stalls: u32,
    /// Total time spent waiting.
    pub waited: Duration,
}

impl Scroll {
    /// Checks the session.
    ///
    /// # Errors
    /// No items or no page, a prefetch point that is not inside a page, or a zero dwell.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.items == 0 || self.page == 0 {
            return Err(ConfigError::new(
                "items",
                "a session needs at least one item and pages of at least one",
            ));
        }
        if self.prefetch_at >= self.page {
            return Err(ConfigError::new(
                "prefetch_at",
                format!(
                    "{} is not inside a page of {}; use 0 to {}",
                    self.prefetch_at,
                    self.page,
                    self.page - 1
                ),
            ));
        }
        if self.dwell.is_zero() {
            return Err(ConfigError::new(
                "dwell",
                "a user who spends no time on an item; give a positive mean",
            ));
        }
        Ok(())
    }

    /// One session (the first page is already there, as after the first view).
    ///
    /// # Errors
    /// See [`Scroll::check`].
    pub fn run(&self, seed: u64) -> Result<ScrollRun, ConfigError> {
        self.check()?;
        let dwell =
            Exp::new(1.0 / self.dwell.as_secs_f64()).map_err(|e| ConfigError::new("dwell", e.to_string()))?;
        let mut r = rng(seed);
        let fetch = self.fetch.as_secs_f64();
        let (mut now, mut waited, mut stalls, mut fetches) = (0.0f64, 0.0f64, 0u32, 0u32);
        let mut loaded = self.page.min(self.items); // items that have arrived
        let mut pending: Option<f64> = None; // when the page in flight arrives
        for seen in 0..self.items {
            if seen == loaded {
                // The user reached the end of what has arrived.
                let arrives = pending.take().unwrap_or_else(|| {
                    fetches += 1;
                    now + fetch
                });
                if arrives > now {
                    stalls += 1;
                    waited += arrives - now;
                    now = arrives;
                }
                loaded = (loaded + self.page).min(self.items);
            }
            if self.prefetch_at > 0
                && pending.is_none()
                && loaded < self.items
                && loaded - seen == self.prefetch_at
            {
                fetches += 1;
                pending = Some(now + fetch);
            }
            now += dwell.sample(&mut r);
        }
        Ok(ScrollRun { fetches, stalls, waited: Duration::from_secs_f64(waited) })
    }

    /// The closed form of the share of fetches that stall with prefetching: the user gets
    /// through `prefetch_at` items (a sum of exponentials: an Erlang distribution) before
    /// the fetch returns. `None` without prefetching (then every fetch stalls).
    pub fn stall_probability(&self) -> Option<f64> {
        if self.prefetch_at == 0 {
            return None;
        }
        let x = self.fetch.as_secs_f64() / self.dwell.as_secs_f64();
        let (mut term, mut sum) = (1.0f64, 1.0f64);
        for k in 1..self.prefetch_at {
            term *= x / f64::from(k);
            sum += term;
        }
        Some(1.0 - (-x).exp() * sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn the_articles_two_seconds_and_fifty_milliseconds() {
        // 20 Mbit/s and a 50 ms round trip: 5 MB takes about 2 s, a 10 KB page about 50 ms.
        let link = Link::new(20.0, ms(50)).unwrap();
        let big = fetch_time(link, 5_000_000, Duration::ZERO).as_secs_f64();
        let page = fetch_time(link, 10_000, Duration::ZERO).as_secs_f64();
        assert!((2.1..2.3).contains(&big), "{big}");
        assert!((0.050..0.060).contains(&page), "{page}");
        // Within the initial window a response costs one round trip plus its bytes.
        assert!((page - (0.050 + 10_000.0 / 2.5e6)).abs() < 1e-9);
        // On a link whose window fills at once, only the bytes count.
        let lan = Link::new(1000.0, Duration::ZERO).unwrap();
        assert!((fetch_time(lan, 1_250_000, Duration::ZERO).as_secs_f64() - 0.01).abs() < 1e-9);
        assert!(Link::new(0.0, ms(1)).is_err() && Link::new(f64::NAN, ms(1)).is_err());
    }

    #[test]
    fn prefetching_stalls_as_often_as_the_closed_form_says() {
        let s = Scroll { items: 20_000, page: 20, dwell: ms(150), prefetch_at: 5, fetch: ms(400) };
        let run = s.run(42).unwrap();
        let share = f64::from(run.stalls) / f64::from(run.fetches);
        let p = s.stall_probability().unwrap();
        assert!((share - p).abs() < 0.03, "simulated {share}, closed form {p}");
        assert_eq!(run.fetches, 20_000 / 20 - 1);
        // Without prefetching, every fetch is waited for in full.
        let lazy = Scroll { prefetch_at: 0, ..s }.run(42).unwrap();
        assert_eq!((lazy.stalls, lazy.fetches), (999, 999));
        assert!((lazy.waited.as_secs_f64() - 999.0 * 0.4).abs() < 1e-6);
        assert!(run.waited < lazy.waited / 5);
        assert_eq!(s.run(42).unwrap(), run, "same seed, same session");
        assert!(Scroll { prefetch_at: 20, ..s }.run(1).is_err() && Scroll { page: 0, ..s }.run(1).is_err());
    }
}
