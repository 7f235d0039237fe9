//! SHA-256 of sixteen independent messages in step.
//!
//! Why: a tripwire hashes many files at once, and SHA-NI hashes one message at ~1.3 GB/s
//! per core here. One AVX-512 instruction stream carrying a block of each of sixteen
//! messages reaches ~3.2 GB/s per core (2.2x) when most lanes are busy (`benches/sha256x16.rs`).
//! The caller owns the messages' bytes and decides when each lane starts and ends; this
//! type only holds the sixteen chaining states. On a CPU without AVX-512F/BW, or on
//! another architecture, [`Sha256x16::new`] returns `None` and callers take the next kernel
//! of [`super::lanes::best_kernel`] (two interleaved SHA-NI messages, eight AVX2 lanes) or
//! hash one message at a time with [`super::Hasher`].

use super::{Algorithm, Digest};

/// Messages hashed in step.
pub const LANES: usize = 16;
pub use super::lanes::{pad, BLOCK};
use super::lanes::{Sha256Lanes, IV};

/// Sixteen SHA-256 chaining states, word-major so that one vector load fetches a word of
/// every lane.
pub struct Sha256x16 {
    state: [[u32; LANES]; 8],
}

#[cfg(target_arch = "x86_64")]
cpufeatures::new!(avx512, "avx512f", "avx512bw");

impl Sha256x16 {
    /// Sixteen fresh lanes, or `None` when this CPU cannot run the sixteen-lane code.
    pub fn new() -> Option<Sha256x16> {
        #[cfg(target_arch = "x86_64")]
        if avx512::get() {
            let mut s = Sha256x16 {
                state: [[0; LANES]; 8],
            };
            for lane in 0..LANES {
                s.reset(lane);
            }
            return Some(s);
        }
        None
    }

    /// Starts a new message in `lane`.
    pub fn reset(&mut self, lane: usize) {
        for (w, iv) in IV.iter().enumerate() {
            self.state[w][lane] = *iv;
        }
    }

    /// Compresses `blocks` whole blocks of every busy lane. `input[l]` holds at least
    /// `blocks * 64` bytes for a busy lane and is empty for an idle one, whose state is
    /// left undefined (reset it before its next message).
    ///
    /// # Panics
    /// When a non-empty input is shorter than `blocks * 64` bytes.
    pub fn compress(&mut self, input: &[&[u8]; LANES], blocks: usize) {
        let need = blocks * BLOCK;
        let idle = [0u8; BLOCK];
        let mut ptrs = [idle.as_ptr(); LANES];
        let mut step = [0usize; LANES];
        for l in 0..LANES {
            if !input[l].is_empty() {
                assert!(input[l].len() >= need, "lane {l}: short input");
                ptrs[l] = input[l].as_ptr();
                step[l] = BLOCK;
            }
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` checked AVX-512F/BW; every busy lane's pointer is valid for `need`
        // bytes (asserted above) and every idle lane reads the same 64 bytes of `idle`.
        #[allow(unsafe_code)]
        unsafe {
            avx512_impl::compress(&mut self.state, &ptrs, &step, blocks)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("Sha256x16 is only constructed on x86_64")
    }

    /// Compresses whole blocks of one lane alone (SHA-NI where present): cheaper than
    /// [`Sha256x16::compress`] when few lanes are busy.
    ///
    /// # Panics
    /// When `blocks` is not a whole number of blocks.
    pub fn compress_lane(&mut self, lane: usize, blocks: &[u8]) {
        let (whole, rest) = blocks.as_chunks::<BLOCK>();
        assert!(rest.is_empty(), "lane {lane}: partial block");
        let mut s: [u32; 8] = core::array::from_fn(|w| self.state[w][lane]);
        sha2::block_api::compress256(&mut s, whole);
        for (w, v) in s.iter().enumerate() {
            self.state[w][lane] = *v;
        }
    }

    /// The digest of `lane`'s message, once its final blocks (see [`pad`]) are compressed.
    pub fn digest(&self, lane: usize) -> Digest {
        let mut bytes = [0u8; 32];
        for (w, out) in bytes.chunks_exact_mut(4).enumerate() {
            out.copy_from_slice(&self.state[w][lane].to_be_bytes());
        }
        Digest::from_bytes(Algorithm::Sha256, &bytes).expect("32 bytes")
    }
}

impl Sha256Lanes for Sha256x16 {
    fn lanes(&self) -> usize {
        LANES
    }

    fn min_busy(&self) -> usize {
        MIN_BUSY
    }

    fn reset(&mut self, lane: usize) {
        Sha256x16::reset(self, lane)
    }

    fn compress(&mut self, input: &[&[u8]], blocks: usize) {
        let input: &[&[u8]; LANES] = input.try_into().expect("one input per lane");
        Sha256x16::compress(self, input, blocks)
    }

    fn compress_lane(&mut self, lane: usize, blocks: &[u8]) {
        Sha256x16::compress_lane(self, lane, blocks)
    }

    fn digest(&self, lane: usize) -> Digest {
        Sha256x16::digest(self, lane)
    }
}

/// Below this many busy lanes, hashing each alone (SHA-NI) is faster than sixteen in step.
pub const MIN_BUSY: usize = 8;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512_impl {
    use core::arch::x86_64::*;

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// `blocks` blocks of each lane; lane `l` reads from `ptrs[l]`, advancing `step[l]`.
    ///
    /// # Safety
    /// The CPU has AVX-512F and AVX-512BW; each `ptrs[l]` is readable for
    /// `(blocks - 1) * step[l] + 64` bytes.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn compress(
        state: &mut [[u32; 16]; 8],
        ptrs: &[*const u8; 16],
        step: &[usize; 16],
        blocks: usize,
    ) {
        let mut s: [__m512i; 8] =
            core::array::from_fn(|i| _mm512_loadu_si512(state[i].as_ptr().cast()));
        let bswap = _mm512_broadcast_i32x4(_mm_setr_epi8(
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
        ));
        let mut p = *ptrs;
        for _ in 0..blocks {
            // Row l is lane l's block; after the transpose, w[t] holds word t of every lane.
            let mut w: [__m512i; 16] = core::array::from_fn(|l| _mm512_loadu_si512(p[l].cast()));
            for l in 0..16 {
                p[l] = p[l].wrapping_add(step[l]);
            }
            transpose(&mut w);
            for x in w.iter_mut() {
                *x = _mm512_shuffle_epi8(*x, bswap);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = s;
            macro_rules! round {
                ($t:expr, $wt:expr) => {{
                    let s1 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<6>(e),
                        _mm512_ror_epi32::<11>(e),
                        _mm512_ror_epi32::<25>(e),
                    );
                    let ch = _mm512_ternarylogic_epi32::<0xCA>(e, f, g);
                    let kw = _mm512_add_epi32($wt, _mm512_set1_epi32(K[$t] as i32));
                    let t1 = _mm512_add_epi32(_mm512_add_epi32(h, s1), _mm512_add_epi32(ch, kw));
                    let s0 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<2>(a),
                        _mm512_ror_epi32::<13>(a),
                        _mm512_ror_epi32::<22>(a),
                    );
                    let maj = _mm512_ternarylogic_epi32::<0xE8>(a, b, c);
                    h = g;
                    g = f;
                    f = e;
                    e = _mm512_add_epi32(d, t1);
                    d = c;
                    c = b;
                    b = a;
                    a = _mm512_add_epi32(t1, _mm512_add_epi32(s0, maj));
                }};
            }
            // Unrolled so that every index into `w` is a constant and the schedule stays in
            // registers: a rolled loop spills it and runs at two thirds of the speed.
            macro_rules! sched {
                ($t:expr) => {{
                    let w15 = w[($t - 15) & 15];
                    let w2 = w[($t - 2) & 15];
                    let s0 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<7>(w15),
                        _mm512_ror_epi32::<18>(w15),
                        _mm512_srli_epi32::<3>(w15),
                    );
                    let s1 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<17>(w2),
                        _mm512_ror_epi32::<19>(w2),
                        _mm512_srli_epi32::<10>(w2),
                    );
                    let nw = _mm512_add_epi32(
                        _mm512_add_epi32(w[$t & 15], s0),
                        _mm512_add_epi32(w[($t - 7) & 15], s1),
                    );
                    w[$t & 15] = nw;
                    round!($t, nw);
                }};
            }
            macro_rules! plain {
                ($t:expr) => {
                    round!($t, w[$t])
                };
            }
            macro_rules! four {
                ($m:ident, $t:expr) => {
                    $m!($t);
                    $m!($t + 1);
                    $m!($t + 2);
                    $m!($t + 3);
                };
            }
            four!(plain, 0);
            four!(plain, 4);
            four!(plain, 8);
            four!(plain, 12);
            four!(sched, 16);
            four!(sched, 20);
            four!(sched, 24);
            four!(sched, 28);
            four!(sched, 32);
            four!(sched, 36);
            four!(sched, 40);
            four!(sched, 44);
            four!(sched, 48);
            four!(sched, 52);
            four!(sched, 56);
            four!(sched, 60);
            for (si, v) in s.iter_mut().zip([a, b, c, d, e, f, g, h]) {
                *si = _mm512_add_epi32(*si, v);
            }
        }
        for (row, v) in state.iter_mut().zip(s) {
            _mm512_storeu_si512(row.as_mut_ptr().cast(), v);
        }
    }

    /// Transposes a 16x16 matrix of u32 held as sixteen rows.
    #[inline(always)]
    unsafe fn transpose(r: &mut [__m512i; 16]) {
        // 32-bit, then 64-bit interleaves within each 128-bit lane...
        let mut t = [_mm512_setzero_si512(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_si512(); 16];
        for i in 0..4 {
            let b = 4 * i;
            u[b] = _mm512_unpacklo_epi64(t[b], t[b + 2]);
            u[b + 1] = _mm512_unpackhi_epi64(t[b], t[b + 2]);
            u[b + 2] = _mm512_unpacklo_epi64(t[b + 1], t[b + 3]);
            u[b + 3] = _mm512_unpackhi_epi64(t[b + 1], t[b + 3]);
        }
        // ...then 128-bit shuffles across the four groups of four rows.
        let mut v = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            v[j] = _mm512_shuffle_i32x4::<0x88>(u[j], u[4 + j]);
            v[4 + j] = _mm512_shuffle_i32x4::<0xDD>(u[j], u[4 + j]);
            v[8 + j] = _mm512_shuffle_i32x4::<0x88>(u[8 + j], u[12 + j]);
            v[12 + j] = _mm512_shuffle_i32x4::<0xDD>(u[8 + j], u[12 + j]);
        }
        for j in 0..4 {
            r[j] = _mm512_shuffle_i32x4::<0x88>(v[j], v[8 + j]);
            r[8 + j] = _mm512_shuffle_i32x4::<0xDD>(v[j], v[8 + j]);
            r[4 + j] = _mm512_shuffle_i32x4::<0x88>(v[4 + j], v[12 + j]);
            r[12 + j] = _mm512_shuffle_i32x4::<0xDD>(v[4 + j], v[12 + j]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::digest;
    extern crate std;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// Hashes `msgs` through the lanes, `chunk` blocks per step, finishing each with `pad`;
    /// lanes take turns at `compress_lane` when `alone` says so.
    #[allow(clippy::needless_range_loop)] // lane numbers index several arrays at once
    fn lanes_digest(msgs: &[Vec<u8>], chunk: usize, alone: bool) -> Option<Vec<Digest>> {
        let mut x = Sha256x16::new()?;
        let mut pos = [0usize; LANES];
        let mut done: Vec<Option<Digest>> = msgs.iter().map(|_| None).collect();
        let finals: Vec<([u8; 128], usize)> = msgs
            .iter()
            .map(|m| {
                let whole = m.len() / BLOCK * BLOCK;
                let mut out = [0u8; 128];
                let n = pad(&m[whole..], m.len() as u64, &mut out);
                (out, n)
            })
            .collect();
        // message i runs in lane i % 16, one round of lanes after another
        for round in msgs.chunks(LANES).enumerate() {
            let base = round.0 * LANES;
            for l in 0..round.1.len() {
                x.reset(l);
                pos[l] = 0;
            }
            loop {
                let mut inputs: [&[u8]; LANES] = [&[]; LANES];
                let mut n = usize::MAX;
                for l in 0..round.1.len() {
                    let m = &msgs[base + l];
                    let whole = m.len() / BLOCK * BLOCK;
                    let (f, flen) = &finals[base + l];
                    let rest: &[u8] = if pos[l] < whole {
                        &m[pos[l]..whole]
                    } else if pos[l] < whole + flen {
                        &f[pos[l] - whole..*flen]
                    } else {
                        &[]
                    };
                    if !rest.is_empty() {
                        inputs[l] = rest;
                        n = n.min(rest.len() / BLOCK);
                    }
                }
                if n == usize::MAX {
                    break;
                }
                let n = n.min(chunk);
                if alone {
                    for l in 0..LANES {
                        if !inputs[l].is_empty() {
                            x.compress_lane(l, &inputs[l][..n * BLOCK]);
                        }
                    }
                } else {
                    x.compress(&inputs, n);
                }
                for l in 0..LANES {
                    if !inputs[l].is_empty() {
                        pos[l] += n * BLOCK;
                        let m = &msgs[base + l];
                        if pos[l] == m.len() / BLOCK * BLOCK + finals[base + l].1 {
                            done[base + l] = Some(x.digest(l));
                        }
                    }
                }
            }
        }
        Some(done.into_iter().map(|d| d.unwrap()).collect())
    }

    #[test]
    fn pad_matches_the_standard_lengths() {
        let mut out = [0u8; 128];
        assert_eq!(pad(&[], 0, &mut out), 64);
        assert_eq!(pad(&[1; 55], 55, &mut out), 64);
        assert_eq!(pad(&[1; 56], 56, &mut out), 128);
        assert_eq!(&out[120..128], &(56u64 * 8).to_be_bytes());
    }

    #[test]
    fn sixteen_lanes_match_one_at_a_time() {
        let msgs: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                (0..i * 97 + (i % 3) * 4000)
                    .map(|b| (b * 31 + i) as u8)
                    .collect()
            })
            .collect();
        let Some(got) = lanes_digest(&msgs, 7, false) else {
            std::eprintln!("no AVX-512F/BW here: sixteen-lane code not tested");
            return;
        };
        for (m, d) in msgs.iter().zip(got) {
            assert_eq!(d, digest(Algorithm::Sha256, m));
        }
        let alone = lanes_digest(&msgs, 3, true).unwrap();
        for (m, d) in msgs.iter().zip(alone) {
            assert_eq!(d, digest(Algorithm::Sha256, m));
        }
    }

    proptest! {
        #[test]
        fn prop_any_messages_any_steps(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 1..40),
            chunk in 1usize..12,
            alone in any::<bool>(),
        ) {
            if let Some(got) = lanes_digest(&msgs, chunk, alone) {
                for (m, d) in msgs.iter().zip(got) {
                    prop_assert_eq!(d, digest(Algorithm::Sha256, m));
                }
            }
        }
    }
}
