// Exercise 09.4: read your own writes, waiting a little for the projection.
//
// What to do: a user changed a price; the write returned the event's outbox position.
// When the same user reloads the page, write `read_after_write(write_position, applied,
// patience)`: `applied` follows the last position the projector has applied. Serve from
// the read model as soon as it has applied the user's event, waiting at most `patience`
// for it; after that, or if the projector has stopped (its sender is gone), serve from
// the write side (one product, by primary key: correct, but it loads the primary). Return
// where you served from and how long you waited.
// Why it matters: projection lag is invisible to most readers but not to the one who just
// wrote. Going to the write side at once for every such reader moves the read load back
// onto the primary, which is what CQRS was for; waiting without a bound turns a stuck
// projector into a hung page. A short, bounded wait serves nearly everyone from the read
// model.
// Chapter: 09-cqrs, "A price update, and the read model that has not seen it yet".
// Hint: `tokio::sync::watch::Receiver::wait_for` waits until a condition on the value
//   holds, and fails when the sender is dropped. What bounds it? Is "equal" the only
//   position that will do?

use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    ReadModel,
    WriteSide,
}

/// Where to serve from, and how long that took to decide.
pub async fn read_after_write(
    write_position: u64,
    mut applied: watch::Receiver<u64>,
    patience: Duration,
) -> (Serve, Duration) {
    let start = Instant::now();
    let caught_up = tokio::time::timeout(patience, applied.wait_for(|&p| p >= write_position)).await;
    let serve = match caught_up {
        Ok(Ok(_)) => Serve::ReadModel,
        // Out of patience, or the projector stopped: the write side is always right.
        Ok(Err(_)) | Err(_) => Serve::WriteSide,
    };
    (serve, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// A projector at position `from` that applies one event every `step`, up to `to`.
    fn projector(from: u64, to: u64, step: Duration) -> (watch::Receiver<u64>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(from);
        let task = tokio::spawn(async move {
            for p in from + 1..=to {
                tokio::time::sleep(step).await;
                tx.send_replace(p);
            }
            std::future::pending::<()>().await; // keeps running, as a projector does
        });
        (rx, task)
    }

    #[tokio::test(start_paused = true)]
    async fn already_applied_is_served_at_once() {
        let (rx, _p) = projector(5, 5, ms(10));
        assert_eq!(read_after_write(5, rx.clone(), ms(50)).await, (Serve::ReadModel, ms(0)));
        assert_eq!(
            read_after_write(3, rx, ms(50)).await,
            (Serve::ReadModel, ms(0)),
            "a later position will do"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_lag_is_waited_out() {
        // The user's event is 7; the projector is at 5 and applies one every 10 ms.
        let (rx, _p) = projector(5, 100, ms(10));
        assert_eq!(
            read_after_write(7, rx, ms(50)).await,
            (Serve::ReadModel, ms(20)),
            "served as soon as it applied 7"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_lag_goes_to_the_write_side_after_the_patience() {
        let (rx, _p) = projector(5, 100, ms(10));
        assert_eq!(read_after_write(20, rx, ms(50)).await, (Serve::WriteSide, ms(50)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_projector_does_not_hang_the_page() {
        let (tx, rx) = watch::channel(5u64);
        let r = tokio::time::timeout(Duration::from_secs(60), read_after_write(6, rx, ms(50))).await;
        assert_eq!(r.expect("still waiting after 60 s"), (Serve::WriteSide, ms(50)));
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_projector_sends_you_to_the_write_side_at_once() {
        let (tx, rx) = watch::channel(5u64);
        drop(tx);
        assert_eq!(read_after_write(6, rx, ms(50)).await, (Serve::WriteSide, ms(0)));
    }
}
