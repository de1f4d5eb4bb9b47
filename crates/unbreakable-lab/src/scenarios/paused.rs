//! Clients retrying against a simulated service as real async tasks on tokio's paused
//! clock, through the [`Retry`] edge: the same code a service would run.
//!
//! It does what [`Population`](super::Population) does for one group with no guard, more
//! slowly (see the `figures` example), and exists to show and test that the async edge
//! behaves under virtual time exactly as the pure cores say.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use rand::Rng;

use crate::error::Error;
use crate::retry::{ErrorClass, Retry, RetryPolicy};
use crate::sim::{Attempt, Outcome, Recorder, ServiceConfig, SimClock, run_paused, substream};

/// Runs `clients` clients, started uniformly over `spread`, each sending one request with
/// `policy` to one shared service, until all are done. Returns one row per attempt, in
/// canonical order. Client `c` draws its start time and latencies from stream `c` of
/// `seed`, and its jitter from stream `2^32 + c`.
///
/// # Errors
/// An invalid service configuration, or a runtime the OS refuses to build.
pub fn clients(
    clients: u32,
    spread: Duration,
    service: ServiceConfig,
    policy: RetryPolicy,
    seed: u64,
) -> Result<Recorder, Error> {
    let service = Rc::new(RefCell::new(service.build()?));
    let rec = run_paused(async move {
        let clock = SimClock::start();
        let rec = Rc::new(RefCell::new(Recorder::new()));
        let local = tokio::task::LocalSet::new();
        for c in 0..clients {
            let (service, rec) = (service.clone(), rec.clone());
            local.spawn_local(async move {
                let mut rng = substream(seed, u64::from(c));
                tokio::time::sleep(spread.mul_f64(rng.random::<f64>())).await;
                let _ = Retry::seeded(policy, seed, (1 << 32) + u64::from(c))
                    .run(
                        |attempt| {
                            let sent = clock.now();
                            let r = service.borrow_mut().call(sent, &mut rng);
                            let rec = rec.clone();
                            async move {
                                // A hang never answers; the caller's timeout (chapter 04) would end it.
                                let latency = r.latency.unwrap_or(Duration::from_secs(3600));
                                tokio::time::sleep(latency).await;
                                let outcome = if r.latency.is_some() { r.outcome } else { Outcome::TimedOut };
                                rec.borrow_mut().record(Attempt {
                                    client: c,
                                    attempt,
                                    sent,
                                    finished: sent + latency,
                                    outcome,
                                });
                                if outcome.is_success() { Ok(()) } else { Err(outcome) }
                            }
                        },
                        |_| ErrorClass::Transient,
                    )
                    .await;
            });
        }
        local.await;
        let mut out = rec.take();
        out.sort();
        out
    })?;
    Ok(rec)
}
