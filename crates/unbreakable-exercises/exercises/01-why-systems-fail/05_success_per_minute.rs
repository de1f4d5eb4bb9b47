// Exercise 01.5: what your metrics must show.
//
// What to do: write `success_by_minute(records)`: from (time sent, succeeded) records,
// the share of requests that succeeded in each minute (None for a minute with no
// requests), and `outage(shares, slo)`, the first and last minute whose share is below
// `slo`.
// Why it matters: the user cannot tell which link failed, and one overall success rate
// hides a ten-minute outage inside a good day. Success per minute shows when it started
// and when it ended.
// Chapter: 01-why-systems-fail, "Each kind of failure".
// Hint: which minute does a request sent at 125 s belong to, and how many minutes does
//   the list need?

use std::time::Duration;

pub fn success_by_minute(records: &[(Duration, bool)]) -> Vec<Option<f64>> {
    // TODO
    todo!("{} records", records.len())
}

pub fn outage(shares: &[Option<f64>], slo: f64) -> Option<(usize, usize)> {
    // TODO
    todo!("{shares:?} {slo}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ten_minutes_in_an_hour() {
        // One request a second for an hour; minutes 20 to 29 lose 30% of requests.
        let records: Vec<(Duration, bool)> = (0..3600u64)
            .map(|s| (Duration::from_secs(s), !((1200..1800).contains(&s) && s % 10 < 3)))
            .collect();
        let overall = records.iter().filter(|r| r.1).count() as f64 / records.len() as f64;
        assert!(overall > 0.94, "the day looks fine: {overall}");
        let shares = success_by_minute(&records);
        assert_eq!(shares.len(), 60);
        assert_eq!(shares[0], Some(1.0));
        assert_eq!(shares[25], Some(0.7));
        assert_eq!(outage(&shares, 0.99), Some((20, 29)));
    }

    #[test]
    fn quiet_minutes_are_not_outages() {
        let records = [(Duration::from_secs(10), true), (Duration::from_secs(130), false)];
        let shares = success_by_minute(&records);
        assert_eq!(shares, [Some(1.0), None, Some(0.0)]);
        assert_eq!(outage(&shares, 0.99), Some((2, 2)));
        assert_eq!(outage(&[Some(1.0), None], 0.99), None);
        assert!(success_by_minute(&[]).is_empty());
    }
}
