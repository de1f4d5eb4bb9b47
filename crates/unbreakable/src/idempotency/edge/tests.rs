use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::*;
use crate::idempotency::{KeyError, MemoryStore, Policy, StoreError};
use crate::time::run_paused;

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new("acct", s).unwrap()
}

fn in_progress<R: std::fmt::Debug, E: std::fmt::Debug>(r: &Result<Served<R>, RunError<E, R>>) -> bool {
    matches!(r, Err(RunError::Store(StoreError::Key(KeyError::InProgress { .. }))))
}

#[test]
fn a_concurrent_repeat_is_told_in_progress_then_gets_the_stored_answer() {
    let (second, third) = run_paused(async {
        let edge = Idempotent::new(MemoryStore::new(Policy::default())).unwrap();
        let key = key("k");
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, String>(7)
        };
        let (first, second) = tokio::join!(edge.run(&key, b"x", slow), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            edge.run(&key, b"x", || async { Ok::<_, String>(8) }).await
        });
        assert_eq!(first.unwrap(), Served { response: 7, replayed: false });
        let third = edge.run(&key, b"x", || async { Ok::<_, String>(9) }).await.unwrap();
        (second, third)
    })
    .unwrap();
    assert!(in_progress(&second), "{second:?}");
    assert_eq!(third, Served { response: 7, replayed: true });
}

/// Pins the double charge on cancellation: the client hung up after the provider
/// charged, hyper dropped the handler's future, and the key was released, so the
/// retry charged again. A dropped handler's outcome is unknown: the key stays in
/// flight, and a repeat is told "in progress" instead of running a second time.
#[test]
fn a_dropped_handler_keeps_its_key_and_the_repeat_is_told_in_progress() {
    let charges = AtomicU32::new(0);
    let repeat = run_paused(async {
        let edge = Idempotent::new(MemoryStore::new(Policy::default())).unwrap();
        let k = key("charge-1");
        let charge = || async {
            charges.fetch_add(1, Ordering::SeqCst); // the provider charged
            tokio::time::sleep(Duration::from_secs(1)).await; // the answer is on its way
            Ok::<_, String>("ch_1")
        };
        // The client disconnects: the server drops the handler's future mid-way.
        let dropped = tokio::time::timeout(Duration::from_millis(5), edge.run(&k, b"pay", charge)).await;
        assert!(dropped.is_err());
        edge.run(&k, b"pay", charge).await
    })
    .unwrap();
    assert!(in_progress(&repeat), "{repeat:?}");
    assert_eq!(charges.load(Ordering::SeqCst), 1, "the card was charged twice");
}

/// A failed handler is an unknown outcome too, unless it says nothing happened.
#[test]
fn only_a_handler_that_says_nothing_happened_frees_its_key() {
    let (unknown, not_started) = run_paused(async {
        let edge = Idempotent::new(MemoryStore::new(Policy::default())).unwrap();
        let failed = edge.run(&key("a"), b"x", || async { Err::<u8, _>("timed out") }).await;
        assert!(matches!(failed, Err(RunError::Handler("timed out"))));
        let unknown = edge.run(&key("a"), b"x", || async { Ok::<_, &str>(1) }).await;
        let refused = edge
            .run_or_release(&key("b"), b"x", || async { Err::<u8, _>(Failed::NotStarted("card declined")) })
            .await;
        assert!(matches!(refused, Err(RunError::Handler("card declined"))));
        let not_started = edge.run(&key("b"), b"x", || async { Ok::<_, &str>(2) }).await;
        (unknown, not_started.unwrap())
    })
    .unwrap();
    assert!(in_progress(&unknown), "{unknown:?}");
    assert_eq!(not_started, Served { response: 2, replayed: false });
}

/// Pins the slow owner that goes on after a takeover: a handler still running when
/// its key could be reclaimed was left to finish, so its effect and the new owner's
/// both happened. The edge now stops it at the lock timeout; a repeat after that
/// takes the key over.
#[test]
fn a_handler_is_stopped_at_the_lock_timeout_and_then_the_key_is_taken_over() {
    let late_effects = AtomicU32::new(0);
    let (slow, early, retry) = run_paused(async {
        let policy = Policy::default().with_lock_timeout(Duration::from_secs(1)).unwrap();
        let edge = Idempotent::new(MemoryStore::new(policy)).unwrap();
        let k = key("k");
        tokio::join!(
            edge.run(&k, b"x", || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                late_effects.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(1)
            }),
            async {
                tokio::time::sleep(Duration::from_millis(999)).await;
                edge.run(&k, b"x", || async { Ok::<_, String>(2) }).await
            },
            async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                edge.run(&k, b"x", || async { Ok::<_, String>(3) }).await
            }
        )
    })
    .unwrap();
    assert!(matches!(slow, Err(RunError::LockTimeout { .. })), "{slow:?}");
    assert_eq!(late_effects.load(Ordering::SeqCst), 0, "the first handler went on after its lock timeout");
    assert!(in_progress(&early), "{early:?}");
    assert_eq!(retry.unwrap(), Served { response: 3, replayed: false });
}

/// A store for the tests: a [`MemoryStore`] whose calls can be made to fail or to block
/// (on a gate the test opens), with the busy timeout and clock skew it declares, blocking
/// or not (`B`).
#[derive(Debug)]
struct Scripted<R, const B: bool> {
    inner: MemoryStore<R>,
    /// `complete` fails this many times with a storage error, then works.
    complete_failures: u32,
    /// What a failing `complete` answers.
    lease_lost: bool,
    busy: Duration,
    skew: Duration,
    /// The next `begin` waits for this gate, up to 2 s of real time.
    begin_gate: Option<mpsc::Receiver<()>>,
    /// Counts the calls to `complete`.
    tries: Option<Arc<AtomicU32>>,
}

impl<R: Clone, const B: bool> Scripted<R, B> {
    fn new(policy: Policy) -> Self {
        Self {
            inner: MemoryStore::new(policy),
            complete_failures: 0,
            lease_lost: false,
            busy: Duration::ZERO,
            skew: Duration::ZERO,
            begin_gate: None,
            tries: None,
        }
    }
}

fn wait(gate: &mut Option<mpsc::Receiver<()>>) {
    if let Some(g) = gate.take() {
        let _ = g.recv_timeout(Duration::from_secs(2));
    }
}

impl<R: Clone, const B: bool> KeyStore<R> for Scripted<R, B> {
    const BLOCKING: bool = B;

    fn policy(&self) -> &Policy {
        self.inner.policy()
    }

    fn busy_timeout(&self) -> Duration {
        self.busy
    }

    fn clock_skew(&self) -> Duration {
        self.skew
    }

    fn begin(&mut self, key: &IdempotencyKey, request: &Fingerprint) -> Result<Begun<R>, StoreError> {
        wait(&mut self.begin_gate);
        KeyStore::begin(&mut self.inner, key, request)
    }

    fn complete(&mut self, key: &IdempotencyKey, lease: Lease, response: &R) -> Result<(), StoreError> {
        if let Some(tries) = &self.tries {
            tries.fetch_add(1, Ordering::SeqCst);
        }
        if self.complete_failures > 0 {
            self.complete_failures -= 1;
            if self.lease_lost {
                return Err(KeyError::LeaseLost { key: key.clone() }.into());
            }
            return Err(StoreError::Storage { source: "disk I/O error".into() });
        }
        KeyStore::complete(&mut self.inner, key, lease, response)
    }

    fn release(&mut self, key: &IdempotencyKey, lease: Lease) -> Result<(), StoreError> {
        KeyStore::release(&mut self.inner, key, lease)
    }
}

/// Pins the lost result: the handler charged the card, then storing its response failed
/// (a disk error), and `run` answered the store's error instead of the response; the
/// client, told nothing of the charge, retried after the lock timeout and was charged
/// again. The response now comes back with the error, which is never transient.
#[test]
fn a_response_that_cannot_be_stored_is_answered_with_the_error() {
    let charges = AtomicU32::new(0);
    let (first, repeat) = run_paused(async {
        let mut store: Scripted<String, false> = Scripted::new(Policy::default());
        store.complete_failures = u32::MAX;
        let edge = Idempotent::new(store).unwrap();
        let charge = || async {
            charges.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>("ch_1".to_string())
        };
        let first = edge.run(&key("k"), b"pay", charge).await;
        (first, edge.run(&key("k"), b"pay", charge).await)
    })
    .unwrap();
    let Err(e) = first else { panic!("stored although the store failed: {first:?}") };
    assert!(!e.is_transient(), "an unrecorded result was classed as transient: {e:?}");
    assert!(
        matches!(&e, RunError::Unrecorded { response, source: StoreError::Storage { .. }, .. } if response == "ch_1"),
        "{e:?}"
    );
    assert!(in_progress(&repeat), "{repeat:?}");
    assert_eq!(charges.load(Ordering::SeqCst), 1);
}

/// A transient failure to store is retried while the key is surely held; a lost lease
/// is not retried.
#[test]
fn storing_is_retried_after_a_transient_failure_but_not_after_a_lost_lease() {
    let (stored, lost) = run_paused(async {
        let mut store: Scripted<u8, false> = Scripted::new(Policy::default());
        store.complete_failures = 2;
        let edge = Idempotent::new(store).unwrap();
        let stored = edge.run(&key("a"), b"x", || async { Ok::<_, String>(1) }).await;
        let mut store: Scripted<u8, false> = Scripted::new(Policy::default());
        (store.complete_failures, store.lease_lost) = (1, true);
        let edge = Idempotent::new(store).unwrap();
        let lost = edge.run(&key("a"), b"x", || async { Ok::<_, String>(2) }).await;
        (stored, lost)
    })
    .unwrap();
    assert_eq!(stored.unwrap(), Served { response: 1, replayed: false });
    assert!(
        matches!(
            lost,
            Err(RunError::Unrecorded {
                response: 2,
                source: StoreError::Key(KeyError::LeaseLost { .. }),
                ..
            })
        ),
        "{lost:?}"
    );
}

/// Pins the handler that ran to the lock timeout: it was stopped only at the lock
/// timeout itself, leaving no time to store its response before a repeat could take the
/// key over (and a store on a skewed wall clock lets a repeat in earlier still). It is
/// now stopped at the lock timeout less the store's busy timeout and clock skew.
#[test]
fn the_handler_is_stopped_early_enough_to_store_its_response() {
    let s = Duration::from_secs;
    let (slow, quick) = run_paused(async {
        let mut store: Scripted<u8, false> = Scripted::new(Policy::default());
        (store.busy, store.skew) = (s(5), s(1));
        let edge = Idempotent::new(store).unwrap();
        let start = Instant::now();
        let slow = edge
            .run(&key("slow"), b"x", || async {
                tokio::time::sleep(s(55)).await;
                Ok::<_, String>(1)
            })
            .await;
        assert_eq!(start.elapsed(), s(54), "stopped at 60 s - 5 s - 1 s");
        let quick = edge
            .run(&key("quick"), b"x", || async {
                tokio::time::sleep(s(53)).await;
                Ok::<_, String>(2)
            })
            .await;
        (slow, quick)
    })
    .unwrap();
    assert!(
        matches!(slow, Err(RunError::LockTimeout { handler_time, .. }) if handler_time == s(54)),
        "{slow:?}"
    );
    assert_eq!(quick.unwrap(), Served { response: 2, replayed: false });
}

/// Storing the response is bounded by the time the key is surely held (the lock timeout
/// less the clock skew): failed tries are retried only while one can still finish within
/// the store's busy timeout by then.
#[test]
fn storing_is_retried_only_while_a_try_can_finish_in_time() {
    let s = Duration::from_secs;
    let tries = Arc::new(AtomicU32::new(0));
    let (answer, last) = run_paused(async {
        let mut store: Scripted<u8, false> = Scripted::new(Policy::default());
        (store.busy, store.skew, store.complete_failures) = (s(5), s(1), u32::MAX);
        store.tries = Some(Arc::clone(&tries));
        let edge = Idempotent::new(store).unwrap();
        let start = Instant::now();
        let answer = edge
            .run(&key("k"), b"x", || async {
                tokio::time::sleep(s(53)).await;
                Ok::<_, String>(1)
            })
            .await;
        (answer, start.elapsed())
    })
    .unwrap();
    assert!(
        matches!(answer, Err(RunError::Unrecorded { response: 1, source: StoreError::Storage { .. }, .. })),
        "{answer:?}"
    );
    // At 53 s, then after 10, 20, ... 320 ms: the next pause (640 ms) would leave less
    // than the busy timeout before 59 s.
    assert_eq!(tries.load(Ordering::SeqCst), 7);
    assert!(last <= s(54), "a try started after {last:?}");
}

/// Pins the edge built broken: a store whose margins leave a handler no time (or whose
/// thread could not start) was accepted by `Idempotent::new`, which then failed every
/// request. Building the edge now refuses it, naming the setting to change.
#[test]
fn margins_that_leave_no_time_are_refused() {
    let s = Duration::from_secs;
    let store = || {
        let mut store: Scripted<u8, false> = Scripted::new(Policy::default());
        (store.busy, store.skew) = (s(5), s(55));
        store
    };
    let e = Idempotent::on_thread(store(), 16).unwrap_err();
    assert!(matches!(&e, StoreError::Config(c) if c.field == "clock_skew"), "{e:?}");
    assert!(e.to_string().contains("raise the lock timeout"), "{e}");
    assert!(matches!(
        Idempotent::on_thread(Scripted::<u8, false>::new(Policy::default()), 0),
        Err(StoreError::Config(c)) if c.field == "queue"
    ));
    let e = Idempotent::new(store()).unwrap_err();
    assert!(matches!(&e, StoreError::Config(c) if c.field == "clock_skew"), "{e:?}");
    let e = Idempotent::new(Scripted::<u8, true>::new(Policy::default()))
        .unwrap()
        .with_queue_wait(Duration::ZERO)
        .unwrap_err();
    assert!(matches!(&e, StoreError::Config(c) if c.field == "queue_wait"), "{e:?}");
}

/// Pins the key taken for nobody: a request dropped (its client hung up, a timeout
/// fired) while its `begin` waited for a blocking store still took the key when the call
/// finished, and nothing released it, so every retry was told "in progress" for the whole
/// lock timeout. A key granted after its caller went away is now given back.
#[test]
fn a_request_dropped_while_its_key_is_being_granted_gives_the_key_back() {
    let (open, gate) = mpsc::channel();
    let (retry, waited) = run_paused(async {
        let mut store: Scripted<&str, true> = Scripted::new(Policy::default());
        store.begin_gate = Some(gate);
        let edge = Idempotent::new(store).unwrap();
        let dropped = tokio::time::timeout(
            Duration::from_millis(5),
            edge.run(&key("k"), b"x", || async { Ok::<_, String>("first") }),
        )
        .await;
        assert!(dropped.is_err(), "the first request was not cut during its begin: {dropped:?}");
        let _ = open.send(()); // the store grants the key now, to nobody
        let start = Instant::now();
        let retry = edge.run(&key("k"), b"x", || async { Ok::<_, String>("retry") }).await;
        (retry, start.elapsed())
    })
    .unwrap();
    assert_eq!(retry.unwrap(), Served { response: "retry", replayed: false });
    assert!(waited < Duration::from_secs(1), "the retry waited {waited:?}");
}

/// Pins the blocking store on the runtime's workers: without the `sqlite` feature a
/// store that declared itself blocking was called in place, and while its call waited
/// (a locked file, a slow disk), no other task on the worker ran. It now runs on a
/// thread of its own whatever the features: on a current-thread runtime, a counter task
/// keeps ticking while the store's call waits.
#[test]
fn a_blocking_store_never_runs_on_the_runtimes_worker() {
    let (open, gate) = mpsc::channel();
    let mut store: Scripted<u8, true> = Scripted::new(Policy::default());
    store.begin_gate = Some(gate);
    let edge = Idempotent::new(store).unwrap();
    let answer = crate::time::progresses_while(
        async move { edge.run(&key("k"), b"x", || async { Ok::<_, String>(1) }).await },
        || {
            let _ = open.send(());
        },
    );
    assert_eq!(answer.unwrap(), Served { response: 1, replayed: false });
}

/// An edge on its own thread refuses at once a call that finds the queue full, and
/// `with_store` reaches the store there.
#[test]
fn a_full_queue_is_busy_at_once_and_with_store_reaches_the_store() {
    let (open, gate) = mpsc::channel::<()>();
    let (started, busy) = mpsc::channel::<()>();
    let (refused, len) = run_paused(async {
        let edge = Idempotent::on_thread(Scripted::<u8, false>::new(Policy::default()), 1).unwrap();
        let holder = tokio::spawn({
            let edge = edge.clone();
            async move {
                edge.with_store(move |_| {
                    started.send(()).unwrap();
                    let _ = gate.recv_timeout(Duration::from_secs(2));
                })
                .await
            }
        });
        tokio::task::yield_now().await;
        busy.recv_timeout(Duration::from_secs(2)).unwrap(); // the thread is busy
        let queued = tokio::spawn({
            let edge = edge.clone();
            async move { edge.run(&key("queued"), b"x", || async { Ok::<_, String>(1) }).await }
        });
        tokio::task::yield_now().await; // its begin waits in the queue
        let refused = edge.run(&key("refused"), b"x", || async { Ok::<_, String>(1) }).await;
        open.send(()).unwrap();
        holder.await.unwrap().unwrap();
        queued.await.unwrap().unwrap();
        (refused, edge.with_store(|s| s.inner.len()).await.unwrap())
    })
    .unwrap();
    assert!(
        matches!(&refused, Err(e @ RunError::Store(StoreError::Busy { .. })) if e.is_transient()),
        "{refused:?}"
    );
    assert_eq!(len, 1);
}

/// Pins the response lost in the back-off: the handler charged, the first try to store
/// its response failed (a transient disk error), and the client hung up during the pause
/// before the next try; the response went with the dropped future, the key stayed in
/// flight, and a retry after the lock timeout charged again. Storing now goes on without
/// the request's future: the retry is answered the stored response.
#[test]
fn a_request_dropped_between_tries_to_store_its_response_still_stores_it() {
    let charges = AtomicU32::new(0);
    let (soon, later) = run_paused(async {
        let mut store: Scripted<&str, false> = Scripted::new(Policy::default());
        store.complete_failures = 1;
        let edge = Idempotent::new(store).unwrap();
        let k = key("charge-1");
        let charge = || async {
            charges.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>("ch_1")
        };
        // The first try fails at once; the next waits 10 ms: the client leaves at 5 ms.
        let dropped = tokio::time::timeout(Duration::from_millis(5), edge.run(&k, b"pay", charge)).await;
        assert!(dropped.is_err(), "the request was not cut during the pause: {dropped:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let soon = edge.run(&k, b"pay", charge).await;
        tokio::time::sleep(Duration::from_secs(120)).await; // past the lock timeout
        (soon, edge.run(&k, b"pay", charge).await)
    })
    .unwrap();
    assert_eq!(soon.unwrap(), Served { response: "ch_1", replayed: true });
    assert_eq!(later.unwrap(), Served { response: "ch_1", replayed: true });
    assert_eq!(charges.load(Ordering::SeqCst), 1, "the card was charged twice");
}

/// Pins the panic retried as a storage failure: a store call that panicked (a bug, which
/// panics again on every try) was answered as a transient storage error, so callers and
/// the edge's own store-retry loop tried it again. It is now an error that is not
/// transient.
#[test]
fn a_store_call_that_panics_is_not_transient() {
    let e = run_paused(async {
        let edge = Idempotent::on_thread(Scripted::<u8, false>::new(Policy::default()), 4).unwrap();
        edge.with_store(|_| -> u8 { panic!("a bug in the store") }).await.unwrap_err()
    })
    .unwrap();
    assert!(!e.is_transient(), "a panic was classed as transient: {e:?}");
}
