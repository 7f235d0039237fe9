//! What the multi-message SHA-256 kernels have in common: a few chaining states hashed in
//! step, the caller owning the messages' bytes and deciding when each lane starts and ends.
//!
//! Kernels: [`super::sha256x16::Sha256x16`] (AVX-512, sixteen lanes),
//! [`super::sha256x8::Sha256x8`] (AVX2, eight lanes) and [`super::sha256x2::Sha256x2`]
//! (SHA-NI, two messages interleaved). `best` (with `alloc`) picks the fastest this CPU can run.

use super::Digest;

/// SHA-256's block.
pub const BLOCK: usize = 64;

/// SHA-256's initial chaining state.
pub(crate) const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// SHA-256's round constants.
#[allow(dead_code)] // used by the x86-64 kernels only
pub(crate) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// A SHA-256 kernel hashing [`Sha256Lanes::lanes`] messages in step.
pub trait Sha256Lanes: Send {
    /// Messages hashed in step.
    fn lanes(&self) -> usize;

    /// Below this many busy lanes, hashing each alone ([`Sha256Lanes::compress_lane`]) is
    /// faster than in step.
    fn min_busy(&self) -> usize;

    /// Starts a new message in `lane`.
    fn reset(&mut self, lane: usize);

    /// Compresses `blocks` whole blocks of every busy lane. `input` has one slice per lane:
    /// at least `blocks * 64` bytes for a busy lane, empty for an idle one, whose state is
    /// left undefined (reset it before its next message).
    ///
    /// # Panics
    /// When `input` does not have one slice per lane, or a non-empty one is shorter than
    /// `blocks * 64` bytes.
    fn compress(&mut self, input: &[&[u8]], blocks: usize);

    /// Compresses whole blocks of one lane alone (SHA-NI where present).
    ///
    /// # Panics
    /// When `blocks` is not a whole number of blocks.
    fn compress_lane(&mut self, lane: usize, blocks: &[u8]);

    /// The digest of `lane`'s message, once its final blocks (see [`pad`]) are compressed.
    fn digest(&self, lane: usize) -> Digest;
}

/// One lane's state, word-major (`state[w][lane]`), compressed alone by sha2.
pub(crate) fn compress_one<const N: usize>(state: &mut [[u32; N]; 8], lane: usize, blocks: &[u8]) {
    let (whole, rest) = blocks.as_chunks::<BLOCK>();
    assert!(rest.is_empty(), "lane {lane}: partial block");
    let mut s: [u32; 8] = core::array::from_fn(|w| state[w][lane]);
    sha2::block_api::compress256(&mut s, whole);
    for (w, v) in s.iter().enumerate() {
        state[w][lane] = *v;
    }
}

/// The digest of one lane of a word-major state.
pub(crate) fn digest_of<const N: usize>(state: &[[u32; N]; 8], lane: usize) -> Digest {
    let mut bytes = [0u8; 32];
    for (w, out) in bytes.chunks_exact_mut(4).enumerate() {
        out.copy_from_slice(&state[w][lane].to_be_bytes());
    }
    Digest::from_bytes(super::Algorithm::Sha256, &bytes).expect("32 bytes")
}

/// The block pointers and strides of `input` for a kernel: a busy lane advances 64 bytes a
/// block through its slice, an idle one reads `idle` again and again.
///
/// # Panics
/// As [`Sha256Lanes::compress`].
#[allow(dead_code)] // used by the x86-64 kernels only
pub(crate) fn pointers<const N: usize>(
    input: &[&[u8]],
    blocks: usize,
    idle: &[u8; BLOCK],
) -> ([*const u8; N], [usize; N]) {
    assert_eq!(input.len(), N, "one input per lane");
    let need = blocks * BLOCK;
    let mut ptrs = [idle.as_ptr(); N];
    let mut step = [0usize; N];
    for l in 0..N {
        if !input[l].is_empty() {
            assert!(input[l].len() >= need, "lane {l}: short input");
            ptrs[l] = input[l].as_ptr();
            step[l] = BLOCK;
        }
    }
    (ptrs, step)
}

/// SHA-256's final blocks for a message of `total` bytes that ends with `tail`
/// (`tail.len() == total % 64`): writes them to `out` and returns their length, 64 or 128.
///
/// # Panics
/// When `tail` is 64 bytes or longer.
pub fn pad(tail: &[u8], total: u64, out: &mut [u8; 2 * BLOCK]) -> usize {
    assert!(tail.len() < BLOCK, "tail of a whole block");
    let len = if tail.len() < BLOCK - 8 {
        BLOCK
    } else {
        2 * BLOCK
    };
    out[..tail.len()].copy_from_slice(tail);
    out[tail.len()] = 0x80;
    out[tail.len() + 1..len - 8].fill(0);
    out[len - 8..len].copy_from_slice(&(total.wrapping_mul(8)).to_be_bytes());
    len
}

/// Which multi-message kernel `best` and `with` (with `alloc`) build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Sixteen lanes of AVX-512F/BW.
    Avx512x16,
    /// Eight lanes of AVX2.
    Avx2x8,
    /// Two messages interleaved through SHA-NI.
    ShaNix2,
}

impl Kernel {
    /// Every kernel, fastest first where a CPU has several.
    pub const ALL: [Kernel; 3] = [Kernel::Avx512x16, Kernel::ShaNix2, Kernel::Avx2x8];

    /// A short name for reports and benches.
    pub const fn name(self) -> &'static str {
        match self {
            Kernel::Avx512x16 => "avx512x16",
            Kernel::Avx2x8 => "avx2x8",
            Kernel::ShaNix2 => "shanix2",
        }
    }
}

/// The kernel `k`, or `None` when this CPU cannot run it.
#[cfg(feature = "alloc")]
pub fn with(k: Kernel) -> Option<alloc::boxed::Box<dyn Sha256Lanes>> {
    use alloc::boxed::Box;
    Some(match k {
        Kernel::Avx512x16 => Box::new(super::sha256x16::Sha256x16::new()?),
        Kernel::Avx2x8 => Box::new(super::sha256x8::Sha256x8::new()?),
        Kernel::ShaNix2 => Box::new(super::sha256x2::Sha256x2::new()?),
    })
}

/// The fastest multi-message kernel this CPU runs, or `None` when one message at a time
/// (sha2) is as fast as any. Measured on an AMD EPYC (Zen 4) with SHA-NI, AVX2 and
/// AVX-512 (`cargo bench -p homeostat-core --bench sha256x16`): sixteen AVX-512 lanes beat
/// two interleaved SHA-NI messages, which beat one; eight AVX2 lanes lose to one SHA-NI
/// message, so they are chosen only on a CPU with AVX2 and without SHA-NI.
pub fn best_kernel() -> Option<Kernel> {
    if super::sha256x16::Sha256x16::new().is_some() {
        return Some(Kernel::Avx512x16);
    }
    if super::sha256x2::Sha256x2::new().is_some() {
        return Some(Kernel::ShaNix2);
    }
    if super::sha256x8::Sha256x8::new().is_some() {
        return Some(Kernel::Avx2x8);
    }
    None
}

#[cfg(test)]
pub(crate) mod harness {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    /// Hashes `msgs` through the kernel's lanes, `chunk` blocks per step, finishing each
    /// with `pad`; lanes take turns at `compress_lane` when `alone` says so. Message `i`
    /// runs in lane `i % lanes`; a new message starts in a lane as soon as it is free, so
    /// messages of different lengths start and end at every offset of the others.
    #[allow(clippy::needless_range_loop)] // lane numbers index several arrays at once
    pub(crate) fn lanes_digest(
        x: &mut dyn Sha256Lanes,
        msgs: &[Vec<u8>],
        chunk: usize,
        alone: bool,
    ) -> Vec<Digest> {
        let n_lanes = x.lanes();
        let finals: Vec<([u8; 128], usize)> = msgs
            .iter()
            .map(|m| {
                let whole = m.len() / BLOCK * BLOCK;
                let mut out = [0u8; 128];
                let n = pad(&m[whole..], m.len() as u64, &mut out);
                (out, n)
            })
            .collect();
        let mut done: Vec<Option<Digest>> = msgs.iter().map(|_| None).collect();
        // per lane: the queue of its messages, the current one and its position
        let mut queue: Vec<Vec<usize>> = (0..n_lanes)
            .map(|l| (l..msgs.len()).step_by(n_lanes).rev().collect())
            .collect();
        let mut cur: Vec<Option<(usize, usize)>> = std::vec![None; n_lanes];
        loop {
            for l in 0..n_lanes {
                if cur[l].is_none() {
                    if let Some(i) = queue[l].pop() {
                        x.reset(l);
                        cur[l] = Some((i, 0));
                    }
                }
            }
            let mut inputs: Vec<&[u8]> = std::vec![&[][..]; n_lanes];
            let mut n = usize::MAX;
            for l in 0..n_lanes {
                if let Some((i, pos)) = cur[l] {
                    let m = &msgs[i];
                    let whole = m.len() / BLOCK * BLOCK;
                    let (f, flen) = &finals[i];
                    let rest: &[u8] = if pos < whole {
                        &m[pos..whole]
                    } else {
                        &f[pos - whole..*flen]
                    };
                    inputs[l] = rest;
                    n = n.min(rest.len() / BLOCK);
                }
            }
            if n == usize::MAX {
                break;
            }
            let n = n.min(chunk);
            if alone {
                for l in 0..n_lanes {
                    if !inputs[l].is_empty() {
                        x.compress_lane(l, &inputs[l][..n * BLOCK]);
                    }
                }
            } else {
                x.compress(&inputs, n);
            }
            for l in 0..n_lanes {
                if let Some((i, pos)) = cur[l] {
                    let pos = pos + n * BLOCK;
                    if pos == msgs[i].len() / BLOCK * BLOCK + finals[i].1 {
                        done[i] = Some(x.digest(l));
                        cur[l] = None;
                    } else {
                        cur[l] = Some((i, pos));
                    }
                }
            }
        }
        done.into_iter().map(|d| d.expect("hashed")).collect()
    }

    /// Messages of many lengths around block boundaries, for the fixed tests.
    pub(crate) fn sample_messages() -> Vec<Vec<u8>> {
        (0..40)
            .map(|i| {
                (0..i * 97 + (i % 3) * 4000)
                    .map(|b| (b * 31 + i) as u8)
                    .collect()
            })
            .collect()
    }
}
