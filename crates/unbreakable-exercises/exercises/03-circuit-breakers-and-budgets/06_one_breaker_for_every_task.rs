// Exercise 03.6: one breaker for every task.
//
// What to do: write `fan_out(config, tasks, calls_each, dependency)`: spawn `tasks`
// tokio tasks, each making `calls_each` calls to `dependency` through a circuit breaker,
// and return how many calls the breaker refused. The tasks must share one breaker: once
// the dependency has failed `failure_threshold` times, whoever saw it, no task calls it
// until the cool-down is over.
// Why it matters: a service handles each request on its own task. A breaker per task (or
// per connection) opens only after every task has had its own failures, so a dead
// dependency still takes `tasks * threshold` calls, which is the load the breaker exists
// to shed. `tokio::spawn` also asks that what a task holds is `Send + 'static`: a shared
// breaker has to be a handle the tasks own, not a borrow.
// Chapter: 03-circuit-breakers-and-budgets, "The breaker a service shares".
// Hint: `Breaker` (in `unbreakable::retry`) is a cheap handle around one shared breaker:
//   what does cloning it share, and where must it be created: inside each task or
//   before the loop that spawns them?

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use unbreakable::retry::{Breaker, BreakerConfig, BreakerError};

/// A dependency that is down: every call fails after 10 ms. It counts its calls.
#[derive(Debug, Default)]
pub struct Dependency {
    pub calls: AtomicU32,
}

impl Dependency {
    pub async fn call(&self) -> Result<(), &'static str> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err("503")
    }
}

/// Calls refused by the breaker, over every task.
pub async fn fan_out(
    config: BreakerConfig,
    tasks: usize,
    calls_each: usize,
    dependency: Arc<Dependency>,
) -> usize {
    // TODO: every task builds a breaker of its own.
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let dependency = dependency.clone();
        handles.push(tokio::spawn(async move {
            let breaker = Breaker::new(config).expect("a valid configuration");
            let mut refused = 0;
            for _ in 0..calls_each {
                if let Err(BreakerError::Open(_)) = breaker.call(dependency.call(), |_| true).await {
                    refused += 1;
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for h in handles {
        refused += h.await.expect("a task panicked");
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig { failure_threshold: 5, cool_down: Duration::from_secs(30), ..Default::default() }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_dependency_sees_few_calls() {
        let dependency = Arc::new(Dependency::default());
        let refused = fan_out(config(), 8, 10, dependency.clone()).await;
        let calls = dependency.calls.load(Ordering::SeqCst) as usize;
        // Eight tasks may each have one call in flight when the fifth failure opens it.
        assert!(calls <= 5 + 7, "the dependency took {calls} calls: is the breaker shared?");
        assert_eq!(calls + refused, 80, "every call either reached the dependency or was refused");
    }

    #[tokio::test(start_paused = true)]
    async fn one_task_is_the_same_as_a_loop() {
        let dependency = Arc::new(Dependency::default());
        let refused = fan_out(config(), 1, 20, dependency.clone()).await;
        assert_eq!(dependency.calls.load(Ordering::SeqCst), 5);
        assert_eq!(refused, 15);
    }

    #[tokio::test(start_paused = true)]
    async fn the_tasks_run_at_the_same_time() {
        // Spawned, not awaited one after another: 8 tasks of 2 calls of 10 ms take 20 ms.
        let dependency = Arc::new(Dependency::default());
        let start = tokio::time::Instant::now();
        let big = BreakerConfig { failure_threshold: 1000, ..config() };
        assert_eq!(fan_out(big, 8, 2, dependency.clone()).await, 0);
        assert_eq!(dependency.calls.load(Ordering::SeqCst), 16);
        assert_eq!(start.elapsed(), Duration::from_millis(20));
    }
}
