// Exercise 04.1: choose a timeout from measured latency.
//
// What to do: write `timeout_at(samples, q, margin)`: the nearest-rank percentile `q` of
// the measured latencies, times `1 + margin` (None when nothing was measured: no data is
// no reason to pick a timeout). Then check it against a seeded log-normal sample.
// Why it matters: a timeout guessed as "3 times the median" cuts off healthy requests
// when the tail is long and waits far too long when it is short. A timeout at p99.9 plus
// a margin fails about one healthy request in a thousand, by choice.
// Chapter: 04-timeouts-and-deadlines, "Choosing a timeout".
// Hint: after sorting n samples, which index holds the smallest value with at least a
//   share q of the samples at or below it? In f64, 0.07 * 100.0 is 7.000000000000001:
//   its ceiling is 8, not 7.

use std::time::Duration;

pub fn timeout_at(samples: &[Duration], q: f64, margin: f64) -> Option<Duration> {
    // TODO
    todo!("{} samples, q = {q}, margin = {margin}", samples.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// Log-normal latencies (median 80 ms) from a seeded generator (Box-Muller).
    fn lognormal(n: usize, sigma: f64, seed: u64) -> Vec<Duration> {
        let mut rng = unbreakable::retry::seeded_rng(seed, 0);
        (0..n)
            .map(|_| {
                let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                Duration::from_secs_f64(0.080 * (sigma * z).exp())
            })
            .collect()
    }

    #[test]
    fn exact_on_a_simple_sample() {
        let ms = Duration::from_millis;
        let s: Vec<Duration> = (1..=1000).rev().map(ms).collect();
        assert_eq!(timeout_at(&s, 0.999, 0.0), Some(ms(999)));
        assert_eq!(timeout_at(&s, 0.99, 0.2), Some(ms(1188)));
        assert_eq!(timeout_at(&s[..1], 0.99, 0.0), Some(ms(1000)));
        assert_eq!(timeout_at(&[], 0.99, 0.2), None, "nothing measured");
        // 0.07 * 100.0 is 7.000000000000001 in f64: the 7th sample, not the 8th.
        let hundred: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(timeout_at(&hundred, 0.07, 0.0), Some(ms(7)));
        assert_eq!(timeout_at(&hundred, 0.29, 0.0), Some(ms(29)));
        assert_eq!(timeout_at(&hundred, 0.57, 1.0), Some(ms(114)));
    }

    #[test]
    fn close_to_the_log_normal_quantile() {
        // p99.9 of a log-normal with median 80 ms, sigma 0.5: 80 ms * e^(0.5 * 3.0902).
        let s = lognormal(200_000, 0.5, 42);
        let t = timeout_at(&s, 0.999, 0.0).unwrap().as_secs_f64();
        let exact = 0.080 * (0.5_f64 * 3.0902).exp();
        assert!((t / exact - 1.0).abs() < 0.03, "{t} against {exact}");
    }
}
