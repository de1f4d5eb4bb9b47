// Exercise 11.5: stop working the moment the lease is lost.
//
// What to do: write `lead(lease, work)`, a leader's loop: while `lease` says it holds
// the lease (`true`), run `work(n)` for n = 0, 1, 2, ... one after the other. As soon as
// the lease is lost (the value turns `false`, or the sender is gone: the renewal task
// died) stop, cancelling the unit of work in progress rather than finishing it, and
// return how many units were completed.
// Why it matters: a leader whose lease expired is no longer the leader: another node may
// already be doing the same work. Finishing "just this one" is how two leaders write at
// once. Fencing tokens (exercise 11.1) catch the write at the storage; stopping at once
// keeps it from being attempted.
// Chapter: 11-locks-and-leader-election, "Leader election with terms".
// Hint: `tokio::select!` between the unit of work and `lease.wait_for(|held| !held)`:
//   which branch finishing means what? What does `wait_for` return when the sender is
//   dropped?

use std::future::Future;
use tokio::sync::watch;

pub async fn lead<F, Fut>(mut lease: watch::Receiver<bool>, mut work: F) -> u64
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = ()>,
{
    // TODO: the lease is looked at only between units: a unit started as leader is
    // finished after the lease is gone.
    let mut done = 0;
    while *lease.borrow_and_update() {
        work(done).await;
        done += 1;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::time::{Instant, sleep};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Units of 100 ms each, logging which finished and which were cut.
    fn units(
        log: Arc<Mutex<Vec<String>>>,
    ) -> impl FnMut(u64) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        move |n| {
            let log = log.clone();
            Box::pin(async move {
                struct Cut(Arc<Mutex<Vec<String>>>, u64, bool);
                impl Drop for Cut {
                    fn drop(&mut self) {
                        if !self.2 {
                            self.0.lock().unwrap().push(format!("cut {}", self.1));
                        }
                    }
                }
                let mut cut = Cut(log.clone(), n, false);
                sleep(ms(100)).await;
                cut.2 = true;
                log.lock().unwrap().push(format!("done {n}"));
            })
        }
    }

    async fn run(lose_at: Option<u64>, drop_sender_at: Option<u64>) -> (u64, Duration, Vec<String>) {
        let (tx, rx) = watch::channel(true);
        tokio::spawn(async move {
            match (lose_at, drop_sender_at) {
                (Some(t), _) => {
                    sleep(ms(t)).await;
                    tx.send_replace(false);
                    sleep(Duration::from_secs(3600)).await;
                }
                (None, Some(t)) => {
                    sleep(ms(t)).await;
                    drop(tx);
                }
                (None, None) => sleep(Duration::from_secs(3600)).await,
            }
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let done = tokio::time::timeout(ms(1000), lead(rx, units(log.clone()))).await.unwrap_or(u64::MAX);
        let log = log.lock().unwrap().clone();
        (done, start.elapsed(), log)
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_lease_cuts_the_unit_in_progress() {
        let (done, took, log) = run(Some(250), None).await;
        assert_eq!((done, took), (2, ms(250)), "stopped when the lease was lost");
        assert_eq!(log, ["done 0", "done 1", "cut 2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_renewal_task_means_no_lease() {
        let (done, took, log) = run(None, Some(150)).await;
        assert_eq!((done, took), (1, ms(150)));
        assert_eq!(log, ["done 0", "cut 1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn no_lease_no_work() {
        let (tx, rx) = watch::channel(false);
        let log = Arc::new(Mutex::new(Vec::new()));
        assert_eq!(lead(rx, units(log.clone())).await, 0);
        assert!(log.lock().unwrap().is_empty());
        drop(tx);
    }
}
