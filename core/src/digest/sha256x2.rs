//! SHA-256 of two independent messages interleaved through the CPU's SHA-256 instructions:
//! SHA-NI on x86-64, the ARMv8 SHA-2 extension on aarch64.
//!
//! `sha256rnds2` (and `sha256h`/`sha256h2`) have a latency of several cycles and each round
//! group depends on the one before: one message leaves the SHA unit idle between them. Two
//! messages in one loop fill those gaps. On a CPU without these instructions, or on another
//! architecture, [`Sha256x2::new`] returns `None`.

use super::lanes::{compress_one, digest_of, Sha256Lanes, IV};
use super::Digest;

/// Messages hashed in step.
pub const LANES: usize = 2;

/// Two SHA-256 chaining states, word-major like the other kernels'.
pub struct Sha256x2 {
    state: [[u32; LANES]; 8],
}

#[cfg(target_arch = "x86_64")]
cpufeatures::new!(shani, "sha", "sse2", "ssse3", "sse4.1");
#[cfg(target_arch = "aarch64")]
cpufeatures::new!(shani, "sha2");

impl Sha256x2 {
    /// Two fresh lanes, or `None` when this CPU has no SHA-NI.
    pub fn new() -> Option<Sha256x2> {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if shani::get() {
            let mut s = Sha256x2 {
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

impl Sha256Lanes for Sha256x2 {
    fn lanes(&self) -> usize {
        LANES
    }

    fn min_busy(&self) -> usize {
        2
    }

    fn reset(&mut self, lane: usize) {
        for (w, iv) in IV.iter().enumerate() {
            self.state[w][lane] = *iv;
        }
    }

    fn compress(&mut self, input: &[&[u8]], blocks: usize) {
        let idle = [0u8; super::lanes::BLOCK];
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        {
            let (ptrs, step) = super::lanes::pointers::<LANES>(input, blocks, &idle);
            let mut s0: [u32; 8] = core::array::from_fn(|w| self.state[w][0]);
            let mut s1: [u32; 8] = core::array::from_fn(|w| self.state[w][1]);
            // SAFETY: `new` checked the instructions (SHA, SSSE3 and SSE4.1 on x86-64, SHA2
            // on aarch64); `pointers` asserted every busy lane's slice holds `blocks * 64`
            // bytes, and an idle lane reads `idle` only.
            #[allow(unsafe_code)]
            unsafe {
                shani_impl::compress2(&mut s0, &mut s1, &ptrs, &step, blocks)
            }
            for w in 0..8 {
                self.state[w] = [s0[w], s1[w]];
            }
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let _ = (input, blocks, idle);
            unreachable!("Sha256x2 is only constructed on x86_64 and aarch64")
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
mod shani_impl {
    use super::super::lanes::K;
    use core::arch::x86_64::*;

    /// `blocks` blocks of two messages, one into `s0` from `ptrs[0]`, one into `s1` from
    /// `ptrs[1]`, each advancing `step[i]` a block. The structure is sha2's SHA-NI
    /// backend's, every step done for both messages before the next.
    ///
    /// # Safety
    /// The CPU has SHA, SSSE3 and SSE4.1; each `ptrs[i]` is readable for
    /// `(blocks - 1) * step[i] + 64` bytes.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn compress2(
        s0: &mut [u32; 8],
        s1: &mut [u32; 8],
        ptrs: &[*const u8; 2],
        step: &[usize; 2],
        blocks: usize,
    ) {
        let mask = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
        let kp: *const __m128i = K.as_ptr().cast();
        let load = |s: &[u32; 8]| {
            let sp: *const __m128i = s.as_ptr().cast();
            let dcba = _mm_loadu_si128(sp);
            let hgfe = _mm_loadu_si128(sp.add(1));
            let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
            let efgh = _mm_shuffle_epi32::<0x1B>(hgfe);
            (
                _mm_alignr_epi8::<8>(cdab, efgh),
                _mm_blend_epi16::<0xF0>(efgh, cdab),
            )
        };
        let (mut abef0, mut cdgh0) = load(s0);
        let (mut abef1, mut cdgh1) = load(s1);
        let mut p = *ptrs;
        for _ in 0..blocks {
            let (save_abef0, save_cdgh0, save_abef1, save_cdgh1) = (abef0, cdgh0, abef1, cdgh1);
            let b0: *const __m128i = p[0].cast();
            let b1: *const __m128i = p[1].cast();
            let mut w0: [__m128i; 4] =
                core::array::from_fn(|i| _mm_shuffle_epi8(_mm_loadu_si128(b0.add(i)), mask));
            let mut w1: [__m128i; 4] =
                core::array::from_fn(|i| _mm_shuffle_epi8(_mm_loadu_si128(b1.add(i)), mask));
            p[0] = p[0].wrapping_add(step[0]);
            p[1] = p[1].wrapping_add(step[1]);
            macro_rules! rounds4 {
                ($r:expr, $x0:expr, $x1:expr) => {{
                    let k = _mm_loadu_si128(kp.add($r));
                    let t0 = _mm_add_epi32($x0, k);
                    let t1 = _mm_add_epi32($x1, k);
                    cdgh0 = _mm_sha256rnds2_epu32(cdgh0, abef0, t0);
                    cdgh1 = _mm_sha256rnds2_epu32(cdgh1, abef1, t1);
                    abef0 = _mm_sha256rnds2_epu32(abef0, cdgh0, _mm_shuffle_epi32::<0x0E>(t0));
                    abef1 = _mm_sha256rnds2_epu32(abef1, cdgh1, _mm_shuffle_epi32::<0x0E>(t1));
                }};
            }
            macro_rules! schedule {
                ($w:ident, $i:expr) => {{
                    let t1 = _mm_sha256msg1_epu32($w[$i], $w[($i + 1) % 4]);
                    let t2 = _mm_alignr_epi8::<4>($w[($i + 3) % 4], $w[($i + 2) % 4]);
                    $w[$i] = _mm_sha256msg2_epu32(_mm_add_epi32(t1, t2), $w[($i + 3) % 4]);
                }};
            }
            macro_rules! sched_rounds4 {
                ($r:expr) => {{
                    schedule!(w0, $r % 4);
                    schedule!(w1, $r % 4);
                    rounds4!($r, w0[$r % 4], w1[$r % 4]);
                }};
            }
            rounds4!(0, w0[0], w1[0]);
            rounds4!(1, w0[1], w1[1]);
            rounds4!(2, w0[2], w1[2]);
            rounds4!(3, w0[3], w1[3]);
            sched_rounds4!(4);
            sched_rounds4!(5);
            sched_rounds4!(6);
            sched_rounds4!(7);
            sched_rounds4!(8);
            sched_rounds4!(9);
            sched_rounds4!(10);
            sched_rounds4!(11);
            sched_rounds4!(12);
            sched_rounds4!(13);
            sched_rounds4!(14);
            sched_rounds4!(15);
            abef0 = _mm_add_epi32(abef0, save_abef0);
            cdgh0 = _mm_add_epi32(cdgh0, save_cdgh0);
            abef1 = _mm_add_epi32(abef1, save_abef1);
            cdgh1 = _mm_add_epi32(cdgh1, save_cdgh1);
        }
        let store = |s: &mut [u32; 8], abef: __m128i, cdgh: __m128i| {
            let feba = _mm_shuffle_epi32::<0x1B>(abef);
            let dchg = _mm_shuffle_epi32::<0xB1>(cdgh);
            let sp: *mut __m128i = s.as_mut_ptr().cast();
            _mm_storeu_si128(sp, _mm_blend_epi16::<0xF0>(feba, dchg));
            _mm_storeu_si128(sp.add(1), _mm_alignr_epi8::<8>(dchg, feba));
        };
        store(s0, abef0, cdgh0);
        store(s1, abef1, cdgh1);
    }
}

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_code)]
mod shani_impl {
    use super::super::lanes::K;
    use core::arch::aarch64::*;

    /// As the x86-64 `compress2`, with the ARMv8 SHA-2 instructions; the structure is
    /// sha2's aarch64 backend's, every step done for both messages before the next.
    ///
    /// # Safety
    /// The CPU has the SHA2 extension; each `ptrs[i]` is readable for
    /// `(blocks - 1) * step[i] + 64` bytes.
    #[target_feature(enable = "neon,sha2")]
    pub(super) unsafe fn compress2(
        s0: &mut [u32; 8],
        s1: &mut [u32; 8],
        ptrs: &[*const u8; 2],
        step: &[usize; 2],
        blocks: usize,
    ) {
        let mut abcd0 = vld1q_u32(s0.as_ptr());
        let mut efgh0 = vld1q_u32(s0.as_ptr().add(4));
        let mut abcd1 = vld1q_u32(s1.as_ptr());
        let mut efgh1 = vld1q_u32(s1.as_ptr().add(4));
        let mut p = *ptrs;
        for _ in 0..blocks {
            let (save_abcd0, save_efgh0, save_abcd1, save_efgh1) = (abcd0, efgh0, abcd1, efgh1);
            let (b0, b1) = (p[0], p[1]);
            let mut w0: [uint32x4_t; 4] = core::array::from_fn(|i| {
                vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(b0.add(16 * i))))
            });
            let mut w1: [uint32x4_t; 4] = core::array::from_fn(|i| {
                vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(b1.add(16 * i))))
            });
            p[0] = p[0].wrapping_add(step[0]);
            p[1] = p[1].wrapping_add(step[1]);
            macro_rules! rounds4 {
                ($r:expr, $x0:expr, $x1:expr) => {{
                    let k = vld1q_u32(K.as_ptr().add(4 * $r));
                    let t0 = vaddq_u32($x0, k);
                    let t1 = vaddq_u32($x1, k);
                    let prev0 = abcd0;
                    let prev1 = abcd1;
                    abcd0 = vsha256hq_u32(prev0, efgh0, t0);
                    abcd1 = vsha256hq_u32(prev1, efgh1, t1);
                    efgh0 = vsha256h2q_u32(efgh0, prev0, t0);
                    efgh1 = vsha256h2q_u32(efgh1, prev1, t1);
                }};
            }
            macro_rules! sched_rounds4 {
                ($r:expr) => {{
                    let i = $r % 4;
                    w0[i] = vsha256su1q_u32(
                        vsha256su0q_u32(w0[i], w0[(i + 1) % 4]),
                        w0[(i + 2) % 4],
                        w0[(i + 3) % 4],
                    );
                    w1[i] = vsha256su1q_u32(
                        vsha256su0q_u32(w1[i], w1[(i + 1) % 4]),
                        w1[(i + 2) % 4],
                        w1[(i + 3) % 4],
                    );
                    rounds4!($r, w0[i], w1[i]);
                }};
            }
            rounds4!(0, w0[0], w1[0]);
            rounds4!(1, w0[1], w1[1]);
            rounds4!(2, w0[2], w1[2]);
            rounds4!(3, w0[3], w1[3]);
            sched_rounds4!(4);
            sched_rounds4!(5);
            sched_rounds4!(6);
            sched_rounds4!(7);
            sched_rounds4!(8);
            sched_rounds4!(9);
            sched_rounds4!(10);
            sched_rounds4!(11);
            sched_rounds4!(12);
            sched_rounds4!(13);
            sched_rounds4!(14);
            sched_rounds4!(15);
            abcd0 = vaddq_u32(abcd0, save_abcd0);
            efgh0 = vaddq_u32(efgh0, save_efgh0);
            abcd1 = vaddq_u32(abcd1, save_abcd1);
            efgh1 = vaddq_u32(efgh1, save_efgh1);
        }
        vst1q_u32(s0.as_mut_ptr(), abcd0);
        vst1q_u32(s0.as_mut_ptr().add(4), efgh0);
        vst1q_u32(s1.as_mut_ptr(), abcd1);
        vst1q_u32(s1.as_mut_ptr().add(4), efgh1);
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
    fn two_interleaved_match_one_at_a_time() {
        let msgs = sample_messages();
        let Some(mut x) = Sha256x2::new() else {
            std::eprintln!("no SHA-256 instructions here: two-lane code not tested");
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
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 1..12),
            chunk in 1usize..12,
            alone in any::<bool>(),
        ) {
            if let Some(mut x) = Sha256x2::new() {
                let got: Vec<Digest> = lanes_digest(&mut x, &msgs, chunk, alone);
                for (m, d) in msgs.iter().zip(got) {
                    prop_assert_eq!(d, digest(Algorithm::Sha256, m));
                }
            }
        }
    }
}
