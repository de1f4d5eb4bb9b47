//! Backoff policies: pure iterators of delays.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::error::ConfigError;

/// How randomness is added to an exponential backoff.
///
/// With `t = min(cap, base * 2^n)` for retry number `n`:
///
/// | jitter | delay |
/// |---|---|
/// | `None` | `t` |
/// | `Full` | `U(0, t)` |
/// | `Equal` | `t/2 + U(0, t/2)` |
/// | `Decorrelated` | `min(cap, U(base, 3 * previous))`, previous starting at `base` |
///
/// The names and formulas are those of Marc Brooker's "Exponential Backoff And Jitter"
/// (AWS Architecture Blog, 2015).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Jitter {
    /// No randomness: every client waits the same.
    None,
    /// Uniform between zero and the exponential delay.
    Full,
    /// Half the exponential delay, plus uniform over the other half.
    Equal,
    /// Each delay is drawn from `U(base, 3 * previous delay)`, capped.
    Decorrelated,
}

impl Jitter {
    /// All variants, in the order charts show them.
    pub const ALL: [Jitter; 4] = [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated];

    /// A short name for tables and legends.
    pub fn name(self) -> &'static str {
        match self {
            Jitter::None => "exponential",
            Jitter::Full => "full jitter",
            Jitter::Equal => "equal jitter",
            Jitter::Decorrelated => "decorrelated jitter",
        }
    }
}

/// Upper bound on any delay, so that no configuration can overflow time arithmetic.
pub const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
enum Kind {
    Immediate,
    Constant(Duration),
    Exponential { base: Duration, cap: Duration, jitter: Jitter, first_exponent: u32 },
}

/// A validated backoff policy: what to wait before each retry.
///
/// A `Backoff` is a value (copy it freely); [`delays`](Backoff::delays) turns it into an
/// iterator of delays with its own random stream. The iterator never ends: bound it
/// with `.take(max_retries)` or use a [`RetryPolicy`](super::RetryPolicy).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use unbreakable::retry::{Backoff, Jitter};
///
/// // Base 1000 ms, no jitter: 1 s, 2 s, 4 s, 8 s, 16 s.
/// let b = Backoff::exponential(Duration::from_millis(1000)).build().unwrap();
/// let d: Vec<u64> = b.delays(unbreakable::retry::seeded_rng(0, 0)).take(5).map(|d| d.as_millis() as u64).collect();
/// assert_eq!(d, [1000, 2000, 4000, 8000, 16000]);
///
/// // A cap below the base is a mistake, caught when built:
/// let err = Backoff::exponential(Duration::from_secs(2)).with_cap(Duration::from_secs(1)).build();
/// assert!(err.unwrap_err().to_string().contains("cap"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Backoff {
    kind: Kind,
}

impl Backoff {
    /// Retry at once, every time (the thundering-herd maker; useful as a baseline).
    pub fn immediate() -> Self {
        Self { kind: Kind::Immediate }
    }

    /// The same delay before every retry.
    ///
    /// # Errors
    /// If `delay` is longer than [`MAX_DELAY`].
    pub fn constant(delay: Duration) -> Result<Self, ConfigError> {
        if delay > MAX_DELAY {
            return Err(ConfigError::new(
                "delay",
                format!("{delay:?} is longer than the {MAX_DELAY:?} limit"),
            ));
        }
        Ok(Self { kind: Kind::Constant(delay) })
    }

    /// The longest wait a server's `Retry-After` may ask for before a retry executor
    /// gives up instead of waiting: the cap of an exponential backoff, [`DEFAULT_CAP`]
    /// (20 s) for the others.
    pub fn retry_after_limit(&self) -> Duration {
        match self.kind {
            Kind::Exponential { cap, .. } => cap,
            Kind::Immediate | Kind::Constant(_) => DEFAULT_CAP,
        }
    }

    /// Capped exponential backoff starting at `base`; configure, then
    /// [`build`](ExponentialBuilder::build).
    pub fn exponential(base: Duration) -> ExponentialBuilder {
        ExponentialBuilder { base, cap: None, jitter: Jitter::None, first_exponent: 0 }
    }

    /// A short description for legends, such as `"full jitter (base 5ms, cap 2s)"`.
    pub fn label(&self) -> String {
        match self.kind {
            Kind::Immediate => "immediate".into(),
            Kind::Constant(d) => format!("constant {d:?}"),
            Kind::Exponential { base, cap, jitter, .. } => {
                format!("{} (base {base:?}, cap {cap:?})", jitter.name())
            }
        }
    }

    /// The jitter of an exponential policy (`None` for the others).
    pub fn jitter(&self) -> Option<Jitter> {
        match self.kind {
            Kind::Exponential { jitter, .. } => Some(jitter),
            _ => None,
        }
    }

    /// The range `[lo, hi]` the delay of retry `n` (0-based) can take. For decorrelated
    /// jitter the bound does not depend on `n`: `[base, cap]`.
    pub fn bounds(&self, n: u32) -> (Duration, Duration) {
        match self.kind {
            Kind::Immediate => (Duration::ZERO, Duration::ZERO),
            Kind::Constant(d) => (d, d),
            Kind::Exponential { base, cap, jitter, first_exponent } => {
                let t = exp_delay(base, cap, first_exponent.saturating_add(n));
                match jitter {
                    Jitter::None => (t, t),
                    Jitter::Full => (Duration::ZERO, t),
                    Jitter::Equal => (t / 2, t),
                    Jitter::Decorrelated => (base.min(cap), cap),
                }
            }
        }
    }

    /// The pure formula: the delay before retry `n` (0-based), given the previous delay
    /// (used by decorrelated jitter only) and a uniform draw `u` from `[0, 1)`.
    pub fn delay(&self, n: u32, previous: Duration, u: f64) -> Duration {
        let u = if u.is_finite() { u.clamp(0.0, 1.0) } else { 0.0 };
        match self.kind {
            Kind::Immediate => Duration::ZERO,
            Kind::Constant(d) => d,
            Kind::Exponential { base, cap, jitter, first_exponent } => {
                let t = exp_delay(base, cap, first_exponent.saturating_add(n));
                match jitter {
                    Jitter::None => t,
                    Jitter::Full => t.mul_f64(u),
                    Jitter::Equal => t / 2 + (t / 2).mul_f64(u),
                    Jitter::Decorrelated => {
                        let hi = previous.max(base).saturating_mul(3).min(MAX_DELAY);
                        (base + (hi - base).mul_f64(u)).min(cap)
                    }
                }
            }
        }
    }

    /// An endless iterator of delays drawing its randomness from `rng`.
    pub fn delays<R: Rng>(&self, rng: R) -> Delays<R> {
        let previous = match self.kind {
            Kind::Exponential { base, .. } => base,
            _ => Duration::ZERO,
        };
        Delays { backoff: *self, rng, n: 0, previous }
    }
}

/// `min(cap, base * 2^e)`, exact for every `e`, without overflow.
fn exp_delay(base: Duration, cap: Duration, e: u32) -> Duration {
    let (base, cap_ns) = (base.as_nanos(), cap.as_nanos());
    // base * 2^e > cap exactly when base > floor(cap / 2^e); a shift of 128 or more is 0.
    if base > cap_ns.checked_shr(e).unwrap_or(0) {
        return cap;
    }
    // Now base * 2^e <= cap: no bit is lost and the seconds fit a u64; a shift of 128 or
    // more only gets here for a zero base.
    let ns = base.checked_shl(e).unwrap_or(0);
    let nanos_per_sec = 1_000_000_000;
    u64::try_from(ns / nanos_per_sec).map_or(cap, |secs| Duration::new(secs, (ns % nanos_per_sec) as u32))
}

/// Builder of an exponential [`Backoff`].
///
/// # Default
/// | setting | default |
/// |---|---|
/// | cap | 20 s (or the base, if that is larger than 20 s) |
/// | jitter | [`Jitter::None`] |
/// | first exponent | 0: the first retry waits `base * 2^0 = base` |
#[derive(Debug, Clone, Copy)]
#[must_use = "call .build() to get a Backoff"]
pub struct ExponentialBuilder {
    base: Duration,
    cap: Option<Duration>,
    jitter: Jitter,
    first_exponent: u32,
}

/// The cap used when none is set.
pub const DEFAULT_CAP: Duration = Duration::from_secs(20);

impl ExponentialBuilder {
    /// The longest delay.
    pub fn with_cap(mut self, cap: Duration) -> Self {
        self.cap = Some(cap);
        self
    }

    /// Adds jitter.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The exponent of the first retry. The AWS simulator counts the first failure as
    /// attempt 1, so its first retry waits `base * 2`: use `starting_at_exponent(1)`.
    pub fn starting_at_exponent(mut self, e: u32) -> Self {
        self.first_exponent = e;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A zero base, a cap below the base, or delays beyond [`MAX_DELAY`].
    pub fn build(self) -> Result<Backoff, ConfigError> {
        if self.base.is_zero() {
            return Err(ConfigError::new(
                "base",
                "exponential backoff needs a base above zero (0 * 2^n is always 0); \
                 use Backoff::immediate() if you really want no delay",
            ));
        }
        if self.base > MAX_DELAY {
            return Err(ConfigError::new(
                "base",
                format!("{:?} is longer than the {MAX_DELAY:?} limit", self.base),
            ));
        }
        let cap = self.cap.unwrap_or(DEFAULT_CAP.max(self.base));
        if cap < self.base {
            return Err(ConfigError::new(
                "cap",
                format!(
                    "the cap ({cap:?}) is below the base ({:?}); raise the cap or lower the base",
                    self.base
                ),
            ));
        }
        if cap > MAX_DELAY {
            return Err(ConfigError::new("cap", format!("{cap:?} is longer than the {MAX_DELAY:?} limit")));
        }
        Ok(Backoff {
            kind: Kind::Exponential {
                base: self.base,
                cap,
                jitter: self.jitter,
                first_exponent: self.first_exponent,
            },
        })
    }
}

/// The endless iterator of delays of a [`Backoff`].
#[derive(Debug, Clone)]
pub struct Delays<R> {
    backoff: Backoff,
    rng: R,
    n: u32,
    previous: Duration,
}

impl<R: Rng> Iterator for Delays<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let u = match self.backoff.jitter() {
            Some(Jitter::None) | None => 0.0,
            Some(_) => self.rng.random::<f64>(),
        };
        let d = self.backoff.delay(self.n, self.previous, u);
        self.n = self.n.saturating_add(1);
        self.previous = d;
        Some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn rng(seed: u64) -> crate::retry::JitterRng {
        crate::retry::seeded_rng(seed, 0)
    }
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn exponential_doubles_then_caps() {
        let b = Backoff::exponential(ms(100)).with_cap(ms(1000)).build().unwrap();
        let d: Vec<_> = b.delays(rng(0)).take(6).collect();
        assert_eq!(d, [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]);
    }

    #[test]
    fn aws_counting_starts_at_two_times_base() {
        let b = Backoff::exponential(ms(5)).with_cap(ms(2000)).starting_at_exponent(1).build().unwrap();
        assert_eq!(b.delays(rng(0)).next(), Some(ms(10)));
    }

    #[test]
    fn huge_exponents_saturate_at_the_cap() {
        let b = Backoff::exponential(ms(5)).with_cap(ms(2000)).build().unwrap();
        for n in [30, 31, 32, 63, 64, u32::MAX] {
            assert_eq!(b.delay(n, ms(0), 0.5), ms(2000), "n = {n}");
        }
    }

    /// Bug: any exponent from 32 on gave the cap, even when `base * 2^n` is below it
    /// (1 ns * 2^32 is 4.3 s, far below a 1 h cap).
    #[test]
    fn exponents_from_32_on_double_until_the_cap() {
        let hour = Duration::from_secs(3600);
        let b = Backoff::exponential(Duration::from_nanos(1)).with_cap(hour).build().unwrap();
        for n in [31u32, 32, 33, 40, 41] {
            assert_eq!(b.delay(n, Duration::ZERO, 0.5), Duration::from_nanos(1 << n), "n = {n}");
        }
        assert_eq!(b.delay(42, Duration::ZERO, 0.5), hour, "2^42 ns is 73 min: capped");
        let d: Vec<_> = b.delays(rng(0)).skip(30).take(13).collect();
        assert_eq!(d[2], Duration::from_nanos(1 << 32));
        assert_eq!(d[12], hour);
        // Exact at the edges, and no panic for any input.
        assert_eq!(exp_delay(Duration::from_nanos(3), Duration::from_nanos(24), 3), Duration::from_nanos(24));
        assert_eq!(exp_delay(Duration::from_nanos(3), Duration::from_nanos(23), 3), Duration::from_nanos(23));
        assert_eq!(
            exp_delay(Duration::from_nanos(1), Duration::MAX, 90),
            Duration::from_nanos(1 << 63) * (1 << 27)
        );
        for (base, cap) in
            [(Duration::MAX, Duration::MAX), (Duration::ZERO, Duration::MAX), (Duration::MAX, Duration::ZERO)]
        {
            for e in [0, 63, 64, 127, 128, u32::MAX] {
                let d = exp_delay(base, cap, e);
                assert!(d <= cap && (base.is_zero() || e > 0 || d == base.min(cap)), "{base:?} {cap:?} {e}");
            }
        }
    }

    #[test]
    fn configuration_mistakes_say_what_to_change() {
        let e = Backoff::exponential(Duration::ZERO).build().unwrap_err();
        assert_eq!(e.field, "base");
        assert!(e.message.contains("Backoff::immediate()"));
        let e = Backoff::exponential(ms(500)).with_cap(ms(100)).build().unwrap_err();
        assert_eq!(e.field, "cap");
        assert!(e.to_string().contains("raise the cap or lower the base"));
        assert!(Backoff::constant(Duration::from_secs(100 * 24 * 3600)).is_err());
    }

    #[test]
    fn same_seed_same_delays() {
        let b =
            Backoff::exponential(ms(5)).with_cap(ms(2000)).with_jitter(Jitter::Decorrelated).build().unwrap();
        let a: Vec<_> = b.delays(rng(42)).take(50).collect();
        let c: Vec<_> = b.delays(rng(42)).take(50).collect();
        assert_eq!(a, c);
    }

    fn any_jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)]
    }

    proptest! {
        #[test]
        fn every_delay_is_within_its_formula(
            base_ms in 1u64..5_000,
            cap_extra in 0u64..100_000,
            jitter in any_jitter(),
            first in 0u32..4,
            seed in any::<u64>(),
        ) {
            let (base, cap) = (ms(base_ms), ms(base_ms + cap_extra));
            let b = Backoff::exponential(base).with_cap(cap).with_jitter(jitter)
                .starting_at_exponent(first).build().unwrap();
            let mut previous = base;
            for (n, d) in b.delays(rng(seed)).take(40).enumerate() {
                let (lo, hi) = b.bounds(n as u32);
                prop_assert!(d >= lo && d <= hi, "retry {n}: {d:?} outside [{lo:?}, {hi:?}]");
                prop_assert!(d <= cap, "cap broken");
                let t = exp_delay(base, cap, first + n as u32);
                match jitter {
                    Jitter::None => prop_assert_eq!(d, t),
                    Jitter::Full => prop_assert!(d <= t),
                    Jitter::Equal => prop_assert!(d >= t / 2 && d <= t),
                    Jitter::Decorrelated => {
                        prop_assert!(d >= base.min(cap));
                        prop_assert!(d <= (previous * 3).min(cap).max(base));
                    }
                }
                previous = d;
            }
        }
    }
}
