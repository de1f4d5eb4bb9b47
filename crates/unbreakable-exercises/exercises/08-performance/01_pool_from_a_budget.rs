// Exercise 08.1: size a pool from a latency budget.
//
// What to do: a query holds a connection for `query` on average, and the whole database
// step of a request may take `budget` on average. Write `pool_for_budget`: the smallest
// pool whose mean wait for a connection plus the query itself fits in the budget, using
// `unbreakable::pool`. A budget that the query alone uses up is a configuration error
// (`ConfigError` on the field "budget"), not a pool of `max`.
// Why it matters: Little's law gives the connections busy on average, and a pool of
// exactly that size queues without end. Erlang C turns "how long may a request wait" into
// a pool size; the budget is what the product owner can actually tell you.
// Chapter: 08-performance, "How big should a pool be? Erlang C".
// Hint: how much of the budget is left for waiting once the query has run, and which
//   function in `unbreakable::pool` takes exactly that as its target?

use std::time::Duration;
use unbreakable::error::ConfigError;
use unbreakable::pool::{busy_connections, smallest_pool};

pub fn pool_for_budget(
    per_second: f64,
    query: Duration,
    budget: Duration,
    max: u32,
) -> Result<u32, ConfigError> {
    // TODO: Little's law alone: the connections busy on average. The budget is ignored.
    Ok(busy_connections(per_second, query).ceil() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unbreakable::pool::erlang_c;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn the_chapter_example() {
        // 200 queries/s of 20 ms keep 4 connections busy; a 21 ms budget leaves 1 ms to wait.
        assert_eq!(busy_connections(200.0, ms(20)), 4.0);
        assert_eq!(pool_for_budget(200.0, ms(20), ms(21), 100).unwrap(), 7);
    }

    #[test]
    fn the_pool_meets_the_budget_and_one_fewer_does_not() {
        for (rate, query, budget) in [(400.0, 20, 21), (50.0, 100, 110), (1000.0, 5, 6), (200.0, 20, 25)] {
            let c = pool_for_budget(rate, ms(query), ms(budget), 500).unwrap();
            let fits =
                |c: u32| erlang_c(rate, ms(query), c).is_some_and(|e| e.mean_wait + ms(query) <= ms(budget));
            assert!(fits(c), "{rate}/s of {query} ms in {budget} ms: {c} connections do not fit");
            assert!(!fits(c - 1), "{rate}/s of {query} ms in {budget} ms: {} would do", c - 1);
        }
    }

    #[test]
    fn a_budget_the_query_uses_up_is_refused() {
        let e = pool_for_budget(200.0, ms(20), ms(20), 100).unwrap_err();
        assert_eq!(e.field, "budget", "{e}");
        assert!(pool_for_budget(200.0, ms(20), ms(19), 100).is_err());
        // And no pool up to `max` is an error too, not `max`.
        assert!(pool_for_budget(200.0, ms(20), ms(21), 5).is_err());
    }
}
