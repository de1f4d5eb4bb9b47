// Exercise 06.5: keep keys longer than clients retry.
//
// What to do: write `policy_for(client_retries_for)`: an idempotency policy whose keys
// outlive every retry a client makes, when clients give up `client_retries_for` after
// their first try. Keep a margin: a day, or twice the client's span, whichever is longer.
// Why it matters: once a key is forgotten, the same request is a new payment. A retention
// shorter than the client's retry schedule quietly turns late retries into double
// charges.
// Chapter: 06-idempotency, "The rules, as a pure function" and exercise 3.
// Hint: which constructor of `Policy` takes a retention, and can it fail?

use std::time::Duration;
use unbreakable::idempotency::Policy;

pub fn policy_for(client_retries_for: Duration) -> Policy {
    let retention = (client_retries_for * 2).max(Duration::from_secs(24 * 3600));
    Policy::new(retention).expect("a valid policy")
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::idempotency::{Begun, IdempotencyKey, MemoryStore};

    fn h(v: u64) -> Duration {
        Duration::from_secs(v * 3600)
    }

    #[test]
    fn a_retry_two_hours_later_is_replayed() {
        let mut store = MemoryStore::new(policy_for(h(2)));
        let key = IdempotencyKey::new("acct_alice", "pay-1").unwrap();
        let Begun::Execute(lease) = store.begin_at(&key, "pay 500", Duration::ZERO).unwrap() else {
            panic!("a new key executes")
        };
        store.complete(&key, lease, &"tx-1".to_string()).unwrap();
        assert_eq!(store.begin_at(&key, "pay 500", h(2)).unwrap(), Begun::Replay("tx-1".to_string()));
    }

    #[test]
    fn at_least_a_day_and_twice_the_span() {
        assert_eq!(policy_for(Duration::from_secs(60)).retention(), h(24));
        assert_eq!(policy_for(h(36)).retention(), h(72));
    }
}
