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
    // TODO
    todo!("{base:?} {cap:?} {previous:?} {u}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use unbreakable::retry::seeded_rng;

    const BASE: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_secs(5);

    /// Equal within 1 ns: a correct answer may round where another truncates.
    fn close(a: Duration, b: Duration) -> bool {
        a.abs_diff(b) <= Duration::from_nanos(1)
    }

    /// The formula, in f64 nanoseconds, written independently of the crate.
    fn reference(base: Duration, cap: Duration, previous: Duration, u: f64) -> Duration {
        let (b, hi) = (base.as_nanos() as f64, (previous.max(base) * 3).as_nanos() as f64);
        Duration::from_nanos((b + (hi - b) * u).round() as u64).min(cap)
    }

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
        assert!(close(decorrelated(BASE, CAP, Duration::from_secs(1), 0.5), Duration::from_millis(1550)));
        assert_eq!(decorrelated(BASE, CAP, Duration::from_secs(4), 0.99), CAP);
        // A previous delay below the base (the first retry) draws from [base, 3 * base].
        assert!(close(decorrelated(BASE, CAP, Duration::ZERO, 0.5), Duration::from_millis(200)));
    }

    #[test]
    fn agrees_with_the_formula_on_many_draws() {
        let mut rng = seeded_rng(9, 0);
        for (base, cap) in [
            (BASE, CAP),
            (Duration::from_millis(7), Duration::from_millis(900)),
            (Duration::from_micros(333), Duration::from_secs(60)),
        ] {
            let mut previous = base;
            for _ in 0..300 {
                let u: f64 = rng.random();
                let mine = decorrelated(base, cap, previous, u);
                let want = reference(base, cap, previous, u);
                assert!(
                    close(mine, want),
                    "base {base:?}, cap {cap:?}, previous {previous:?}, u = {u}: {mine:?}, want {want:?}"
                );
                previous = mine;
            }
        }
    }

    #[test]
    fn written_by_hand_not_borrowed_from_the_crate() {
        let yours = unbreakable_exercises::learner_code(include_str!("01_decorrelated_jitter.rs"));
        assert!(
            !yours.contains("Backoff"),
            "write the formula yourself rather than call the crate's Backoff"
        );
    }
}
