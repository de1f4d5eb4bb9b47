// Exercise 00.2: a rare failure per request is a common one per batch.
//
// What to do: write `batch_fails(p, retries, batch)`, the chance that at least one of
// `batch` independent requests fails every one of its `1 + retries` attempts, and
// `retries_needed`, the fewest retries that bring that chance below `target`.
// Why it matters: dashboards show per-request rates, but a job of 1,000 requests, or a
// page that makes 100 calls, fails if any one of them does.
// Chapter: 00-start-here, "Did every request get through?" and its exercise 3.
// Hint: what is the chance that one request fails all its tries, and what is the chance
//   that none of the `batch` requests does?

/// The chance that at least one of `batch` requests fails all `1 + retries` attempts.
pub fn batch_fails(p: f64, retries: u32, batch: u32) -> f64 {
    let one = p.powi(retries as i32 + 1);
    1.0 - (1.0 - one).powi(batch as i32)
}

/// The fewest retries that make `batch_fails` smaller than `target` (None if even 100
/// retries do not).
pub fn retries_needed(p: f64, batch: u32, target: f64) -> Option<u32> {
    (0..=100).find(|&n| batch_fails(p, n, batch) < target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chapters_batch_of_100() {
        // 0.81% per request (0.3^4 with 3 retries at 30% failures), 100 requests: 56%.
        let p = batch_fails(0.3, 3, 100);
        assert!((p - 0.556).abs() < 0.001, "{p}");
    }

    #[test]
    fn no_retries_and_a_batch_of_one_is_just_p() {
        assert!((batch_fails(0.2, 0, 1) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn retries_for_a_batch_of_1000() {
        assert_eq!(retries_needed(0.3, 1000, 0.01), Some(9));
        assert_eq!(retries_needed(0.0, 1000, 0.01), Some(0));
        assert_eq!(retries_needed(1.0, 10, 0.01), None);
    }
}
