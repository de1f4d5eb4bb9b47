// Exercise 10.3: time travel: the stock as of a version, and as of an instant.
//
// What to do: write `stock_at_version` (the stock after the stream's first `version`
// events) and `stock_as_of` (the stock after the events appended at or before `at_ms`),
// reading the store. Both are shipped returning today's stock.
// Why it matters: "how many did we have on 1 March?" is a replay that stops early. The
// store keeps every event with its version and time, so any past state can be rebuilt
// exactly, for an audit, a dispute, or to find the event where things went wrong. "On
// 1 March" is not an instant, though: at midnight and in the evening it has different
// answers.
// Chapter: 10-event-sourcing, "The article's inventory, on a durable store".
// Hint: `visit_stream` takes a range of versions; for the instant, each `Recorded` has
//   `at_ms`. Once one event is later than the instant, should a later one that is stamped
//   earlier still count?

use unbreakable::events::{EventStore, EventStoreError, MemoryEventStore};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stock {
    Received(i64),
    Sold(i64),
}

fn fold(stock: i64, e: &Stock) -> i64 {
    match *e {
        Stock::Received(n) => stock + n,
        Stock::Sold(n) => stock - n,
    }
}

pub fn stock_now(store: &MemoryEventStore<Stock>, sku: &str) -> Result<i64, EventStoreError> {
    let mut stock = 0;
    store.visit_stream(sku, 1..=u64::MAX, |r| stock = fold(stock, &r.event))?;
    Ok(stock)
}

pub fn stock_at_version(
    store: &MemoryEventStore<Stock>,
    sku: &str,
    version: u64,
) -> Result<i64, EventStoreError> {
    let mut stock = 0;
    store.visit_stream(sku, 1..=version, |r| stock = fold(stock, &r.event))?;
    Ok(stock)
}

pub fn stock_as_of(store: &MemoryEventStore<Stock>, sku: &str, at_ms: u64) -> Result<i64, EventStoreError> {
    let (mut stock, mut stopped) = (0, false);
    store.visit_stream(sku, 1..=u64::MAX, |r| {
        stopped |= r.at_ms > at_ms;
        if !stopped {
            stock = fold(stock, &r.event);
        }
    })?;
    Ok(stock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::events::Expected;

    // Milliseconds since the UNIX epoch, UTC, for days of 2026.
    const FEB_1: u64 = 1_769_904_000_000;
    const DAY: u64 = 86_400_000;
    const HOUR: u64 = 3_600_000;
    const MAR_1: u64 = FEB_1 + 28 * DAY;

    fn inventory() -> MemoryEventStore<Stock> {
        let mut s = MemoryEventStore::new();
        let mut put = |e, at| {
            s.append("sku-42", Expected::Any, vec![e], at).unwrap();
        };
        put(Stock::Received(50), FEB_1 + 9 * HOUR);
        put(Stock::Sold(3), MAR_1 - 5 * HOUR);
        put(Stock::Sold(1), MAR_1 + 14 * HOUR);
        put(Stock::Received(10), MAR_1 + 2 * DAY);
        s
    }

    #[test]
    fn by_version() {
        let s = inventory();
        assert_eq!(stock_now(&s, "sku-42").unwrap(), 56);
        assert_eq!(stock_at_version(&s, "sku-42", 0).unwrap(), 0);
        assert_eq!(stock_at_version(&s, "sku-42", 1).unwrap(), 50);
        assert_eq!(stock_at_version(&s, "sku-42", 2).unwrap(), 47);
        assert_eq!(stock_at_version(&s, "sku-42", 3).unwrap(), 46);
    }

    #[test]
    fn on_1_march_at_midnight_and_in_the_evening() {
        let s = inventory();
        assert_eq!(stock_as_of(&s, "sku-42", MAR_1).unwrap(), 47);
        assert_eq!(stock_as_of(&s, "sku-42", MAR_1 + 20 * HOUR).unwrap(), 46);
        assert_eq!(stock_as_of(&s, "sku-42", FEB_1).unwrap(), 0);
        assert_eq!(stock_as_of(&s, "sku-42", u64::MAX).unwrap(), 56);
    }

    #[test]
    fn the_answer_is_always_a_prefix_of_the_stream() {
        // A writer with a slow clock stamped the fifth event earlier than the fourth.
        let mut s = inventory();
        s.append("sku-42", Expected::Any, vec![Stock::Sold(5)], MAR_1 + DAY).unwrap();
        // As of 2 March the fourth event (3 March) has not happened, so the fifth, which
        // came after it, has not either.
        assert_eq!(stock_as_of(&s, "sku-42", MAR_1 + DAY + HOUR).unwrap(), 46);
    }
}
