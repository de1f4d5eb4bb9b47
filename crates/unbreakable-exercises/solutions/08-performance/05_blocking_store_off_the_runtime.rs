// Exercise 08.5: move a blocking store off the runtime.
//
// What to do: `BlockingStore` has a synchronous API, as a SQLite or a classic database
// driver does: `get` blocks the calling thread until the store answers. Write
// `handle(store, key)`, the async request handler that reads from it, so that the
// runtime keeps serving other tasks while the store works. A store that panics (a bug in
// the driver) must not take the handler down with it: report it as
// `StoreError::Crashed`.
// Why it matters: a tokio worker thread runs many tasks in turn. A blocking call on it
// stops all of them: on a single-threaded runtime every other request waits, and on a
// multi-threaded one a few slow queries freeze every worker. The chapter measured the
// pool; this is the rule that keeps it from starving the event loop.
// Chapter: 08-performance, "How big should a pool be? Erlang C".
// Hint: which tokio function runs a closure on a thread meant for blocking work, and what
//   does awaiting its `JoinHandle` return when the closure panicked? The closure must own
//   what it uses (`'static`): clone the `Arc`.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// A store whose `get` blocks its thread until `answer` is called (by another request
/// the runtime serves meanwhile), or gives up after 2 s of real time.
pub struct BlockingStore {
    gate: std::sync::Mutex<mpsc::Receiver<()>>,
    open: mpsc::Sender<()>,
}

impl BlockingStore {
    pub fn new() -> Self {
        let (open, gate) = mpsc::channel();
        BlockingStore { gate: std::sync::Mutex::new(gate), open }
    }

    /// Lets one blocked `get` finish.
    pub fn answer(&self) {
        let _ = self.open.send(());
    }

    /// Blocks until `answer`; `Err` if nobody answered in 2 s (the runtime was blocked).
    pub fn get(&self, key: &str) -> Result<Option<String>, String> {
        if key == "boom" {
            panic!("the driver crashed");
        }
        let gate = self.gate.lock().map_err(|_| "poisoned".to_string())?;
        match gate.recv_timeout(Duration::from_secs(2)) {
            Ok(()) => Ok((key == "sku-1").then(|| "in stock".to_string())),
            Err(_) => Err("no answer in 2 s: was the runtime blocked?".to_string()),
        }
    }
}

impl Default for BlockingStore {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The store answered with an error.
    Failed(String),
    /// The store panicked.
    Crashed,
}

pub async fn handle(store: Arc<BlockingStore>, key: String) -> Result<Option<String>, StoreError> {
    match tokio::task::spawn_blocking(move || store.get(&key)).await {
        Ok(answer) => answer.map_err(StoreError::Failed),
        Err(e) if e.is_panic() => Err(StoreError::Crashed),
        Err(_) => Err(StoreError::Failed("the blocking task was cancelled".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A single-threaded runtime, as `#[tokio::test]` gives: a blocking call on it stops
    // every other task, this test's included.

    #[tokio::test]
    async fn other_requests_are_served_while_the_store_works() {
        let store = Arc::new(BlockingStore::new());
        let request = tokio::spawn(handle(store.clone(), "sku-1".to_string()));
        tokio::task::yield_now().await; // the handler starts and waits for the store
        store.answer(); // another request, served by the runtime meanwhile
        assert_eq!(request.await.unwrap(), Ok(Some("in stock".to_string())));
    }

    #[tokio::test]
    async fn several_handlers_at_once() {
        let store = Arc::new(BlockingStore::new());
        let keys = ["sku-1", "sku-2", "sku-1"];
        let requests: Vec<_> =
            keys.iter().map(|k| tokio::spawn(handle(store.clone(), k.to_string()))).collect();
        tokio::task::yield_now().await;
        for _ in keys {
            store.answer();
        }
        let mut answers = Vec::new();
        for r in requests {
            answers.push(r.await.unwrap());
        }
        assert_eq!(answers.iter().filter(|a| **a == Ok(Some("in stock".to_string()))).count(), 2);
        assert_eq!(answers.iter().filter(|a| **a == Ok(None)).count(), 1);
    }

    #[tokio::test]
    async fn a_crashing_driver_is_an_error_not_a_crash() {
        let store = Arc::new(BlockingStore::new());
        let r = tokio::spawn(handle(store, "boom".to_string())).await;
        assert_eq!(r.expect("the handler itself must not panic"), Err(StoreError::Crashed));
    }
}
