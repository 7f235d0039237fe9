//! SHA-256 of eight independent messages in step, on AVX2 (eight 32-bit lanes).
//!
//! For CPUs with AVX2 and neither AVX-512 nor SHA-NI. Where SHA-NI exists one SHA-NI
//! stream is faster than these eight lanes (AVX2 has no rotate and no three-input logic:
//! a round costs about twice the AVX-512 instructions for half the lanes); see
//! [`super::lanes::best_kernel`]. On a CPU without AVX2, or on another architecture,
//! [`Sha256x8::new`] returns `None`.

use super::lanes::{compress_one, digest_of, Sha256Lanes, IV};
use super::Digest;

/// Messages hashed in step.
pub const LANES: usize = 8;

/// Eight SHA-256 chaining states, word-major so that one vector load fetches a word of
/// every lane.
pub struct Sha256x8 {
    state: [[u32; LANES]; 8],
}

#[cfg(target_arch = "x86_64")]
cpufeatures::new!(avx2, "avx2");

impl Sha256x8 {
    /// Eight fresh lanes, or `None` when this CPU cannot run the eight-lane code.
    pub fn new() -> Option<Sha256x8> {
        #[cfg(target_arch = "x86_64")]
        if avx2::get() {
            let mut s = Sha256x8 {
                state: [[0; LANES]; 8],
            };
            for lane in 0..LANES {
                s.reset(lane);
            }
            return Some(s);
        }
        None
    }
}

impl Sha256Lanes for Sha256x8 {
    fn lanes(&self) -> usize {
        LANES
    }

    fn min_busy(&self) -> usize {
        4
    }

    fn reset(&mut self, lane: usize) {
        for (w, iv) in IV.iter().enumerate() {
            self.state[w][lane] = *iv;
        }
    }

    fn compress(&mut self, input: &[&[u8]], blocks: usize) {
        let idle = [0u8; super::lanes::BLOCK];
        #[cfg(target_arch = "x86_64")]
        {
            let (ptrs, step) = super::lanes::pointers::<LANES>(input, blocks, &idle);
            // SAFETY: `new` checked AVX2; `pointers` asserted every busy lane's slice holds
            // `blocks * 64` bytes, and every idle lane reads the same 64 bytes of `idle`.
            #[allow(unsafe_code)]
            unsafe {
                avx2_impl::compress(&mut self.state, &ptrs, &step, blocks)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (input, blocks, idle);
            unreachable!("Sha256x8 is only constructed on x86_64")
        }
    }

    fn compress_lane(&mut self, lane: usize, blocks: &[u8]) {
        compress_one(&mut self.state, lane, blocks);
    }

    fn digest(&self, lane: usize) -> Digest {
        digest_of(&self.state, lane)
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2_impl {
    use super::super::lanes::K;
    use core::arch::x86_64::*;

    /// `blocks` blocks of each lane; lane `l` reads from `ptrs[l]`, advancing `step[l]`.
    ///
    /// # Safety
    /// The CPU has AVX2; each `ptrs[l]` is readable for `(blocks - 1) * step[l] + 64`
    /// bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress(
        state: &mut [[u32; 8]; 8],
        ptrs: &[*const u8; 8],
        step: &[usize; 8],
        blocks: usize,
    ) {
        let mut s: [__m256i; 8] =
            core::array::from_fn(|i| _mm256_loadu_si256(state[i].as_ptr().cast()));
        let bswap = _mm256_setr_epi8(
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10,
            9, 8, 15, 14, 13, 12,
        );
        let mut p = *ptrs;
        for _ in 0..blocks {
            // Rows are lanes' half blocks; after the transposes w[t] holds word t of every lane.
            let mut lo: [__m256i; 8] = core::array::from_fn(|l| _mm256_loadu_si256(p[l].cast()));
            let mut hi: [__m256i; 8] =
                core::array::from_fn(|l| _mm256_loadu_si256(p[l].add(32).cast()));
            for l in 0..8 {
                p[l] = p[l].wrapping_add(step[l]);
            }
            transpose(&mut lo);
            transpose(&mut hi);
            let mut w: [__m256i; 16] = core::array::from_fn(|t| {
                _mm256_shuffle_epi8(if t < 8 { lo[t] } else { hi[t - 8] }, bswap)
            });
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = s;
            macro_rules! ror {
                ($x:expr, $n:literal) => {
                    _mm256_or_si256(
                        _mm256_srli_epi32::<$n>($x),
                        _mm256_slli_epi32::<{ 32 - $n }>($x),
                    )
                };
            }
            macro_rules! xor3 {
                ($x:expr, $y:expr, $z:expr) => {
                    _mm256_xor_si256(_mm256_xor_si256($x, $y), $z)
                };
            }
            macro_rules! round {
                ($t:expr, $wt:expr) => {{
                    let s1 = xor3!(ror!(e, 6), ror!(e, 11), ror!(e, 25));
                    // ch = (e & f) ^ (!e & g)
                    let ch = _mm256_xor_si256(_mm256_and_si256(e, f), _mm256_andnot_si256(e, g));
                    let kw = _mm256_add_epi32($wt, _mm256_set1_epi32(K[$t] as i32));
                    let t1 = _mm256_add_epi32(_mm256_add_epi32(h, s1), _mm256_add_epi32(ch, kw));
                    let s0 = xor3!(ror!(a, 2), ror!(a, 13), ror!(a, 22));
                    // maj = (a & (b ^ c)) ^ (b & c)
                    let maj = _mm256_xor_si256(
                        _mm256_and_si256(a, _mm256_xor_si256(b, c)),
                        _mm256_and_si256(b, c),
                    );
                    h = g;
                    g = f;
                    f = e;
                    e = _mm256_add_epi32(d, t1);
                    d = c;
                    c = b;
                    b = a;
                    a = _mm256_add_epi32(t1, _mm256_add_epi32(s0, maj));
                }};
            }
            // Unrolled so that every index into `w` is a constant (as in sha256x16).
            macro_rules! sched {
                ($t:expr) => {{
                    let w15 = w[($t - 15) & 15];
                    let w2 = w[($t - 2) & 15];
                    let s0 = xor3!(ror!(w15, 7), ror!(w15, 18), _mm256_srli_epi32::<3>(w15));
                    let s1 = xor3!(ror!(w2, 17), ror!(w2, 19), _mm256_srli_epi32::<10>(w2));
                    let nw = _mm256_add_epi32(
                        _mm256_add_epi32(w[$t & 15], s0),
                        _mm256_add_epi32(w[($t - 7) & 15], s1),
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
                *si = _mm256_add_epi32(*si, v);
            }
        }
        for (row, v) in state.iter_mut().zip(s) {
            _mm256_storeu_si256(row.as_mut_ptr().cast(), v);
        }
    }

    /// Transposes an 8x8 matrix of u32 held as eight rows.
    #[inline(always)]
    unsafe fn transpose(r: &mut [__m256i; 8]) {
        let t: [__m256i; 8] = core::array::from_fn(|i| {
            let (x, y) = (r[i & !1], r[i | 1]);
            if i & 1 == 0 {
                _mm256_unpacklo_epi32(x, y)
            } else {
                _mm256_unpackhi_epi32(x, y)
            }
        });
        // u[4q + k] holds word k (and k + 4) of rows 4q..4q+4
        let mut u = [_mm256_setzero_si256(); 8];
        for q in 0..2 {
            let b = 4 * q;
            u[b] = _mm256_unpacklo_epi64(t[b], t[b + 2]);
            u[b + 1] = _mm256_unpackhi_epi64(t[b], t[b + 2]);
            u[b + 2] = _mm256_unpacklo_epi64(t[b + 1], t[b + 3]);
            u[b + 3] = _mm256_unpackhi_epi64(t[b + 1], t[b + 3]);
        }
        for k in 0..4 {
            r[k] = _mm256_permute2x128_si256::<0x20>(u[k], u[4 + k]);
            r[4 + k] = _mm256_permute2x128_si256::<0x31>(u[k], u[4 + k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::lanes::harness::{lanes_digest, sample_messages};
    use crate::digest::{digest, Algorithm};
    extern crate std;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn eight_lanes_match_one_at_a_time() {
        let msgs = sample_messages();
        let Some(mut x) = Sha256x8::new() else {
            std::eprintln!("no AVX2 here: eight-lane code not tested");
            return;
        };
        for (chunk, alone) in [(7, false), (1, false), (3, true)] {
            let got = lanes_digest(&mut x, &msgs, chunk, alone);
            for (m, d) in msgs.iter().zip(got) {
                assert_eq!(d, digest(Algorithm::Sha256, m));
            }
        }
    }

    proptest! {
        #[test]
        fn prop_any_messages_any_steps(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 1..30),
            chunk in 1usize..12,
            alone in any::<bool>(),
        ) {
            if let Some(mut x) = Sha256x8::new() {
                let got: Vec<Digest> = lanes_digest(&mut x, &msgs, chunk, alone);
                for (m, d) in msgs.iter().zip(got) {
                    prop_assert_eq!(d, digest(Algorithm::Sha256, m));
                }
            }
        }
    }
}
