// Exercise 05.3: count how often you degrade, and why.
//
// What to do: write `tally(answers)`: how many answers were live, how many fell back
// because the call timed out, and how many because it failed.
// Why it matters: a fallback hides an outage from users, and also from you, unless you
// count it. "12% of pages degraded, all timeouts" is the alert that says a dependency is
// slow, while sales still look normal.
// Chapter: 05-graceful-degradation, exercise 5.
// Hint: `Degraded::source` is `Live` or `Fallback(reason)`; what are the two reasons?

use unbreakable::degrade::Degraded;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub live: usize,
    pub timeouts: usize,
    pub errors: usize,
}

pub fn tally<T>(answers: &[Degraded<T>]) -> Tally {
    use unbreakable::degrade::{FallbackReason, Source};
    let mut t = Tally::default();
    for a in answers {
        match &a.source {
            Source::Live => t.live += 1,
            Source::Fallback(FallbackReason::Timeout(_)) => t.timeouts += 1,
            Source::Fallback(FallbackReason::Error(_)) => t.errors += 1,
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use unbreakable::degrade::with_fallback;

    #[tokio::test(start_paused = true)]
    async fn a_minute_of_pages() {
        let mut answers = Vec::new();
        for i in 0..100u32 {
            let call = async move {
                match i % 10 {
                    0 => Err(format!("page {i}: refused")),
                    1 | 2 => {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(i)
                    }
                    _ => Ok(i),
                }
            };
            answers.push(with_fallback(Duration::from_millis(100), call, |_| 0).await);
        }
        assert_eq!(tally(&answers), Tally { live: 70, timeouts: 20, errors: 10 });
        assert_eq!(tally::<u32>(&[]), Tally::default());
    }

    #[tokio::test(start_paused = true)]
    async fn other_mixes() {
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<u8, String>(1)
        };
        let mut answers = Vec::new();
        for _ in 0..3 {
            answers.push(with_fallback(Duration::from_millis(50), slow(), |_| 0).await);
        }
        assert_eq!(tally(&answers), Tally { live: 0, timeouts: 3, errors: 0 });
        answers.push(
            with_fallback(Duration::from_millis(50), async { Err::<u8, _>("down".to_string()) }, |_| 0).await,
        );
        answers.push(with_fallback(Duration::from_millis(50), async { Ok::<u8, String>(9) }, |_| 0).await);
        assert_eq!(tally(&answers), Tally { live: 1, timeouts: 3, errors: 1 });
        // A fallback value that looks like a live one is still a fallback: count the source.
        answers.push(
            with_fallback(Duration::from_millis(50), async { Err::<u8, _>("down".to_string()) }, |_| 9).await,
        );
        assert_eq!(tally(&answers), Tally { live: 1, timeouts: 3, errors: 2 });
    }
}
