//! Content digests: one streaming [`Hasher`] over the algorithms a tripwire needs.
//!
//! # Example
//!
//! ```
//! use homeostat_core::digest::{digest, Algorithm, Hasher};
//!
//! let d = digest(Algorithm::Sha256, b"abc");
//! assert_eq!(d.hex().to_string(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
//! // Streaming gives the same digest, whatever the chunks.
//! let mut h = Hasher::new(Algorithm::BEST);
//! h.update(b"a");
//! h.update(b"bc");
//! assert_eq!(h.finalize(), d);
//! assert_eq!(d.to_string(), format!("sha256:{}", d.hex()));
//! ```

use core::fmt;

pub mod lanes;
pub mod sha256x16;
pub mod sha256x2;
pub mod sha256x8;

/// A content hash algorithm. `best` in configuration means [`Algorithm::BEST`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Algorithm {
    /// SHA-256 (32 bytes); what `best` means.
    Sha256 = 1,
    /// SHA-512 (64 bytes).
    Sha512 = 2,
    /// BLAKE3 (32 bytes).
    Blake3 = 3,
    /// Legacy: kept to read old baselines; collisions are practical.
    Sha1 = 4,
    /// Legacy: kept to read old baselines; collisions are practical.
    Md5 = 5,
}

/// The longest digest any algorithm produces (SHA-512).
pub const MAX_LEN: usize = 64;

impl Algorithm {
    /// What `best` means: SHA-256, hardware-accelerated on most CPUs.
    pub const BEST: Algorithm = Algorithm::Sha256;

    /// The configuration and report name (`sha256`, `sha512`, `blake3`, `sha1`, `md5`).
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake3 => "blake3",
            Algorithm::Sha1 => "sha1",
            Algorithm::Md5 => "md5",
        }
    }

    /// Parses a configuration name; `best` is SHA-256.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "sha256" | "best" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "blake3" => Algorithm::Blake3,
            "sha1" => Algorithm::Sha1,
            "md5" => Algorithm::Md5,
            _ => return None,
        })
    }

    /// The one-byte identifier stored in databases (1..=5, the enum's discriminant).
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// The algorithm of a stored identifier; `None` for an unknown one.
    pub const fn from_id(id: u8) -> Option<Algorithm> {
        Some(match id {
            1 => Algorithm::Sha256,
            2 => Algorithm::Sha512,
            3 => Algorithm::Blake3,
            4 => Algorithm::Sha1,
            5 => Algorithm::Md5,
            _ => return None,
        })
    }

    /// Digest length in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha256 | Algorithm::Blake3 => 32,
            Algorithm::Sha512 => 64,
            Algorithm::Sha1 => 20,
            Algorithm::Md5 => 16,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A finished digest: its algorithm and bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    alg: Algorithm,
    bytes: [u8; MAX_LEN],
}

impl Digest {
    /// Builds a digest from raw bytes; `None` when the length does not fit the algorithm.
    pub fn from_bytes(alg: Algorithm, bytes: &[u8]) -> Option<Digest> {
        if bytes.len() != alg.digest_len() {
            return None;
        }
        let mut d = Digest {
            alg,
            bytes: [0; MAX_LEN],
        };
        d.bytes[..bytes.len()].copy_from_slice(bytes);
        Some(d)
    }

    /// The algorithm that produced this digest.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The digest bytes, [`Algorithm::digest_len`] of them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.alg.digest_len()]
    }

    /// Lowercase hex, without the algorithm prefix.
    pub fn hex(&self) -> Hex<'_> {
        Hex(self.as_bytes())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg, self.hex())
    }
}

/// `<algorithm>:<lowercase hex>`, as reports print it.
impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg, self.hex())
    }
}

/// Lowercase hex of a byte slice, formatted without allocating.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A streaming hasher over any [`Algorithm`].
// BLAKE3's state is ~1.9 KiB; boxing it would need an allocator the core does not have.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(sha2::Sha256),
    /// SHA-512 state.
    Sha512(sha2::Sha512),
    /// BLAKE3 state.
    Blake3(blake3::Hasher),
    /// SHA-1 state (legacy).
    Sha1(sha1::Sha1),
    /// MD5 state (legacy).
    Md5(md5::Md5),
}

impl Hasher {
    /// A fresh hasher for `alg`.
    pub fn new(alg: Algorithm) -> Hasher {
        use sha2::Digest as _;
        match alg {
            Algorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            Algorithm::Blake3 => Hasher::Blake3(blake3::Hasher::new()),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Md5 => Hasher::Md5(md5::Md5::new()),
        }
    }

    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
            Hasher::Blake3(_) => Algorithm::Blake3,
            Hasher::Sha1(_) => Algorithm::Sha1,
            Hasher::Md5(_) => Algorithm::Md5,
        }
    }

    /// Feeds `data` into the digest; may be called any number of times.
    pub fn update(&mut self, data: &[u8]) {
        use sha2::Digest as _;
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
            Hasher::Blake3(h) => {
                h.update(data);
            }
            Hasher::Sha1(h) => h.update(data),
            Hasher::Md5(h) => h.update(data),
        }
    }

    /// Consumes the hasher and returns the digest of everything fed to it.
    pub fn finalize(self) -> Digest {
        use sha2::Digest as _;
        let alg = self.algorithm();
        let mut d = Digest {
            alg,
            bytes: [0; MAX_LEN],
        };
        match self {
            Hasher::Sha256(h) => d.bytes[..32].copy_from_slice(&h.finalize()),
            Hasher::Sha512(h) => d.bytes[..64].copy_from_slice(&h.finalize()),
            Hasher::Blake3(h) => d.bytes[..32].copy_from_slice(h.finalize().as_bytes()),
            Hasher::Sha1(h) => d.bytes[..20].copy_from_slice(&h.finalize()),
            Hasher::Md5(h) => d.bytes[..16].copy_from_slice(&h.finalize()),
        }
        d
    }
}

/// One-shot digest of a byte slice.
pub fn digest(alg: Algorithm, data: &[u8]) -> Digest {
    let mut h = Hasher::new(alg);
    h.update(data);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::format;

    fn hex_of(alg: Algorithm, data: &[u8]) -> std::string::String {
        format!("{}", digest(alg, data).hex())
    }

    #[test]
    fn known_vectors_abc() {
        assert_eq!(
            hex_of(Algorithm::Sha256, b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex_of(Algorithm::Sha512, b"abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(
            hex_of(Algorithm::Blake3, b"abc"),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert_eq!(
            hex_of(Algorithm::Sha1, b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex_of(Algorithm::Md5, b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }

    #[test]
    fn streaming_equals_one_shot() {
        let data: std::vec::Vec<u8> = (0..100_000u32).map(|i| (i * 7 + 3) as u8).collect();
        for alg in [
            Algorithm::Sha256,
            Algorithm::Sha512,
            Algorithm::Blake3,
            Algorithm::Sha1,
            Algorithm::Md5,
        ] {
            let mut h = Hasher::new(alg);
            for chunk in data.chunks(997) {
                h.update(chunk);
            }
            assert_eq!(h.finalize(), digest(alg, &data), "{alg}");
        }
    }

    #[test]
    fn names_round_trip_and_best_is_sha256() {
        assert_eq!(Algorithm::from_name("best"), Some(Algorithm::Sha256));
        for id in 1..=5 {
            let a = Algorithm::from_id(id).unwrap();
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
            assert_eq!(a.id(), id);
        }
        assert_eq!(Algorithm::from_name("sha224"), None);
        assert_eq!(Algorithm::from_id(0), None);
    }

    #[test]
    fn from_bytes_checks_length() {
        assert!(Digest::from_bytes(Algorithm::Sha256, &[0; 31]).is_none());
        let d = Digest::from_bytes(Algorithm::Md5, &[0xab; 16]).unwrap();
        assert_eq!(format!("{d}"), "md5:abababababababababababababababab");
    }
}
