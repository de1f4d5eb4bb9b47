//! A fixed-size fingerprint of a request: what a key store keeps instead of its bytes.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The SHA-256 digest of a request's canonical bytes.
///
/// A key store keeps this instead of the request: 32 bytes whatever the request's size,
/// and the same in every process, on every machine and with every Rust version (unlike
/// `std::hash::DefaultHasher`), so a store shared between processes can compare a retry
/// with the first request. Two different requests collide with negligible probability.
///
/// Every API that takes a request accepts `impl Into<Fingerprint>`: pass the request's
/// bytes (`&[u8]`, `&[u8; N]`, `&Vec<u8>`, `&str`) and they are fingerprinted, or pass a
/// fingerprint computed once with [`Fingerprint::of`].
///
/// The bytes must be *canonical*: the same logical request must always give the same
/// bytes (fix the field order, leave out timestamps and tracing ids).
///
/// # Examples
/// ```
/// use unbreakable::idempotency::Fingerprint;
///
/// let f = Fingerprint::of(b"abc");
/// assert_eq!(f, Fingerprint::from(b"abc"));
/// assert_eq!(f.to_string(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// assert_ne!(f, Fingerprint::of(b"abd"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fingerprint([u8; Fingerprint::LEN]);

impl Fingerprint {
    /// Its size in bytes.
    pub const LEN: usize = 32;

    /// The fingerprint of `request`'s bytes.
    pub fn of(request: &[u8]) -> Self {
        Self(Sha256::digest(request).into())
    }

    /// A fingerprint from its bytes (as [`as_bytes`](Self::as_bytes) gave them, read back
    /// from storage).
    pub const fn from_bytes(bytes: [u8; Fingerprint::LEN]) -> Self {
        Self(bytes)
    }

    /// Its bytes.
    pub const fn as_bytes(&self) -> &[u8; Fingerprint::LEN] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    /// Lowercase hex, 64 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    /// The first 8 bytes in hex: enough to tell fingerprints apart in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(")?;
        self.0.iter().take(8).try_for_each(|b| write!(f, "{b:02x}"))?;
        f.write_str("…)")
    }
}

impl From<&[u8]> for Fingerprint {
    fn from(request: &[u8]) -> Self {
        Self::of(request)
    }
}

impl<const N: usize> From<&[u8; N]> for Fingerprint {
    fn from(request: &[u8; N]) -> Self {
        Self::of(request)
    }
}

impl From<&Vec<u8>> for Fingerprint {
    fn from(request: &Vec<u8>) -> Self {
        Self::of(request)
    }
}

impl From<&str> for Fingerprint {
    fn from(request: &str) -> Self {
        Self::of(request.as_bytes())
    }
}

impl From<&Fingerprint> for Fingerprint {
    fn from(f: &Fingerprint) -> Self {
        *f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest is SHA-256 itself (the FIPS 180-2 test vector), so it is the same in
    /// every process and with every Rust version.
    #[test]
    fn the_fingerprint_is_the_standard_sha256() {
        assert_eq!(
            Fingerprint::of(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Fingerprint::from("abc"), Fingerprint::of(b"abc"));
        assert_eq!(Fingerprint::from_bytes(*Fingerprint::of(b"x").as_bytes()), Fingerprint::of(b"x"));
        assert_eq!(format!("{:?}", Fingerprint::of(b"abc")), "Fingerprint(ba7816bf8f01cfea…)");
    }
}
