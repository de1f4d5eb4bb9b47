//! The async edge under tokio's paused clock: deterministic, and in agreement with the
//! discrete-event engine.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use unbreakable::retry::{Backoff, ErrorClass, Jitter, Retry, RetryPolicy};
use unbreakable::scenarios::widget::Widget;
use unbreakable::sim::{run_paused, substream, Latency, Outcome, ServiceConfig, SimClock};

/// 200 clients retrying against one shared, flaky service, as tasks on a paused runtime:
/// the times of every attempt, per client.
fn tokio_run(seed: u64) -> Vec<Vec<Duration>> {
    run_paused(async move {
        let clock = SimClock::start();
        let service = Rc::new(RefCell::new(
            ServiceConfig::new(Latency::LogNormal { median: Duration::from_millis(20), sigma: 0.5 })
                .with_failure_rate(0.5)
                .build()
                .unwrap(),
        ));
        let policy = RetryPolicy::new(
            Backoff::exponential(Duration::from_millis(10)).with_jitter(Jitter::Full).build().unwrap(),
            6,
        )
        .unwrap();
        let local = tokio::task::LocalSet::new();
        let handles: Vec<_> = (0..200u64)
            .map(|c| {
                let service = service.clone();
                local.spawn_local(async move {
                    let mut rng = substream(seed, c);
                    let mut times = Vec::new();
                    let _ = Retry::new(policy, seed, 1000 + c)
                        .run(
                            |_| {
                                times.push(clock.now());
                                let resp = service.borrow_mut().call(clock.now(), &mut rng);
                                async move {
                                    tokio::time::sleep(resp.latency.unwrap_or(Duration::from_secs(1))).await;
                                    if resp.outcome == Outcome::Success { Ok(()) } else { Err(resp.outcome) }
                                }
                            },
                            |_| ErrorClass::Transient,
                        )
                        .await;
                    times
                })
            })
            .collect();
        local
            .run_until(async {
                let mut out = Vec::new();
                for h in handles {
                    out.push(h.await.unwrap());
                }
                out
            })
            .await
    })
    .unwrap()
}

#[test]
fn paused_time_is_deterministic() {
    let a = tokio_run(1);
    assert_eq!(a, tokio_run(1));
    assert_ne!(a, tokio_run(2));
    assert!(a.iter().map(Vec::len).sum::<usize>() > 300, "retries happened");
}

#[test]
fn both_engines_give_the_same_timeline() {
    // Fixed latency and no jitter: nothing random, so the discrete-event engine and the
    // async edge under the paused clock must put every attempt at the same instant.
    let latency = Duration::from_millis(50);
    let w = Widget { latency: Latency::Fixed(latency), ..Widget::default() };
    let des: Vec<Duration> = w.run(true, 3).unwrap().recorder.attempts().iter().map(|a| a.sent).collect();
    let policy = RetryPolicy::new(Backoff::exponential(w.base).with_cap(w.base * 64).build().unwrap(), w.max_retries).unwrap();
    let edge = run_paused(async move {
        let clock = SimClock::start();
        let mut times = Vec::new();
        let _: Result<(), _> = Retry::new(policy, 3, 0)
            .run(
                |_| {
                    times.push(clock.now());
                    async move {
                        tokio::time::sleep(latency).await;
                        Err("HTTP 500")
                    }
                },
                |_| ErrorClass::Transient,
            )
            .await;
        times
    })
    .unwrap();
    assert_eq!(des.len(), 6);
    assert_eq!(des, edge);
}
