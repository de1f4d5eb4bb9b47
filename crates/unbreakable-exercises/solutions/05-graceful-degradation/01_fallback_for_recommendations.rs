// Exercise 05.1: a fallback for a nice-to-have section.
//
// What to do: make `recommendations` never fail the page: give the recommendation call
// 200 ms, and when it fails or is too slow answer the popular items instead (`POPULAR`),
// saying where the answer came from.
// Why it matters: the recommendation engine is nice to have. When it is down the product
// page should still sell, with popular items in its place, not show an error.
// Chapter: 05-graceful-degradation, "The async edge: one nice-to-have call".
// Hint: which function in `unbreakable::degrade` takes a timeout, a call and a fallback,
//   and what does its answer carry besides the value?

use std::future::Future;
use std::time::Duration;
use unbreakable::degrade::Degraded;

pub const POPULAR: [&str; 2] = ["kettle", "toaster"];

pub async fn recommendations<F>(call: F) -> Degraded<Vec<&'static str>>
where
    F: Future<Output = Result<Vec<&'static str>, String>>,
{
    unbreakable::degrade::with_fallback(Duration::from_millis(200), call, |_| POPULAR.to_vec()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::degrade::{FallbackReason, Source};
    use unbreakable::time::Clock;

    #[tokio::test(start_paused = true)]
    async fn live_when_the_engine_answers() {
        let r = recommendations(async { Ok(vec!["teapot"]) }).await;
        assert_eq!(r.value, vec!["teapot"]);
        assert_eq!(r.source, Source::Live);
    }

    #[tokio::test(start_paused = true)]
    async fn popular_items_when_it_fails() {
        let r = recommendations(async { Err("connection refused".to_string()) }).await;
        assert_eq!(r.value, POPULAR.to_vec());
        assert_eq!(r.source, Source::Fallback(FallbackReason::Error("connection refused".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn popular_items_after_200_ms_when_it_hangs() {
        let clock = Clock::start();
        let r = recommendations(async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(vec!["teapot"])
        })
        .await;
        assert!(r.is_fallback());
        assert_eq!(clock.now(), Duration::from_millis(200));
    }
}
