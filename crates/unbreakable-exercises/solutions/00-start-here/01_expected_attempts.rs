// Exercise 00.1: the expected number of attempts, in closed form.
//
// What to do: write `expected_attempts(p, n)`, the mean number of attempts a request
// makes when each attempt fails independently with probability `p` and up to `n`
// retries are allowed. Replace the `todo!()`.
// Why it matters: before you turn on retries in a service you should know how much
// extra load they add. At 10% failures, 3 retries cost 11% more calls, not 300%.
// Chapter: 00-start-here, "Did every request get through?".
// Hint: the first attempt always happens; the second only if the first failed (chance
//   p); the third only if the first two failed. What does the sum 1 + p + p^2 + ... + p^n
//   come to, and what must you do when p = 1?

/// The expected attempts for failure probability `p` and at most `n` retries.
pub fn expected_attempts(p: f64, n: u32) -> f64 {
    if (1.0 - p).abs() < 1e-15 {
        return f64::from(n) + 1.0;
    }
    (1.0 - p.powi(n as i32 + 1)) / (1.0 - p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_series_term_by_term() {
        for &p in &[0.0_f64, 0.1, 0.5, 0.6, 0.9] {
            for n in 0..8 {
                let series: f64 = (0..=n).map(|k| p.powi(k as i32)).sum();
                assert!((expected_attempts(p, n) - series).abs() < 1e-12, "p = {p}, n = {n}");
            }
        }
    }

    #[test]
    fn matches_the_crate() {
        for &(p, n) in &[(0.6, 3), (0.05, 1), (0.3, 10)] {
            assert!((expected_attempts(p, n) - unbreakable::retry::expected_attempts(p, n)).abs() < 1e-12);
        }
    }

    #[test]
    fn a_dependency_that_always_fails_costs_every_attempt() {
        assert_eq!(expected_attempts(1.0, 3), 4.0);
    }
}
