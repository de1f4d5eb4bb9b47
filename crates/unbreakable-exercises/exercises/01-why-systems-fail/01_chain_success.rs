// Exercise 01.1: in a chain, any link's failure is the user's failure.
//
// What to do: write `chain_success(links)`, the share of requests that get through a
// chain of services called one after the other, where `links[i]` is the share link `i`
// serves (independent failures); and `with_retries(p_fail, retries)`, the share one link
// serves when the caller retries it.
// Why it matters: five services at 99.9% each do not make a 99.9% product. Knowing the
// product tells you which link to harden first and what retries buy.
// Chapter: 01-why-systems-fail, "The chain".
// Hint: for a request to succeed, must every link succeed, or just one? And with retries,
//   what has to happen for the link to fail in the end?

/// The share of requests served by every link of the chain.
pub fn chain_success(links: &[f64]) -> f64 {
    // TODO
    todo!("{links:?}")
}

/// The share one link serves when each attempt fails with `p_fail` and `retries` retries
/// are made.
pub fn with_retries(p_fail: f64, retries: u32) -> f64 {
    // TODO
    todo!("{p_fail} {retries}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_links_at_three_nines() {
        let s = chain_success(&[0.999; 5]);
        assert!((s - 0.995_01).abs() < 1e-5, "{s}");
    }

    #[test]
    fn an_empty_chain_always_succeeds_and_a_dead_link_always_fails() {
        assert_eq!(chain_success(&[]), 1.0);
        assert_eq!(chain_success(&[0.99, 0.0, 0.99]), 0.0);
    }

    #[test]
    fn one_retry_on_the_flaky_database() {
        // Gateway and service at 99.9%, a database losing 5% of calls, retried once.
        let db = with_retries(0.05, 1);
        assert!((db - 0.9975).abs() < 1e-12);
        let s = chain_success(&[0.999, 0.999, db]);
        assert!((s - 0.995_504).abs() < 1e-5, "{s}");
    }

    #[test]
    fn independently_computed_values() {
        for &(ref links, want) in &[(vec![0.9, 0.8], 0.72), (vec![0.5; 3], 0.125), (vec![0.97], 0.97)] {
            let got = chain_success(links);
            assert!((got - want).abs() < 1e-12, "{links:?}: {got}, want {want}");
        }
        // 1 - 0.2^3; 1 - 0.5^1; 1 - 1^4.
        for &(p, n, want) in &[(0.2, 2, 0.992), (0.5, 0, 0.5), (1.0, 3, 0.0)] {
            let got = with_retries(p, n);
            assert!((got - want).abs() < 1e-12, "p_fail = {p}, retries = {n}: {got}, want {want}");
        }
    }

    #[test]
    fn huge_retry_counts_do_not_overflow() {
        // `retries as i32 + 1` wraps to 0 (or panics) for retries >= i32::MAX.
        for n in [i32::MAX as u32, u32::MAX] {
            let got = with_retries(0.5, n);
            assert!((got - 1.0).abs() < 1e-12, "retries = {n}: {got}");
        }
    }
}
