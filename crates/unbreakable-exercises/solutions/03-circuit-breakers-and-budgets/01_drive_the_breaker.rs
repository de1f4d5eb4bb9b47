// Exercise 03.1: drive the pure circuit breaker.
//
// What to do: write `call(breaker, now, succeeds)`: ask the breaker for a permit at `now`;
// if it refuses, return `Err(retry_after)` without calling anything; if it admits, "make
// the call" (its outcome is `succeeds`) and report the outcome to the breaker.
// Why it matters: this is the whole protocol a breaker needs from its caller. Forget to
// report an outcome and a half-open breaker waits for its probe forever; report a refused
// call as a failure and it never closes.
// Chapter: 03-circuit-breakers-and-budgets, "The circuit breaker, step by step".
// Hint: `try_acquire` gives an `Admission`; which two methods take it back, and what does
//   `BreakerOpen` carry?

use std::time::Duration;
use unbreakable::retry::CircuitBreaker;

pub fn call(breaker: &mut CircuitBreaker, now: Duration, succeeds: bool) -> Result<bool, Duration> {
    let admission = breaker.try_acquire(now).map_err(|open| open.retry_after)?;
    if succeeds {
        breaker.on_success(admission, now);
    } else {
        breaker.on_failure(admission, now);
    }
    Ok(succeeds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::retry::BreakerConfig;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn opens_after_the_threshold_probes_after_the_cool_down_and_closes() {
        let mut b =
            BreakerConfig { failure_threshold: 3, cool_down: s(5), ..Default::default() }.build().unwrap();
        for t in 0..3 {
            assert_eq!(call(&mut b, s(t), false), Ok(false));
        }
        assert_eq!(b.state().name(), "open");
        assert_eq!(call(&mut b, s(4), true), Err(s(3)), "refused until 2 s + 5 s");
        assert_eq!(b.state().name(), "open");
        // After the cool-down, one probe goes through; it succeeds and the breaker closes.
        assert_eq!(call(&mut b, s(7), true), Ok(true));
        assert_eq!(b.state().name(), "closed");
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let mut b =
            BreakerConfig { failure_threshold: 1, cool_down: s(10), ..Default::default() }.build().unwrap();
        assert_eq!(call(&mut b, s(0), false), Ok(false));
        assert_eq!(call(&mut b, s(10), false), Ok(false));
        assert_eq!(b.state().name(), "open");
        assert_eq!(call(&mut b, s(15), true), Err(s(5)));
    }
}
