//! HTTP response compression measured: gzip (flate2), Brotli (brotli) and zstd (zstd) on
//! any bytes, per level: compressed size, and compression and decompression CPU time.
//!
//! [`measure`] is the function to point at your own payloads. Sizes are exact and the same
//! on every machine; times are this machine's (the median of several runs) and vary.

use std::io::{self, Read as _, Write as _};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::ConfigError;

/// A compression codec, as an HTTP `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Codec {
    /// `gzip`: DEFLATE (flate2, miniz_oxide back end); levels 1-9, servers default to 6.
    Gzip,
    /// `br`: Brotli; levels (qualities) 0-11, servers use 4-5 for dynamic responses and 11
    /// for static files compressed ahead of time.
    Brotli,
    /// `zstd`: Zstandard; levels 1-19 here (20-22 need more memory), default 3.
    Zstd,
}

impl Codec {
    /// All three.
    pub const ALL: [Codec; 3] = [Codec::Gzip, Codec::Brotli, Codec::Zstd];

    /// The `Content-Encoding` name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Brotli => "br",
            Codec::Zstd => "zstd",
        }
    }

    /// The levels [`measure`] accepts.
    pub fn levels(self) -> RangeInclusive<i32> {
        match self {
            Codec::Gzip => 1..=9,
            Codec::Brotli => 0..=11,
            Codec::Zstd => 1..=19,
        }
    }

    /// The level a web server typically uses for dynamic responses (nginx `gzip_comp_level`
    /// is 1 by default but 6 is the common setting and zlib's default; Brotli's nginx
    /// module defaults to 6, Caddy and many CDNs use 4-5; zstd's default is 3).
    pub fn typical_level(self) -> i32 {
        match self {
            Codec::Gzip => 6,
            Codec::Brotli => 5,
            Codec::Zstd => 3,
        }
    }

    fn check(self, level: i32) -> Result<(), ConfigError> {
        let l = self.levels();
        if l.contains(&level) {
            Ok(())
        } else {
            Err(ConfigError::new(
                "level",
                format!("{level} is not a {} level; use {}..={}", self.name(), l.start(), l.end()),
            ))
        }
    }
}

/// Compresses `bytes` with `codec` at `level`.
///
/// # Errors
/// A level outside [`Codec::levels`] (as [`io::ErrorKind::InvalidInput`]), or what the
/// codec reports.
pub fn compress(bytes: &[u8], codec: Codec, level: i32) -> io::Result<Vec<u8>> {
    codec.check(level).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    match codec {
        Codec::Gzip => {
            let level = u32::try_from(level).expect("checked above");
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(bytes.len() / 3),
                flate2::Compression::new(level),
            );
            e.write_all(bytes)?;
            e.finish()
        }
        Codec::Brotli => {
            let mut out = Vec::with_capacity(bytes.len() / 3);
            {
                // 4 KiB buffer, window 2^22 (brotli's default).
                let quality = u32::try_from(level).expect("checked above");
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, quality, 22);
                w.write_all(bytes)?;
                w.flush()?;
            }
            Ok(out)
        }
        Codec::Zstd => zstd::bulk::compress(bytes, level),
    }
}

/// Decompresses what [`compress`] made.
///
/// # Errors
/// Corrupt or truncated input.
pub fn decompress(bytes: &[u8], codec: Codec) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    match codec {
        Codec::Gzip => {
            flate2::read::GzDecoder::new(bytes).read_to_end(&mut out)?;
        }
        Codec::Brotli => {
            brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out)?;
        }
        Codec::Zstd => {
            zstd::stream::read::Decoder::new(bytes)?.read_to_end(&mut out)?;
        }
    }
    Ok(out)
}

/// One codec at one level on one payload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    /// The codec.
    pub codec: Codec,
    /// Its level.
    pub level: i32,
    /// Bytes in.
    pub original: usize,
    /// Bytes out.
    pub compressed: usize,
    /// Median compression time (CPU-bound, one thread).
    pub compress: Duration,
    /// Median decompression time.
    pub decompress: Duration,
}

impl Measured {
    /// The share of bytes saved: 0.75 means the response became a quarter of its size.
    pub fn saved(&self) -> f64 {
        1.0 - self.compressed as f64 / self.original.max(1) as f64
    }

    /// Compression speed in MB (10^6 bytes) of input per second.
    pub fn compress_mb_s(&self) -> f64 {
        self.original as f64 / 1e6 / self.compress.as_secs_f64().max(1e-9)
    }

    /// Time to deliver the response over a link of `bytes_per_s`: compress, send the
    /// smaller body, decompress. Latency (round trips) is the same either way and left out.
    pub fn delivery(&self, bytes_per_s: f64) -> Duration {
        self.compress + self.decompress + Duration::from_secs_f64(self.compressed as f64 / bytes_per_s)
    }

    /// The bandwidth (bytes per second) above which sending the response uncompressed is
    /// faster: where the transfer time saved equals the CPU time spent. Below it,
    /// compression pays. Infinite when both CPU times are zero.
    pub fn break_even(&self) -> f64 {
        let saved = self.original.saturating_sub(self.compressed) as f64;
        saved / (self.compress + self.decompress).as_secs_f64()
    }
}

/// Compresses and decompresses `bytes` `runs` times with `codec` at `level`, checks the
/// round trip, and reports the size and the median times.
///
/// # Errors
/// A level outside [`Codec::levels`], zero runs, or a round trip that does not give the
/// bytes back.
///
/// # Examples
/// ```
/// use unbreakable_lab::perf::compression::{measure, Codec};
/// let json = br#"{"items":[{"id":1,"name":"Desk Lamp"},{"id":2,"name":"Desk Lamp"}]}"#.repeat(50);
/// let m = measure(&json, Codec::Zstd, 3, 5).unwrap();
/// assert!(m.saved() > 0.9);
/// ```
pub fn measure(bytes: &[u8], codec: Codec, level: i32, runs: u32) -> Result<Measured, crate::Error> {
    codec.check(level)?;
    if runs == 0 {
        return Err(ConfigError::new("runs", "at least one run is needed to time anything").into());
    }
    let (mut c_times, mut d_times) = (Vec::new(), Vec::new());
    let mut compressed = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        compressed = compress(bytes, codec, level)?;
        c_times.push(t.elapsed());
        let t = Instant::now();
        let back = decompress(&compressed, codec)?;
        d_times.push(t.elapsed());
        if back != bytes {
            return Err(crate::Error::Io(io::Error::other(format!(
                "{} level {level} did not round-trip",
                codec.name()
            ))));
        }
    }
    Ok(Measured {
        codec,
        level,
        original: bytes.len(),
        compressed: compressed.len(),
        compress: median(&mut c_times),
        decompress: median(&mut d_times),
    })
}

/// Only the compressed size (exact, no timing): what the deterministic charts use.
///
/// # Errors
/// As [`compress`].
pub fn size(bytes: &[u8], codec: Codec, level: i32) -> io::Result<usize> {
    compress(bytes, codec, level).map(|c| c.len())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Bandwidths from a poor mobile link to a data-centre link, in bytes per second, with
/// names: 1 Mbit/s (3G), 10 Mbit/s (4G), 100 Mbit/s (broadband), 1 Gbit/s (LAN),
/// 10 Gbit/s (data centre).
pub fn links() -> [(&'static str, f64); 5] {
    [
        ("1 Mbit/s", 125e3),
        ("10 Mbit/s", 1.25e6),
        ("100 Mbit/s", 12.5e6),
        ("1 Gbit/s", 125e6),
        ("10 Gbit/s", 1.25e9),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_at_its_edges_and_rejects_bad_levels() {
        let data = b"{\"id\":1,\"name\":\"Classic Backpack\",\"tags\":[\"new\",\"sale\"]}".repeat(40);
        for c in Codec::ALL {
            for level in [*c.levels().start(), c.typical_level(), *c.levels().end()] {
                let m = measure(&data, c, level, 1).unwrap();
                assert!(m.compressed < data.len() / 5, "{c:?} {level}");
            }
            assert!(measure(&data, c, 99, 1).is_err());
            assert!(compress(&data, c, -100).is_err());
            assert!(decompress(b"not compressed", c).is_err() || c == Codec::Brotli);
        }
        assert!(measure(&data, Codec::Gzip, 6, 0).is_err());
    }

    #[test]
    fn break_even_is_where_the_two_deliveries_meet() {
        let m = Measured {
            codec: Codec::Gzip,
            level: 6,
            original: 100_000,
            compressed: 20_000,
            compress: Duration::from_micros(700),
            decompress: Duration::from_micros(100),
        };
        let bw = m.break_even();
        assert!((bw - 1e8).abs() < 1.0, "{bw}");
        let plain = |b: f64| 100_000.0 / b;
        assert!(m.delivery(bw / 2.0).as_secs_f64() < plain(bw / 2.0));
        assert!(m.delivery(bw * 2.0).as_secs_f64() > plain(bw * 2.0));
        assert!((m.saved() - 0.8).abs() < 1e-12);
    }
}
