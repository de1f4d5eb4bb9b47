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
//   come to, what must you do when p = 1, and what does `n as i32 + 1` do for n = u32::MAX?

/// The expected attempts for failure probability `p` and at most `n` retries.
pub fn expected_attempts(p: f64, n: u32) -> f64 {
    // TODO: the closed form of 1 + p + p^2 + ... + p^n.
    todo!("expected attempts for p = {p}, n = {n}")
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
    fn independently_computed_values() {
        // Worked by hand: 1 + 0.6 + 0.36 + 0.216; 1 + 0.05; (1 - 0.3^11) / 0.7.
        for &(p, n, want) in &[(0.6, 3, 2.176), (0.05, 1, 1.05), (0.3, 10, 1.428_568_897_9)] {
            let got = expected_attempts(p, n);
            assert!((got - want).abs() < 1e-9, "p = {p}, n = {n}: {got}, want {want}");
        }
    }

    #[test]
    fn huge_retry_counts_do_not_overflow() {
        // `n as i32 + 1` overflows for n >= i32::MAX (a panic, or p^0 = 1 and so 0 attempts).
        for n in [i32::MAX as u32, u32::MAX] {
            let got = expected_attempts(0.5, n);
            assert!((got - 2.0).abs() < 1e-12, "p = 0.5, n = {n}: {got}, want 2");
        }
        assert_eq!(expected_attempts(1.0, u32::MAX), 4_294_967_296.0);
    }

    #[test]
    fn written_by_hand_not_borrowed_from_the_crate() {
        let yours = unbreakable_exercises::learner_code(include_str!("01_expected_attempts.rs"));
        assert!(!yours.contains("retry::"), "write the closed form yourself rather than call the crate's");
    }

    #[test]
    fn a_dependency_that_always_fails_costs_every_attempt() {
        assert_eq!(expected_attempts(1.0, 3), 4.0);
    }
}
