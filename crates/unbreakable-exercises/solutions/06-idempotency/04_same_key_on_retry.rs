// Exercise 06.4: a retry must send the same key.
//
// What to do: `pay` sends a payment and retries once if the answer is lost. Fix it so the
// retry reuses the first attempt's idempotency key (the server side, an `Idempotent`
// edge over a `MemoryStore`, is already right).
// Why it matters: a key only helps if the retry carries it. A client that mints a new key
// per attempt has keys and still charges twice.
// Chapter: 06-idempotency, "The article's widget: a lost response" and "Many clients on
// a lossy network".
// Hint: where is the key made: once per payment or once per attempt?

use std::sync::atomic::{AtomicU32, Ordering};
use unbreakable::idempotency::edge::Idempotent;
use unbreakable::idempotency::{IdempotencyKey, MemoryStore};

/// The client paying: the scope of its keys (the server takes it from authentication).
pub const CLIENT: &str = "acct_alice";

pub struct Server {
    pub edge: Idempotent<MemoryStore<String>>,
    pub charges: AtomicU32,
}

impl Server {
    async fn charge(&self, key: &IdempotencyKey, body: &str) -> String {
        let served = self
            .edge
            .run(key, body, || async {
                let n = self.charges.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(format!("ch_{n}"))
            })
            .await
            .expect("the server accepts the charge");
        served.response
    }
}

/// Pays `cents` as payment number `payment`; the first answer is lost on the way back.
pub async fn pay(server: &Server, payment: u32, cents: u64) -> String {
    let body = format!("charge {cents}");
    let mut answer = None;
    for attempt in 0..2 {
        let key = IdempotencyKey::new(CLIENT, format!("pay-{payment}")).expect("a valid key");
        let reply = server.charge(&key, &body).await;
        if attempt == 1 {
            answer = Some(reply); // the first reply was lost
        }
    }
    answer.expect("the retry got an answer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::idempotency::Policy;

    #[tokio::test(start_paused = true)]
    async fn charged_once_per_payment() {
        let server = Server {
            edge: Idempotent::new(MemoryStore::new(Policy::default()))
                .expect("the default policy leaves a handler time"),
            charges: AtomicU32::new(0),
        };
        let a = pay(&server, 1, 500).await;
        let b = pay(&server, 2, 500).await;
        assert_eq!(server.charges.load(Ordering::SeqCst), 2);
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("ch_0", "ch_1"),
            "the retry got the stored answer of the first attempt"
        );
    }
}
