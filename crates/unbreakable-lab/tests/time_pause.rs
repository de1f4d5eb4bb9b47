//! The async edge under tokio's paused clock: deterministic, and in agreement with the
//! discrete-event engine.

use std::time::Duration;

use unbreakable_lab::retry::{Backoff, ErrorClass, Jitter, Retry, RetryPolicy};
use unbreakable_lab::scenarios::paused;
use unbreakable_lab::scenarios::widget::Widget;
use unbreakable_lab::sim::{Latency, Recorder, ServiceConfig, SimClock, run_paused};

fn flaky_run(seed: u64) -> Recorder {
    let service = ServiceConfig::new(Latency::LogNormal { median: Duration::from_millis(20), sigma: 0.5 })
        .with_failure_rate(0.5);
    let policy = RetryPolicy::new(
        Backoff::exponential(Duration::from_millis(10)).with_jitter(Jitter::Full).build().unwrap(),
        6,
    )
    .unwrap();
    paused::clients(200, Duration::from_secs(1), service, policy, seed).unwrap()
}

#[test]
fn paused_time_is_deterministic() {
    let a = flaky_run(1);
    assert_eq!(a, flaky_run(1));
    assert_ne!(a, flaky_run(2));
    assert!(a.len() > 300, "retries happened: {}", a.len());
    // Every client ends in success or after its 7th attempt.
    for c in 0..200 {
        let rows: Vec<_> = a.attempts().iter().filter(|r| r.client == c).collect();
        assert!(rows.last().unwrap().outcome.is_success() || rows.len() == 7);
    }
}

#[test]
fn both_engines_give_the_same_timeline() {
    // Fixed latency and no jitter: nothing random, so the discrete-event engine and the
    // async edge under the paused clock must put every attempt at the same instant.
    let latency = Duration::from_millis(50);
    let w = Widget { latency: Latency::Fixed(latency), ..Widget::default() };
    let des: Vec<Duration> = w.run(true, 3).unwrap().recorder.attempts().iter().map(|a| a.sent).collect();
    let policy =
        RetryPolicy::new(Backoff::exponential(w.base).with_cap(w.base * 64).build().unwrap(), w.max_retries)
            .unwrap();
    let edge = run_paused(async move {
        let clock = SimClock::start();
        let mut times = Vec::new();
        let _: Result<(), _> = Retry::seeded(policy, 3, 0)
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
