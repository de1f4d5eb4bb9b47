// Exercise 04.4: size a thread pool with Little's law and Erlang C.
//
// What to do: write `busy(rate, hold)`, the mean number of busy threads when requests
// arrive at `rate` per second and each holds a thread for `hold` seconds (Little's law);
// `erlang_c(a, c)`, the chance that a request must wait for one of `c` threads at an
// offered load of `a` erlangs (None if a >= c: the queue grows without bound); and
// `smallest_pool(a, max_wait)`, the fewest threads that keep that chance at or below
// `max_wait`.
// Why it matters: a dependency that hangs for its full timeout multiplies `hold`, and
// with it the threads you need. These formulas tell you in advance whether the pool
// survives, which the chapter's weather API did not.
// Chapter: 04-timeouts-and-deadlines, "A hanging dependency exhausts the thread pool".
// Hint: Erlang C is (a^c / c!) * (c / (c - a)) divided by the sum of a^k / k! for
//   k < c plus that same term. Can you build the terms a^k / k! one from the previous,
//   so nothing overflows for c = 200?

pub fn busy(rate: f64, hold: f64) -> f64 {
    rate * hold
}

pub fn erlang_c(a: f64, c: u32) -> Option<f64> {
    if c == 0 || a >= f64::from(c) {
        return None;
    }
    let mut term = 1.0; // a^0 / 0!
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / f64::from(k + 1);
    }
    let last = term * f64::from(c) / (f64::from(c) - a);
    Some(last / (sum + last))
}

pub fn smallest_pool(a: f64, max_wait: f64) -> u32 {
    (1..).find(|&c| erlang_c(a, c).is_some_and(|p| p <= max_wait)).expect("some pool is big enough")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn littles_law() {
        assert_eq!(busy(100.0, 0.05), 5.0);
        // The weather API hanging for its 5 s timeout at 20 requests/s holds 100 threads.
        assert_eq!(busy(20.0, 5.0), 100.0);
    }

    #[test]
    fn textbook_values() {
        assert!((erlang_c(2.0, 3).unwrap() - 4.0 / 9.0).abs() < 1e-12);
        assert!((erlang_c(1.0, 2).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(erlang_c(3.0, 3), None);
        assert_eq!(erlang_c(400.0, 200), None);
        let big = erlang_c(150.0, 200).unwrap();
        assert!(big > 0.0 && big < 1e-3, "{big}");
    }

    #[test]
    fn sizing() {
        assert_eq!(smallest_pool(2.0, 0.5), 3);
        let c = smallest_pool(100.0, 0.01);
        assert!((115..=125).contains(&c), "{c}");
        assert!(erlang_c(100.0, c).unwrap() <= 0.01 && erlang_c(100.0, c - 1).unwrap() > 0.01);
    }
}
