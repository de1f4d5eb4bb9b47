// Exercise 05.2: essential parts fail the page, nice-to-have parts degrade.
//
// What to do: write `product_page(price, reviews)`. The price is essential: if it fails,
// the page fails with that error. The reviews are nice to have: give them 300 ms, fall
// back to no reviews, and set `banner` when the page shows a fallback.
// Why it matters: deciding before the outage which part is which is the whole of graceful
// degradation. Degrading the price would sell at a wrong price; failing the page for
// want of reviews loses a sale for nothing.
// Chapter: 05-graceful-degradation, "A page made of parts".
// Hint: which of the two calls may return its error with `?`, and which goes through
//   `with_fallback`?

use std::future::Future;
use std::time::Duration;

#[derive(Debug, PartialEq)]
pub struct Page {
    pub price_cents: u64,
    pub reviews: Vec<String>,
    pub banner: bool,
}

pub async fn product_page<P, R>(price: P, reviews: R) -> Result<Page, String>
where
    P: Future<Output = Result<u64, String>>,
    R: Future<Output = Result<Vec<String>, String>>,
{
    let price_cents = price.await?;
    let reviews =
        unbreakable::degrade::with_fallback(Duration::from_millis(300), reviews, |_| Vec::new()).await;
    Ok(Page { price_cents, banner: reviews.is_fallback(), reviews: reviews.value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn everything_up() {
        let p = product_page(async { Ok(1999) }, async { Ok(vec!["great".to_string()]) }).await;
        assert_eq!(p, Ok(Page { price_cents: 1999, reviews: vec!["great".into()], banner: false }));
    }

    #[tokio::test(start_paused = true)]
    async fn no_reviews_yet_is_not_a_fallback() {
        // The reviews service answered, with none: nothing is degraded, so no banner.
        let p = product_page(async { Ok(500) }, async { Ok(vec![]) }).await;
        assert_eq!(p, Ok(Page { price_cents: 500, reviews: vec![], banner: false }));
    }

    #[tokio::test(start_paused = true)]
    async fn reviews_just_in_time_are_shown() {
        let at_250_ms = async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            Ok(vec!["fine".to_string()])
        };
        let p = product_page(async { Ok(1999) }, at_250_ms).await;
        assert_eq!(p, Ok(Page { price_cents: 1999, reviews: vec!["fine".into()], banner: false }));
    }

    #[tokio::test(start_paused = true)]
    async fn reviews_down_the_page_stays_up() {
        let p = product_page(async { Ok(1999) }, async { Err("reviews: 503".to_string()) }).await;
        assert_eq!(p, Ok(Page { price_cents: 1999, reviews: vec![], banner: true }));
    }

    #[tokio::test(start_paused = true)]
    async fn reviews_hanging_the_page_stays_up() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(vec!["late".to_string()])
        };
        let p = product_page(async { Ok(1999) }, slow).await;
        assert_eq!(p, Ok(Page { price_cents: 1999, reviews: vec![], banner: true }));
    }

    #[tokio::test(start_paused = true)]
    async fn price_down_the_page_fails() {
        let p = product_page(async { Err("db: down".to_string()) }, async { Ok(vec![]) }).await;
        assert_eq!(p, Err("db: down".to_string()));
    }
}
