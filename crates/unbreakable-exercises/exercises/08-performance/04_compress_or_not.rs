// Exercise 08.4: compress a response, or send it as it is?
//
// What to do: `Measured` is one payload measured once: its size, its size compressed, and
// the CPU time to compress it and decompress it. Write `delivery_compressed` (CPU time
// plus sending the compressed bytes), `delivery_plain` (sending the original bytes),
// `pays` (whether compressing is faster on a link of `bytes_per_s`) and `break_even`:
// the bandwidth above which sending it uncompressed is faster. Round trips are the same
// either way; leave them out.
// Why it matters: the article's 70-80% saving is real on a phone, but at data-centre
// speeds the CPU time can cost more than the bytes it saves. Compressing "everything,
// always" is a choice with a break-even point, and a payload that does not shrink (an
// image, an encrypted blob) never pays.
// Chapter: 08-performance, "Compression".
// Hint: compressing pays while the time to send the bytes it saves is larger than the CPU
//   time it costs. At which bandwidth are the two equal?

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub original: usize,
    pub compressed: usize,
    /// Compression plus decompression.
    pub cpu: Duration,
}

pub fn delivery_plain(m: &Measured, bytes_per_s: f64) -> Duration {
    Duration::from_secs_f64(m.original as f64 / bytes_per_s)
}

pub fn delivery_compressed(m: &Measured, bytes_per_s: f64) -> Duration {
    // TODO
    todo!("{m:?} {bytes_per_s}")
}

pub fn pays(m: &Measured, bytes_per_s: f64) -> bool {
    // TODO: compress everything, always.
    true
}

/// Bytes per second; 0 if nothing is saved, infinite if the CPU time is zero and
/// something is saved.
pub fn break_even(m: &Measured) -> f64 {
    // TODO
    todo!("{m:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // 1 Mbit/s, 100 Mbit/s, 1 Gbit/s and 10 Gbit/s in bytes per second.
    const MOBILE: f64 = 125e3;
    const BROADBAND: f64 = 12.5e6;
    const LAN: f64 = 125e6;
    const DATA_CENTRE: f64 = 1.25e9;

    // A 20 KB JSON list that gzip takes to 4 KB (80% saved) in 0.2 ms, both ways.
    const JSON: Measured = Measured { original: 20_000, compressed: 4_000, cpu: Duration::from_micros(200) };
    // A JPEG: already compressed; gzip adds a few bytes of framing.
    const JPEG: Measured = Measured { original: 80_000, compressed: 80_030, cpu: Duration::from_micros(900) };

    #[test]
    fn delivery_times() {
        assert_eq!(delivery_plain(&JSON, MOBILE), Duration::from_millis(160));
        assert_eq!(delivery_compressed(&JSON, MOBILE), Duration::from_micros(32_200));
    }

    #[test]
    fn json_pays_on_client_links_not_on_a_lan() {
        assert!(pays(&JSON, MOBILE) && pays(&JSON, BROADBAND));
        assert!(!pays(&JSON, LAN) && !pays(&JSON, DATA_CENTRE));
        // 16,000 bytes saved per 0.2 ms of CPU: 80 MB/s, 640 Mbit/s.
        assert!((break_even(&JSON) - 80e6).abs() < 1.0, "{}", break_even(&JSON));
    }

    #[test]
    fn break_even_is_where_the_deliveries_meet() {
        let m = Measured { original: 50_000, compressed: 9_000, cpu: Duration::from_micros(700) };
        let b = break_even(&m);
        assert!(pays(&m, b * 0.9) && !pays(&m, b * 1.1), "{b}");
        let gap = delivery_plain(&m, b).as_secs_f64() - delivery_compressed(&m, b).as_secs_f64();
        assert!(gap.abs() < 1e-8, "{gap}");
    }

    #[test]
    fn what_does_not_shrink_never_pays() {
        assert!(!pays(&JPEG, MOBILE));
        assert_eq!(break_even(&JPEG), 0.0);
        let free = Measured { cpu: Duration::ZERO, ..JSON };
        assert!(break_even(&free).is_infinite());
    }
}
