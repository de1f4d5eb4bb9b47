// Exercise 02.2: the exponential delay, with full and equal jitter.
//
// What to do: write `exponential(base, cap, n)` = min(cap, base * 2^n) for retry n
// (0-based), then `full(t, u)` and `equal(t, u)`, the two jitters applied to that delay
// with a uniform draw `u` in [0, 1).
// Why it matters: full jitter spreads clients over [0, t] and did less than half the work
// of plain backoff in the contention experiment; equal jitter keeps a floor of t/2 so no
// client comes back at once. Knowing the formulas lets you reason about both.
// Chapter: 02-retries-and-backoff, "The contention experiment".
// Hint: what happens to `base * 2^n` for n = 40, and how do you keep it from overflowing?

use std::time::Duration;

pub fn exponential(base: Duration, cap: Duration, n: u32) -> Duration {
    if n >= 32 {
        return cap;
    }
    base.checked_mul(1 << n).map_or(cap, |d| d.min(cap))
}

pub fn full(t: Duration, u: f64) -> Duration {
    t.mul_f64(u)
}

pub fn equal(t: Duration, u: f64) -> Duration {
    t / 2 + (t / 2).mul_f64(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use unbreakable::retry::{Backoff, Jitter, seeded_rng};

    const BASE: Duration = Duration::from_millis(5);
    const CAP: Duration = Duration::from_secs(2);

    #[test]
    fn doubling_up_to_the_cap_without_overflow() {
        assert_eq!(exponential(BASE, CAP, 0), BASE);
        assert_eq!(exponential(BASE, CAP, 3), Duration::from_millis(40));
        assert_eq!(exponential(BASE, CAP, 9), CAP); // 2.56 s capped
        assert_eq!(exponential(BASE, CAP, 40), CAP);
        assert_eq!(exponential(BASE, CAP, u32::MAX), CAP);
    }

    #[test]
    fn agree_with_the_crate() {
        let mut rng = seeded_rng(11, 0);
        for (jitter, mine) in [(Jitter::Full, full as fn(Duration, f64) -> Duration), (Jitter::Equal, equal)]
        {
            let b = Backoff::exponential(BASE).with_cap(CAP).with_jitter(jitter).build().unwrap();
            for n in 0..20 {
                let u: f64 = rng.random();
                assert_eq!(
                    mine(exponential(BASE, CAP, n), u),
                    b.delay(n, Duration::ZERO, u),
                    "{jitter:?} n = {n}"
                );
            }
        }
    }
}
