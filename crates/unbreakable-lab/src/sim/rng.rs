use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The random number generator of every simulation.
///
/// ChaCha8 is portable and its output is fixed for a given seed across platforms and
/// releases of `rand_chacha`, which `rand`'s `StdRng` does not promise. That is what
/// makes "the same seed gives the same chart, byte for byte" hold on every machine.
pub type SimRng = unbreakable::retry::JitterRng;

/// A generator seeded with `seed`.
///
/// # Examples
/// ```
/// use rand::Rng;
/// let a: u64 = unbreakable_lab::sim::rng(1).random();
/// let b: u64 = unbreakable_lab::sim::rng(1).random();
/// assert_eq!(a, b);
/// ```
pub fn rng(seed: u64) -> SimRng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// An independent generator for stream `stream` of run `seed` (for example one per
/// client), so that adding a client does not shift the numbers every other client draws.
pub fn substream(seed: u64, stream: u64) -> SimRng {
    // The same streams the core crate's seeded retries draw from.
    unbreakable::retry::seeded_rng(seed, stream)
}

/// A uniform draw from `[0, 1)`.
pub fn unit(rng: &mut impl Rng) -> f64 {
    rng.random::<f64>()
}
