// Exercise 09.3: the mean projection lag of a polling relay.
//
// What to do: write `mean_lag_ms(poll_ms, per_event_ms, writes_per_second)`: a relay polls
// the outbox every `poll_ms`, then applies the batch one event after another, each
// taking `per_event_ms`. Writes arrive at random (Poisson) and the relay keeps up.
// Why it matters: "eventual consistency" has a size, and it is set by how the relay is
// built; this formula says what a poll interval costs before anything is deployed.
// Chapter: 09-cqrs, "Projection lag, as a distribution".
// Hint: three parts: the wait for the next poll, the events ahead in the batch, and the
// event's own processing. On average, how many writes arrived earlier in the same poll
// interval?

pub fn mean_lag_ms(poll_ms: f64, per_event_ms: f64, writes_per_second: f64) -> f64 {
    // Wait for the next poll (uniform: half an interval), then the writes that arrived
    // earlier in the same interval (rate x poll / 2 on average), then its own processing.
    poll_ms / 2.0 + per_event_ms * (1.0 + writes_per_second * poll_ms / 1e3 / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relay simulated on integer microseconds: writes at seeded random times, polls
    /// every `poll` from a random phase.
    fn simulated(poll_ms: f64, per_event_ms: f64, rate: f64, seed: u64) -> f64 {
        use rand::Rng;
        let mut r = unbreakable::retry::seeded_rng(seed, 0);
        let (poll, cost) = ((poll_ms * 1e3) as u64, (per_event_ms * 1e3) as u64);
        let mut t = 0.0;
        let mut commits = Vec::new();
        while commits.len() < 200_000 {
            t += -(1.0 - r.random::<f64>()).ln() / rate * 1e6;
            commits.push(t as u64);
        }
        let (mut next, mut total, mut i) = (r.random_range(0..poll), 0u64, 0);
        while i < commits.len() {
            let mut done = next;
            while i < commits.len() && commits[i] <= next {
                done += cost;
                total += done - commits[i];
                i += 1;
            }
            next += poll;
        }
        total as f64 / commits.len() as f64 / 1e3
    }

    #[test]
    fn known_values() {
        assert!((mean_lag_ms(100.0, 0.2, 50.0) - 50.7).abs() < 1e-9);
        assert!((mean_lag_ms(10.0, 0.2, 50.0) - 5.25).abs() < 1e-9);
    }

    #[test]
    fn matches_a_simulation_within_3_percent() {
        for (poll, cost, rate) in [(100.0, 0.2, 50.0), (250.0, 1.0, 20.0), (20.0, 0.5, 100.0)] {
            let (f, s) = (mean_lag_ms(poll, cost, rate), simulated(poll, cost, rate, 7));
            assert!((f - s).abs() / s < 0.03, "poll {poll}: formula {f:.2} ms, simulated {s:.2} ms");
        }
    }
}
