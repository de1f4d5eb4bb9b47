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
    // TODO
    todo!("p = {p}, retries = {retries}, batch = {batch}")
}

/// The fewest retries that make `batch_fails` smaller than `target` (None if even 100
/// retries do not).
pub fn retries_needed(p: f64, batch: u32, target: f64) -> Option<u32> {
    // TODO
    todo!("p = {p}, batch = {batch}, target = {target}")
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
    fn independently_computed_values() {
        // 1 - (1 - 0.5^2)^2; 1 - (1 - 0.05^3)^1000; no retries and a batch of one is p.
        for &(p, retries, batch, want) in
            &[(0.5, 1, 2, 0.4375), (0.05, 2, 1000, 0.117_509_992_47), (0.2, 0, 1, 0.2), (0.3, 0, 0, 0.0)]
        {
            let got = batch_fails(p, retries, batch);
            assert!((got - want).abs() < 1e-9, "p = {p}, retries = {retries}, batch = {batch}: {got}");
        }
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        // `retries as i32 + 1` or `batch as i32` wrap around for values above i32::MAX.
        let got = batch_fails(0.5, u32::MAX, 10);
        assert!(got.abs() < 1e-12, "with endless retries nothing fails: {got}");
        let got = batch_fails(0.1, 0, u32::MAX);
        assert!((got - 1.0).abs() < 1e-12, "four billion requests: one fails for sure: {got}");
    }

    #[test]
    fn retries_for_a_batch_of_1000() {
        assert_eq!(retries_needed(0.3, 1000, 0.01), Some(9));
        assert_eq!(retries_needed(0.1, 100, 0.01), Some(3));
        assert_eq!(retries_needed(0.5, 1_000_000, 0.001), Some(29));
        assert_eq!(retries_needed(0.0, 1000, 0.01), Some(0));
        assert_eq!(retries_needed(1.0, 10, 0.01), None);
    }
}
