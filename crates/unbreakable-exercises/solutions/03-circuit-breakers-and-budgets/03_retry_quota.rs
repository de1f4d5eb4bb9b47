// Exercise 03.3: the AWS retry quota.
//
// What to do: build the quota the AWS SDKs use (500 tokens; a retry costs 5, a retry
// after a timeout 10; a first-try success refunds 1) in `aws_quota()`, then write
// `retries_until_refused(quota, after_timeout)`, how many retries it allows in a row
// before it refuses.
// Why it matters: during an outage every client retrying is what keeps the dependency
// down. A quota allows a burst of retries, then only as many as successes pay for.
// Chapter: 03-circuit-breakers-and-budgets, "Retry budgets".
// Hint: which argument of `RetryQuota::new` is which, and what does `try_acquire` return
//   once the tokens are spent?

use unbreakable::retry::RetryQuota;

pub fn aws_quota() -> RetryQuota {
    RetryQuota::new(500, 5, 10, 1).expect("a valid quota")
}

pub fn retries_until_refused(quota: &mut RetryQuota, after_timeout: bool) -> u32 {
    let mut n = 0;
    while quota.try_acquire(after_timeout).is_ok() {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_100_retries_or_50_after_timeouts() {
        assert_eq!(retries_until_refused(&mut aws_quota(), false), 100);
        assert_eq!(retries_until_refused(&mut aws_quota(), true), 50);
    }

    #[test]
    fn successes_refill_it_slowly() {
        let mut q = aws_quota();
        retries_until_refused(&mut q, false);
        for _ in 0..10 {
            q.on_success(None);
        }
        assert_eq!(q.available(), 10);
        assert_eq!(retries_until_refused(&mut q, false), 2);
    }
}
