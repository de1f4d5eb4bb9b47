// Exercise 02.1: decorrelated jitter, by hand.
//
// What to do: write `decorrelated(base, cap, previous, u)`: the next delay of
// decorrelated jitter, `min(cap, U(base, 3 * previous))`, where `u` in [0, 1) is the
// uniform draw that picks the point in the range.
// Why it matters: jitter is what stops a thousand clients that failed together from
// coming back together. Decorrelated jitter grows from the previous delay rather than
// from the attempt number, so each client drifts on its own path.
// Chapter: 02-retries-and-backoff, "Backoff is an iterator of delays".
// Hint: how do you map u = 0 to `base` and u -> 1 to `3 * previous`, and where does the
//   cap come in: before or after the draw?

use std::time::Duration;

pub fn decorrelated(base: Duration, cap: Duration, previous: Duration, u: f64) -> Duration {
    let hi = previous.max(base) * 3;
    (base + (hi - base).mul_f64(u)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use unbreakable::retry::{Backoff, Jitter, seeded_rng};

    const BASE: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_secs(5);

    #[test]
    fn stays_within_base_and_three_times_the_previous_capped() {
        let mut rng = seeded_rng(3, 0);
        let mut previous = BASE;
        for _ in 0..1000 {
            let d = decorrelated(BASE, CAP, previous, rng.random());
            assert!(d >= BASE.min(CAP) && d <= CAP.min(previous * 3), "{d:?} after {previous:?}");
            previous = d;
        }
    }

    #[test]
    fn the_ends_of_the_range() {
        assert_eq!(decorrelated(BASE, CAP, Duration::from_secs(1), 0.0), BASE);
        assert_eq!(decorrelated(BASE, CAP, Duration::from_secs(1), 0.5), Duration::from_millis(1550));
        assert_eq!(decorrelated(BASE, CAP, Duration::from_secs(4), 0.99), CAP);
    }

    #[test]
    fn agrees_with_the_crate() {
        let b = Backoff::exponential(BASE).with_cap(CAP).with_jitter(Jitter::Decorrelated).build().unwrap();
        let mut rng = seeded_rng(9, 0);
        let mut previous = BASE;
        for n in 0..200 {
            let u: f64 = rng.random();
            let mine = decorrelated(BASE, CAP, previous, u);
            assert_eq!(mine, b.delay(n, previous, u));
            previous = mine;
        }
    }
}
