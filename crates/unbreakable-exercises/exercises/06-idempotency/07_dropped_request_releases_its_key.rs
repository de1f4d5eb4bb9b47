// Exercise 06.7: a request that is dropped must let go of its key.
//
// What to do: write `handle(keys, key, work)`, the server side of an idempotency key in
// front of `work`. A key already done replays its stored answer (`Answer::Replayed`);
// a key in flight is refused (`Answer::InFlight`: the client should retry later); a new
// key is marked in flight, `work` runs, and its answer is stored (`Answer::Fresh`). When
// `work` fails, or when the request's future is dropped before it finishes (the client
// hung up, a timeout above the handler fired), the key must be released so that the
// client's retry runs the work again, rather than being told "in flight" for ever.
// Why it matters: in async Rust a handler can stop at any `.await`, and the code after it
// never runs. A reservation that is undone only by the line after the `.await` leaks on
// cancellation; one undone by a guard's `Drop` does not.
// Chapter: 06-idempotency, "A repeat that arrives while the first is still running".
// Hint: make a guard that holds the key and, in `Drop`, removes it unless it was
//   disarmed after the answer was stored. What must `Drop` do if the lock is poisoned?

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    InFlight,
    Done(String),
}

/// The key table, shared by every request.
pub type Keys = Arc<Mutex<HashMap<String, Slot>>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Fresh(String),
    Replayed(String),
    InFlight,
    Failed(String),
}

pub async fn handle<F>(keys: &Keys, key: &str, work: F) -> Answer
where
    F: Future<Output = Result<String, String>>,
{
    match keys.lock().unwrap().get(key) {
        Some(Slot::Done(answer)) => return Answer::Replayed(answer.clone()),
        Some(Slot::InFlight) => return Answer::InFlight,
        None => {}
    }
    keys.lock().unwrap().insert(key.to_string(), Slot::InFlight);
    // TODO: if this future is dropped at the `.await`, or the work fails, the key stays
    // in flight for ever.
    match work.await {
        Ok(answer) => {
            keys.lock().unwrap().insert(key.to_string(), Slot::Done(answer.clone()));
            Answer::Fresh(answer)
        }
        Err(e) => Answer::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::sleep;

    async fn pay(cents: u32) -> Result<String, String> {
        sleep(Duration::from_millis(100)).await;
        Ok(format!("paid {cents}"))
    }

    #[tokio::test(start_paused = true)]
    async fn done_keys_replay() {
        let keys = Keys::default();
        assert_eq!(handle(&keys, "k1", pay(500)).await, Answer::Fresh("paid 500".into()));
        assert_eq!(handle(&keys, "k1", pay(500)).await, Answer::Replayed("paid 500".into()));
        assert_eq!(handle(&keys, "k2", pay(700)).await, Answer::Fresh("paid 700".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeat_while_the_first_runs_is_refused() {
        let keys = Keys::default();
        let (first, second) = tokio::join!(handle(&keys, "k1", pay(500)), async {
            sleep(Duration::from_millis(10)).await;
            handle(&keys, "k1", pay(500)).await
        });
        assert_eq!((first, second), (Answer::Fresh("paid 500".into()), Answer::InFlight));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_request_lets_its_retry_run() {
        let keys = Keys::default();
        // The client gives up after 50 ms: the handler's future is dropped mid-work.
        let cut = tokio::time::timeout(Duration::from_millis(50), handle(&keys, "k1", pay(500))).await;
        assert!(cut.is_err());
        assert_eq!(keys.lock().unwrap().get("k1"), None, "the key is released");
        assert_eq!(handle(&keys, "k1", pay(500)).await, Answer::Fresh("paid 500".into()), "the retry runs");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_request_lets_its_retry_run() {
        let keys = Keys::default();
        let failing = async { Err::<String, _>("card declined by a timeout".to_string()) };
        assert_eq!(handle(&keys, "k1", failing).await, Answer::Failed("card declined by a timeout".into()));
        assert_eq!(handle(&keys, "k1", pay(500)).await, Answer::Fresh("paid 500".into()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_handler_on_another_task_does_not_wedge_the_key() {
        let keys = Keys::default();
        let k = keys.clone();
        let crashed = tokio::spawn(async move {
            handle(&k, "k1", async {
                sleep(Duration::from_millis(10)).await;
                panic!("a bug in the payment code")
            })
            .await
        })
        .await;
        assert!(crashed.is_err(), "the task panicked");
        let table = keys.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(table.get("k1"), None, "released while unwinding");
    }
}
