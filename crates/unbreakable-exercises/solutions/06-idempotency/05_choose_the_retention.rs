// Exercise 06.5: keep keys longer than clients retry.
//
// What to do: write `policy_for(client, attempt_timeout)`: an idempotency policy whose keys
// outlive every retry a client makes. The client retries with `client` (its backoff and
// number of retries) and gives each attempt up to `attempt_timeout`. Work out the longest
// time from its first attempt to its last one, then keep keys for twice that, and never
// less than a day.
// Why it matters: once a key is forgotten, the same request is a new payment. A retention
// shorter than the client's retry schedule quietly turns late retries into double
// charges; and the schedule is longer than its delays alone, because every attempt can
// also run until its timeout.
// Chapter: 06-idempotency, "The rules, as a pure function" and exercise 3.
// Hint: `Backoff::bounds(n)` is the range of retry n's delay: with jitter, which end is the
//   longest wait? How many attempts can each take `attempt_timeout`?

use std::time::Duration;
use unbreakable::idempotency::Policy;
use unbreakable::retry::RetryPolicy;

pub fn policy_for(client: &RetryPolicy, attempt_timeout: Duration) -> Policy {
    let backoff = client.backoff();
    let waits: Duration = (0..client.max_retries()).map(|n| backoff.bounds(n).1).sum();
    let span = waits + attempt_timeout * client.max_attempts();
    Policy::new((span * 2).max(Duration::from_secs(24 * 3600)))
        .expect("a retention of at least a day is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::idempotency::{Begun, IdempotencyKey, MemoryStore};
    use unbreakable::retry::{Backoff, Jitter};

    fn h(v: u64) -> Duration {
        Duration::from_secs(v * 3600)
    }

    fn min(v: u64) -> Duration {
        Duration::from_secs(v * 60)
    }

    /// Exponential from `base`, capped, full jitter, `retries` retries.
    fn client(base: Duration, cap: Duration, retries: u32) -> RetryPolicy {
        let b = Backoff::exponential(base).with_cap(cap).with_jitter(Jitter::Full).build().unwrap();
        RetryPolicy::new(b, retries).unwrap()
    }

    #[test]
    fn a_retry_two_hours_later_is_replayed() {
        let mut store = MemoryStore::new(policy_for(&client(min(1), h(1), 30), Duration::from_secs(30)));
        let key = IdempotencyKey::new("acct_alice", "pay-1").unwrap();
        let Begun::Execute(lease) = store.begin_at(&key, "pay 500", Duration::ZERO).unwrap() else {
            panic!("a new key executes")
        };
        store.complete(&key, lease, &"tx-1".to_string()).unwrap();
        assert_eq!(store.begin_at(&key, "pay 500", h(2)).unwrap(), Begun::Replay("tx-1".to_string()));
    }

    #[test]
    fn a_quick_client_gets_the_one_day_floor() {
        // 1 + 2 + ... + 32 + 60 + 60 = 183 s of waits and 9 attempts of 10 s: 273 s.
        let p =
            policy_for(&client(Duration::from_secs(1), Duration::from_secs(60), 8), Duration::from_secs(10));
        assert_eq!(p.retention(), h(24));
    }

    #[test]
    fn a_patient_client_sets_the_retention() {
        // Waits: 1 + 2 + 4 + 8 + 16 + 32 min, then 24 retries at the 60 min cap: 1503 min.
        // Attempts: 31 of up to 30 s: 15.5 min. Twice 1518.5 min is 50 h 37 min.
        let p = policy_for(&client(min(1), h(1), 30), Duration::from_secs(30));
        assert_eq!(p.retention(), Duration::from_secs(182_220));
        // The same without the attempts' own time would forget keys 31 minutes early.
        assert!(p.retention() > min(1503) * 2);
    }

    #[test]
    fn every_attempt_counts() {
        let c = client(min(1), h(1), 30);
        let longer = policy_for(&c, min(10)).retention();
        assert_eq!(longer, (min(1503) + min(310)) * 2, "31 attempts of 10 min");
    }
}
