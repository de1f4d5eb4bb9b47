// Exercise 05.5: a page waits for its slowest part, not the sum.
//
// What to do: `sidebar` renders three nice-to-have sections (recommendations, reviews,
// recently viewed), each with a 200 ms fallback. Make it run the three at the same time,
// so that with every dependency hanging the page still answers in 200 ms, not 600 ms.
// Why it matters: fallbacks keep a page up, but each timeout still costs its full wait.
// Run one after the other, three slow dependencies add up to a page too slow to use.
// Chapter: 05-graceful-degradation, "The async edge: one nice-to-have call".
// Hint: which tokio macro awaits several futures at once and gives back all their
//   results?

use std::future::Future;
use std::time::Duration;
use unbreakable::degrade::with_fallback;

pub async fn sidebar<A, B, C>(recs: A, reviews: B, recent: C) -> [String; 3]
where
    A: Future<Output = Result<String, String>>,
    B: Future<Output = Result<String, String>>,
    C: Future<Output = Result<String, String>>,
{
    let t = Duration::from_millis(200);
    let placeholder = |_: &_| String::from("(unavailable)");
    let (a, b, c) = tokio::join!(
        with_fallback(t, recs, placeholder),
        with_fallback(t, reviews, placeholder),
        with_fallback(t, recent, placeholder)
    );
    [a.value, b.value, c.value]
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::time::Clock;

    async fn hang() -> Result<String, String> {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok("late".into())
    }

    #[tokio::test(start_paused = true)]
    async fn everything_hanging_still_answers_in_200_ms() {
        let clock = Clock::start();
        let s = sidebar(hang(), hang(), hang()).await;
        assert_eq!(s, ["(unavailable)", "(unavailable)", "(unavailable)"]);
        assert_eq!(clock.now(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn the_live_parts_are_shown() {
        let clock = Clock::start();
        let s =
            sidebar(async { Ok("kettle".to_string()) }, hang(), async { Ok("toaster".to_string()) }).await;
        assert_eq!(s, ["kettle", "(unavailable)", "toaster"]);
        assert_eq!(clock.now(), Duration::from_millis(200));
    }
}
