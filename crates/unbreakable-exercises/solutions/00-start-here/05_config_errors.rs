// Exercise 00.5: configuration that says what to change.
//
// What to do: write `policy_from_setting(value)`: read the retry count from a setting
// (as it would arrive from an environment variable), build a policy with exponential
// backoff from 100 ms, and turn every way it can go wrong into one line that names the
// setting and what to change: not a number, or a number the crate refuses. Spaces around
// the value (`" 3 "`, as a shell or a YAML file can leave them) are ignored.
// Why it matters: a service that starts with `RETRIES=1000` should refuse to start, with a
// message an operator can act on at 3 a.m., rather than hammer a dependency or panic
// later.
// Chapter: 00-start-here, exercise 4.
// Hint: `ConfigError` has a `field` and a `message`, and it implements `Display`; what
//   does `str::parse::<u32>` return for "abc"?

use std::time::Duration;
use unbreakable::retry::{Backoff, RetryPolicy};

pub fn policy_from_setting(value: &str) -> Result<RetryPolicy, String> {
    let backoff = Backoff::exponential(Duration::from_millis(100)).build().expect("a valid backoff");
    let retries: u32 =
        value.trim().parse().map_err(|e| format!("RETRIES={value:?} is not a whole number ({e}); try 3"))?;
    RetryPolicy::new(backoff, retries).map_err(|e| format!("RETRIES={value}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_setting() {
        assert_eq!(policy_from_setting("3").unwrap().max_attempts(), 4);
        assert_eq!(policy_from_setting(" 0 ").unwrap().max_attempts(), 1);
    }

    #[test]
    fn not_a_number() {
        let e = policy_from_setting("three").unwrap_err();
        assert!(e.contains("RETRIES") && e.contains("three"), "{e}");
    }

    #[test]
    fn a_number_the_crate_refuses() {
        let e = policy_from_setting("1000").unwrap_err();
        assert!(e.contains("RETRIES") && e.contains("max_retries"), "{e}");
    }
}
