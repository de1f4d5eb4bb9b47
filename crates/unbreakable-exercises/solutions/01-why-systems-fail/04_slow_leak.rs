// Exercise 01.4: slowness is a failure too.
//
// What to do: a memory leak makes every request slower: latency is `base + growth * t`
// after `t` seconds. Write `first_give_up(base, growth, user_timeout)`, the first moment
// at which a request takes longer than the user waits (None if that never happens).
// Why it matters: in the chapter, the leak hurt users through timeouts long before
// anything crashed. A shorter user timeout makes the damage visible sooner.
// Chapter: 01-why-systems-fail, "Each kind of failure" (software) and exercise 2.
// Hint: solve base + growth * t > timeout for t. What if the service is already too
//   slow at t = 0, or does not get slower at all?

use std::time::Duration;

/// When users start giving up. `growth` is the extra latency per second of uptime.
pub fn first_give_up(base: Duration, growth: Duration, user_timeout: Duration) -> Option<Duration> {
    if base > user_timeout {
        return Some(Duration::ZERO);
    }
    if growth.is_zero() {
        return None;
    }
    Some(Duration::from_secs_f64((user_timeout - base).as_secs_f64() / growth.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_timeouts_see_it_sooner() {
        let (base, growth) = (Duration::from_millis(50), Duration::from_millis(10));
        let at5 = first_give_up(base, growth, Duration::from_secs(5)).unwrap();
        let at1 = first_give_up(base, growth, Duration::from_secs(1)).unwrap();
        assert!((at5.as_secs_f64() - 495.0).abs() < 1e-6, "{at5:?}");
        assert!((at1.as_secs_f64() - 95.0).abs() < 1e-6, "{at1:?}");
    }

    #[test]
    fn edge_cases() {
        let s = Duration::from_secs;
        assert_eq!(first_give_up(s(2), s(1), s(1)), Some(Duration::ZERO));
        assert_eq!(first_give_up(s(0), Duration::ZERO, s(1)), None);
    }
}
