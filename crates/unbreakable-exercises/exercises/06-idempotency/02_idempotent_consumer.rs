// Exercise 06.2: make a message consumer idempotent.
//
// What to do: a queue delivers "charge" messages at least once, so some arrive twice.
// Make `consume` apply each message's charge once: take the message id as the key (in
// the scope of its queue, `QUEUE`) in the `MemoryStore`, charge only when the store says to execute, then complete the key with
// the new balance; a repeat gets the stored balance back.
// Why it matters: "exactly once" delivery does not exist; exactly-once *effects* are
// built by the consumer from at-least-once delivery and a key.
// Chapter: 06-idempotency, "The article's widget: a lost response".
// Hint: what does `begin_at` return for a new key and for a repeat, and which call turns
//   the lease into a stored result?

use std::time::Duration;
use unbreakable::idempotency::{Begun, IdempotencyKey, KeyError, MemoryStore};

/// The queue the messages come from: the scope of their keys.
pub const QUEUE: &str = "charges";

pub struct Message {
    pub id: &'static str,
    pub amount: i64,
}

/// Applies `msg` to `balance` at most once; returns the balance after it.
pub fn consume(
    store: &mut MemoryStore<i64>,
    balance: &mut i64,
    msg: &Message,
    now: Duration,
) -> Result<i64, KeyError> {
    // TODO: this charges every delivery.
    let _ = (store, now);
    *balance -= msg.amount;
    Ok(*balance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::idempotency::Policy;

    #[test]
    fn duplicates_are_charged_once() {
        let mut store = MemoryStore::new(Policy::default());
        let mut balance = 1000;
        let deliveries = [
            Message { id: "m1", amount: 100 },
            Message { id: "m2", amount: 50 },
            Message { id: "m1", amount: 100 },
            Message { id: "m1", amount: 100 },
            Message { id: "m3", amount: 10 },
            Message { id: "m2", amount: 50 },
        ];
        let seen: Vec<i64> = deliveries
            .iter()
            .enumerate()
            .map(|(i, m)| consume(&mut store, &mut balance, m, Duration::from_secs(i as u64)).unwrap())
            .collect();
        assert_eq!(balance, 840);
        assert_eq!(seen, [900, 850, 900, 900, 840, 850], "a repeat sees the balance its first delivery left");
    }

    #[test]
    fn the_same_id_with_another_amount_is_refused() {
        let mut store = MemoryStore::new(Policy::default());
        let mut balance = 1000;
        consume(&mut store, &mut balance, &Message { id: "m1", amount: 100 }, Duration::ZERO).unwrap();
        let r = consume(&mut store, &mut balance, &Message { id: "m1", amount: 900 }, Duration::from_secs(1));
        assert!(matches!(r, Err(KeyError::Mismatch { .. })), "{r:?}");
        assert_eq!(balance, 900);
    }
}
