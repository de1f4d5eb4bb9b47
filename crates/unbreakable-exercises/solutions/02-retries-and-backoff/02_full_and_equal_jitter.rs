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
    // Double n times, stopping at the cap (and at zero, which never grows): no overflow,
    // and at most about 64 doublings before any Duration reaches the cap.
    let mut d = base;
    for _ in 0..n {
        if d >= cap || d.is_zero() {
            break;
        }
        d = d.checked_mul(2).unwrap_or(cap);
    }
    d.min(cap)
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
    use unbreakable::retry::seeded_rng;

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
    fn doubling_by_hand_for_other_bases() {
        let ms = Duration::from_millis;
        for n in 0..12 {
            let want = ms(3 * (1 << n)).min(Duration::from_secs(5));
            assert_eq!(exponential(ms(3), Duration::from_secs(5), n), want, "n = {n}");
        }
        assert_eq!(exponential(Duration::from_secs(1), Duration::MAX, 40), Duration::from_secs(1 << 40));
        assert_eq!(
            exponential(Duration::from_secs(1), Duration::MAX, 70),
            Duration::MAX,
            "overflow saturates at the cap"
        );
    }

    /// Equal within 1 ns: a correct answer may round where another truncates.
    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) <= Duration::from_nanos(1)
    }

    #[test]
    fn the_jitters_against_the_formulas() {
        let mut rng = seeded_rng(11, 0);
        for n in 0..40 {
            let t = exponential(BASE, CAP, n % 12);
            let u: f64 = rng.random();
            let tn = t.as_nanos() as f64;
            let (want_full, want_equal) = (tn * u, tn / 2.0 + tn / 2.0 * u);
            let (f, e) = (full(t, u), equal(t, u));
            assert!(
                close(f, Duration::from_nanos(want_full.round() as u64)),
                "full({t:?}, {u}) = {f:?}, want {want_full} ns"
            );
            assert!(
                close(e, Duration::from_nanos(want_equal.round() as u64)),
                "equal({t:?}, {u}) = {e:?}, want {want_equal} ns"
            );
        }
        assert_eq!(full(Duration::from_secs(1), 0.0), Duration::ZERO);
        assert_eq!(
            equal(Duration::from_secs(1), 0.0),
            Duration::from_millis(500),
            "equal jitter keeps a floor of t/2"
        );
    }

    #[test]
    fn written_by_hand_not_borrowed_from_the_crate() {
        let yours = unbreakable_exercises::learner_code(include_str!("02_full_and_equal_jitter.rs"));
        assert!(
            !yours.contains("Backoff"),
            "write the formulas yourself rather than call the crate's Backoff"
        );
    }
}
