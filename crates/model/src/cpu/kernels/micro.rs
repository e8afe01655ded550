//! Register-blocked microkernels shared by every convolution-like kernel.
//!
//! Two shapes of small matrix product cover all the convolutions of the network:
//!
//! - [`tap_gemm`]: a block of `MR` output pixels times [`NR`] output channels,
//!   `acc[p][n] = sum_t sum_k a[p * sp + taps[t] + k * sk] * w[t * kr + k][n]`, where each *tap*
//!   is a contiguous run of `kr` reduction values (one kernel row of a channels-last 3x3 window,
//!   or the channels of one pixel for a 1x1 product). Used by convolution forward, the input
//!   gradient of convolutions, and transposed convolutions.
//! - [`reduce_pixels`]: a block of `MK` reduction rows times [`NR`] output channels summed over
//!   pixels, `acc[j][n] += sum_p a[p * sa + j] * b[p * sb + n]`. Used by every weight gradient.
//!
//! On x86-64 both run hand-written SIMD code chosen once at run time: with AVX-512F, `M` (up to
//! 16, see [`mr`]) 16-lane `zmm` accumulators, one aligned weight-block load and `M` broadcast
//! fused multiply-adds per reduction step; with AVX2 and FMA, `M x 16` accumulators in `2 M`
//! `ymm` registers (`M = 6`: two weight loads, `M` broadcasts, `2 M` fused multiply-adds).
//! The AVX-512 form issues half the instructions for the same work, and its 32 registers hold
//! 16 independent accumulator chains: enough to keep both FMA pipes busy through their latency,
//! which 6 chains are not. On the reference machine (AMD EPYC, 2 cores, AVX-512) the network's
//! eval forward took 695 ms with AVX2, 532 ms with AVX-512 and 6-pixel blocks, 449 ms with
//! 16-pixel blocks (`CHRONOMAP_CPU_AVX512=0` keeps AVX2, `CHRONOMAP_CPU_MR=n` sets the block,
//! to compare). On aarch64 (Apple Silicon, Graviton) NEON kernels run `6 x 16` blocks in 24 of
//! the 32 vector registers (checked for correctness under qemu; their speed has not been measured
//! on ARM hardware). Elsewhere a portable version with the same results (up to rounding) is used.

/// Output channels (or gradient columns) per register block.
pub(crate) const NR: usize = 16;
/// Most output pixels per register block of [`tap_gemm`] (and reduction rows of
/// [`reduce_pixels`]): the size of the accumulator arrays callers keep. The block actually used
/// is [`mr`].
pub(crate) const MR: usize = 16;

/// Output pixels per register block on this CPU: 16 with AVX-512 (16 `zmm` accumulators of the
/// 32 registers, enough independent chains to keep two FMA pipes of 4-cycle latency busy), 6
/// otherwise (AVX2: `6 x 2` accumulators of the 16 `ymm` registers).
/// `CHRONOMAP_CPU_MR=n` (1..=16) overrides it, to measure.
#[inline]
pub(crate) fn mr() -> usize {
    use std::sync::OnceLock;
    static MR_NOW: OnceLock<usize> = OnceLock::new();
    *MR_NOW.get_or_init(|| {
        let default = if has_avx512() { 16 } else { 6 };
        std::env::var("CHRONOMAP_CPU_MR")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|m| (1..=MR).contains(m))
            .unwrap_or(default)
    })
}

/// The blocks `(start, size)` that cover `0..len` in steps of `step` (the last one shorter).
#[inline]
pub(crate) fn blocks_of(len: usize, step: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..len).step_by(step).map(move |s| (s, step.min(len - s)))
}

/// [`blocks_of`] with this CPU's register block ([`mr`]): how every kernel walks a row of
/// pixels (or a run of reduction rows).
#[inline]
pub(crate) fn blocks(len: usize) -> impl Iterator<Item = (usize, usize)> {
    blocks_of(len, mr())
}

/// Dispatches a runtime block size `m` (1..=16) to the const-generic instance `$f::<m>(args)`.
macro_rules! by_block {
    ($m:expr, $f:ident($($arg:expr),*)) => {
        match $m {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            9 => $f::<9>($($arg),*),
            10 => $f::<10>($($arg),*),
            11 => $f::<11>($($arg),*),
            12 => $f::<12>($($arg),*),
            13 => $f::<13>($($arg),*),
            14 => $f::<14>($($arg),*),
            15 => $f::<15>($($arg),*),
            16 => $f::<16>($($arg),*),
            m => unreachable!("register block of {m}"),
        }
    };
}

/// One block of 16 packed weights, 64-byte aligned so that a block never straddles cache lines.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Block16(pub(crate) [f32; NR]);

/// Whether the AVX2 + FMA kernels can run on this CPU (checked once).
#[inline]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX-512F kernels can run on this CPU (checked once; `CHRONOMAP_CPU_AVX512=0`
/// keeps the AVX2 ones).
#[inline]
pub(crate) fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::env::var("CHRONOMAP_CPU_AVX512").map_or(true, |v| v.trim() != "0")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The reduction pattern of a [`tap_gemm`] call: `taps.len()` runs of `kr` values, value `k` of
/// run `t` at offset `taps[t] + k * sk` from the pixel's base.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Taps<'a> {
    /// Offset of each run from the pixel's base, in `f32`s.
    pub(crate) offsets: &'a [isize],
    /// Values per run.
    pub(crate) kr: usize,
    /// Distance between consecutive values of a run, in `f32`s.
    pub(crate) sk: isize,
}

impl Taps<'_> {
    /// Length of the whole reduction (`taps * kr`), i.e. rows of the packed weights.
    #[cfg(test)]
    pub(crate) fn depth(&self) -> usize {
        self.offsets.len() * self.kr
    }
}

/// Computes one `M x 16` block: `acc[p][n] (+)= sum_t sum_k a[p*sp + taps[t] + k*sk] * w[t*kr+k][n]`,
/// adding to the incoming `acc` when `accumulate`, overwriting it otherwise.
///
/// # Safety
/// Every address `a + p*sp + taps[t] + k*sk` (`p < M`, `t < taps`, `k < kr`) must be readable, and
/// `w` must hold `taps.depth()` blocks.
#[inline]
pub(crate) unsafe fn tap_gemm<const M: usize>(
    a: *const f32,
    sp: isize,
    taps: Taps<'_>,
    w: *const Block16,
    acc: &mut [[f32; NR]; M],
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU supports the features; the pointer contract is the caller's.
        unsafe { avx512::tap_gemm::<M>(a, sp, taps, w, acc, accumulate) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports the features; the pointer contract is the caller's.
        unsafe { avx2::tap_gemm::<M>(a, sp, taps, w, acc, accumulate) };
        return;
    }
    // NEON is part of the aarch64 baseline: no run-time check.
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: the pointer contract is the caller's.
        unsafe { neon::tap_gemm::<M>(a, sp, taps, w, acc, accumulate) };
    }
    // SAFETY: same contract.
    #[cfg(not(target_arch = "aarch64"))]
    unsafe {
        portable_tap_gemm::<M>(a, sp, taps, w, acc, accumulate)
    }
}

/// Portable [`tap_gemm`].
///
/// # Safety
/// As [`tap_gemm`].
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
#[inline]
unsafe fn portable_tap_gemm<const M: usize>(
    a: *const f32,
    sp: isize,
    taps: Taps<'_>,
    w: *const Block16,
    acc: &mut [[f32; NR]; M],
    accumulate: bool,
) {
    if !accumulate {
        *acc = [[0.0; NR]; M];
    }
    let mut wp = w;
    for &t in taps.offsets {
        // SAFETY: offsets stay inside the caller's buffers by contract.
        unsafe {
            let mut ap = a.offset(t);
            for _ in 0..taps.kr {
                let wv = &(*wp).0;
                for (p, row) in acc.iter_mut().enumerate() {
                    let x = *ap.offset(p as isize * sp);
                    for (v, &w) in row.iter_mut().zip(wv) {
                        *v += x * w;
                    }
                }
                ap = ap.offset(taps.sk);
                wp = wp.add(1);
            }
        }
    }
}

/// Adds `sum_p a[p*sa + j] * b[p*sb + n]` over `pixels` pixels into `dst[j*ds + n]` (`j < M`,
/// `n < nb`, `nb <= 16`).
///
/// # Safety
/// `a + p*sa + j` and `b + p*sb + n` must be readable for `p < pixels`, `j < M`, `n < nb`, and
/// `dst + j*ds + n` writable for `j < M`, `n < nb`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn reduce_pixels<const M: usize>(
    a: *const f32,
    sa: isize,
    b: *const f32,
    sb: isize,
    nb: usize,
    pixels: usize,
    dst: *mut f32,
    ds: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU supports the features; the pointer contract is the caller's.
        unsafe { avx512::reduce_pixels::<M>(a, sa, b, sb, nb, pixels, dst, ds) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports the features; the pointer contract is the caller's.
        unsafe { avx2::reduce_pixels::<M>(a, sa, b, sb, nb, pixels, dst, ds) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: the pointer contract is the caller's.
        unsafe { neon::reduce_pixels::<M>(a, sa, b, sb, nb, pixels, dst, ds) };
    }
    // SAFETY: same contract.
    #[cfg(not(target_arch = "aarch64"))]
    unsafe {
        portable_reduce_pixels::<M>(a, sa, b, sb, nb, pixels, dst, ds)
    }
}

/// [`tap_gemm`] for a block of `m` (1..=[`MR`]) pixels, in the first `m` rows of `acc`.
///
/// # Safety
/// As [`tap_gemm`], for `M = m`.
#[inline]
pub(crate) unsafe fn tap_gemm_m(
    m: usize,
    a: *const f32,
    sp: isize,
    taps: Taps<'_>,
    w: *const Block16,
    acc: &mut [[f32; NR]; MR],
    accumulate: bool,
) {
    /// `tap_gemm::<M>` on the first `M` rows of the array at `acc`.
    #[inline(always)]
    unsafe fn rows<const M: usize>(
        a: *const f32,
        sp: isize,
        taps: Taps<'_>,
        w: *const Block16,
        acc: *mut [f32; NR],
        accumulate: bool,
    ) {
        // SAFETY: forwarded contract; the caller's array has at least `M` rows.
        unsafe {
            tap_gemm::<M>(
                a,
                sp,
                taps,
                w,
                &mut *(acc as *mut [[f32; NR]; M]),
                accumulate,
            )
        }
    }
    let p = acc.as_mut_ptr();
    // SAFETY: forwarded contract; m <= MR rows of `acc`.
    unsafe { by_block!(m, rows(a, sp, taps, w, p, accumulate)) }
}

/// [`reduce_pixels`] for a tile of `m` (1..=[`MR`]) reduction rows.
///
/// # Safety
/// As [`reduce_pixels`], for `M = m`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn reduce_pixels_m(
    m: usize,
    a: *const f32,
    sa: isize,
    b: *const f32,
    sb: isize,
    nb: usize,
    pixels: usize,
    dst: *mut f32,
    ds: usize,
) {
    // SAFETY: forwarded contract.
    unsafe { by_block!(m, reduce_pixels(a, sa, b, sb, nb, pixels, dst, ds)) }
}

/// Portable [`reduce_pixels`].
///
/// # Safety
/// As [`reduce_pixels`].
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn portable_reduce_pixels<const M: usize>(
    a: *const f32,
    sa: isize,
    b: *const f32,
    sb: isize,
    nb: usize,
    pixels: usize,
    dst: *mut f32,
    ds: usize,
) {
    let mut acc = [[0f32; NR]; M];
    for p in 0..pixels as isize {
        // SAFETY: by contract.
        unsafe {
            let ap = a.offset(p * sa);
            let bp = b.offset(p * sb);
            for (j, row) in acc.iter_mut().enumerate() {
                let x = *ap.add(j);
                for (n, v) in row.iter_mut().enumerate().take(nb) {
                    *v += x * *bp.add(n);
                }
            }
        }
    }
    for (j, row) in acc.iter().enumerate() {
        for (n, v) in row.iter().enumerate().take(nb) {
            // SAFETY: by contract.
            unsafe { *dst.add(j * ds + n) += v };
        }
    }
}

#[cfg(target_arch = "aarch64")]
// Indexed loops over the accumulator array, as in the x86 modules: `M` is a constant, so they
// unroll into straight register code.
#[allow(clippy::needless_range_loop)]
mod neon {
    use super::{Block16, NR, Taps};
    use std::arch::aarch64::*;

    /// NEON [`super::tap_gemm`]: four 4-lane accumulators per output pixel (`M = 6`: 24 of the
    /// 32 vector registers), the 16-float weight block in four loads, `4 M` fused
    /// multiply-adds per reduction step.
    ///
    /// # Safety
    /// The contract of [`super::tap_gemm`].
    #[inline]
    pub(super) unsafe fn tap_gemm<const M: usize>(
        a: *const f32,
        sp: isize,
        taps: Taps<'_>,
        w: *const Block16,
        acc: &mut [[f32; NR]; M],
        accumulate: bool,
    ) {
        // SAFETY: in bounds by the caller's contract; `acc[p]` holds 16 floats.
        unsafe {
            let mut r = [[vdupq_n_f32(0.0); 4]; M];
            if accumulate {
                for p in 0..M {
                    for q in 0..4 {
                        r[p][q] = vld1q_f32(acc[p].as_ptr().add(4 * q));
                    }
                }
            }
            let mut wp = w as *const f32;
            for &t in taps.offsets {
                let mut ap = a.offset(t);
                for _ in 0..taps.kr {
                    let wv = [
                        vld1q_f32(wp),
                        vld1q_f32(wp.add(4)),
                        vld1q_f32(wp.add(8)),
                        vld1q_f32(wp.add(12)),
                    ];
                    for p in 0..M {
                        let x = vld1q_dup_f32(ap.offset(p as isize * sp));
                        for q in 0..4 {
                            r[p][q] = vfmaq_f32(r[p][q], x, wv[q]);
                        }
                    }
                    ap = ap.offset(taps.sk);
                    wp = wp.add(NR);
                }
            }
            for p in 0..M {
                for q in 0..4 {
                    vst1q_f32(acc[p].as_mut_ptr().add(4 * q), r[p][q]);
                }
            }
        }
    }

    /// NEON [`super::reduce_pixels`] (partial column blocks through a zero-padded copy of each
    /// pixel's `nb` values).
    ///
    /// # Safety
    /// The contract of [`super::reduce_pixels`].
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn reduce_pixels<const M: usize>(
        a: *const f32,
        sa: isize,
        b: *const f32,
        sb: isize,
        nb: usize,
        pixels: usize,
        dst: *mut f32,
        ds: usize,
    ) {
        // SAFETY: in bounds by the caller's contract (only `nb` values per row of `b` and `dst`
        // are touched).
        unsafe {
            let mut r = [[vdupq_n_f32(0.0); 4]; M];
            let mut pad = [0f32; NR];
            let mut ap = a;
            let mut bp = b;
            for _ in 0..pixels {
                let src = if nb == NR {
                    bp
                } else {
                    core::ptr::copy_nonoverlapping(bp, pad.as_mut_ptr(), nb);
                    pad.as_ptr()
                };
                let bv = [
                    vld1q_f32(src),
                    vld1q_f32(src.add(4)),
                    vld1q_f32(src.add(8)),
                    vld1q_f32(src.add(12)),
                ];
                for j in 0..M {
                    let x = vld1q_dup_f32(ap.add(j));
                    for q in 0..4 {
                        r[j][q] = vfmaq_f32(r[j][q], x, bv[q]);
                    }
                }
                ap = ap.offset(sa);
                bp = bp.offset(sb);
            }
            let mut sums = [0f32; NR];
            for j in 0..M {
                for q in 0..4 {
                    vst1q_f32(sums.as_mut_ptr().add(4 * q), r[j][q]);
                }
                for (n, v) in sums.iter().enumerate().take(nb) {
                    *dst.add(j * ds + n) += v;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
// Indexed loops over the accumulator array, as in the AVX2 module: `M` is a constant, so they
// unroll into straight register code.
#[allow(clippy::needless_range_loop)]
mod avx512 {
    use super::{Block16, NR, Taps};
    use std::arch::x86_64::*;

    /// AVX-512F [`super::tap_gemm`]: one 16-lane register per output pixel, the packed weight
    /// block (64-byte aligned, 16 floats) in one load.
    ///
    /// # Safety
    /// AVX-512F available, plus the contract of [`super::tap_gemm`].
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tap_gemm<const M: usize>(
        a: *const f32,
        sp: isize,
        taps: Taps<'_>,
        w: *const Block16,
        acc: &mut [[f32; NR]; M],
        accumulate: bool,
    ) {
        let mut r = [_mm512_setzero_ps(); M];
        if accumulate {
            for p in 0..M {
                // SAFETY: `acc[p]` holds 16 floats.
                r[p] = unsafe { _mm512_loadu_ps(acc[p].as_ptr()) };
            }
        }
        let mut wp = w as *const f32;
        let sk = taps.sk;
        for &t in taps.offsets {
            // SAFETY: in bounds by the caller's contract; `Block16` is 64-byte aligned.
            unsafe {
                let mut ap = a.offset(t);
                for _ in 0..taps.kr {
                    let wv = _mm512_load_ps(wp);
                    for p in 0..M {
                        let x = _mm512_set1_ps(*ap.offset(p as isize * sp));
                        r[p] = _mm512_fmadd_ps(x, wv, r[p]);
                    }
                    ap = ap.offset(sk);
                    wp = wp.add(NR);
                }
            }
        }
        for p in 0..M {
            // SAFETY: `acc[p]` holds 16 floats.
            unsafe { _mm512_storeu_ps(acc[p].as_mut_ptr(), r[p]) };
        }
    }

    /// AVX-512F [`super::reduce_pixels`] (masked loads and stores for `nb < 16`).
    ///
    /// # Safety
    /// AVX-512F available, plus the contract of [`super::reduce_pixels`].
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn reduce_pixels<const M: usize>(
        a: *const f32,
        sa: isize,
        b: *const f32,
        sb: isize,
        nb: usize,
        pixels: usize,
        dst: *mut f32,
        ds: usize,
    ) {
        let mask: __mmask16 = if nb >= NR { 0xFFFF } else { (1u16 << nb) - 1 };
        let mut r = [_mm512_setzero_ps(); M];
        let mut ap = a;
        let mut bp = b;
        // SAFETY: in bounds by the caller's contract (masked lanes are not accessed).
        unsafe {
            for j in 0..M {
                r[j] = _mm512_maskz_loadu_ps(mask, dst.add(j * ds));
            }
            for _ in 0..pixels {
                let bv = _mm512_maskz_loadu_ps(mask, bp);
                for j in 0..M {
                    let x = _mm512_set1_ps(*ap.add(j));
                    r[j] = _mm512_fmadd_ps(x, bv, r[j]);
                }
                ap = ap.offset(sa);
                bp = bp.offset(sb);
            }
            for j in 0..M {
                _mm512_mask_storeu_ps(dst.add(j * ds), mask, r[j]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Block16, NR, Taps};
    use std::arch::x86_64::*;

    /// AVX2 [`super::tap_gemm`].
    ///
    /// # Safety
    /// AVX2 and FMA available, plus the contract of [`super::tap_gemm`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tap_gemm<const M: usize>(
        a: *const f32,
        sp: isize,
        taps: Taps<'_>,
        w: *const Block16,
        acc: &mut [[f32; NR]; M],
        accumulate: bool,
    ) {
        let mut lo = [_mm256_setzero_ps(); M];
        let mut hi = [_mm256_setzero_ps(); M];
        if accumulate {
            for p in 0..M {
                // SAFETY: `acc[p]` holds 16 floats.
                unsafe {
                    lo[p] = _mm256_loadu_ps(acc[p].as_ptr());
                    hi[p] = _mm256_loadu_ps(acc[p].as_ptr().add(8));
                }
            }
        }
        let mut wp = w as *const f32;
        let sk = taps.sk;
        for &t in taps.offsets {
            // SAFETY: in bounds by the caller's contract.
            unsafe {
                let mut ap = a.offset(t);
                for _ in 0..taps.kr {
                    let w0 = _mm256_load_ps(wp);
                    let w1 = _mm256_load_ps(wp.add(8));
                    for p in 0..M {
                        let x = _mm256_broadcast_ss(&*ap.offset(p as isize * sp));
                        lo[p] = _mm256_fmadd_ps(x, w0, lo[p]);
                        hi[p] = _mm256_fmadd_ps(x, w1, hi[p]);
                    }
                    ap = ap.offset(sk);
                    wp = wp.add(NR);
                }
            }
        }
        for p in 0..M {
            // SAFETY: `acc[p]` holds 16 floats.
            unsafe {
                _mm256_storeu_ps(acc[p].as_mut_ptr(), lo[p]);
                _mm256_storeu_ps(acc[p].as_mut_ptr().add(8), hi[p]);
            }
        }
    }

    /// Lane mask for the first `n` (0..=8) lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn mask(n: usize) -> __m256i {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
    }

    /// AVX2 [`super::reduce_pixels`].
    ///
    /// # Safety
    /// AVX2 and FMA available, plus the contract of [`super::reduce_pixels`].
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn reduce_pixels<const M: usize>(
        a: *const f32,
        sa: isize,
        b: *const f32,
        sb: isize,
        nb: usize,
        pixels: usize,
        dst: *mut f32,
        ds: usize,
    ) {
        let m0 = mask(nb.min(8));
        let m1 = mask(nb.saturating_sub(8));
        let mut lo = [_mm256_setzero_ps(); M];
        let mut hi = [_mm256_setzero_ps(); M];
        let mut ap = a;
        let mut bp = b;
        // SAFETY: in bounds by the caller's contract (masked loads/stores for partial blocks).
        unsafe {
            if nb == NR {
                for j in 0..M {
                    lo[j] = _mm256_loadu_ps(dst.add(j * ds));
                    hi[j] = _mm256_loadu_ps(dst.add(j * ds + 8));
                }
                for _ in 0..pixels {
                    let b0 = _mm256_loadu_ps(bp);
                    let b1 = _mm256_loadu_ps(bp.add(8));
                    for j in 0..M {
                        let x = _mm256_broadcast_ss(&*ap.add(j));
                        lo[j] = _mm256_fmadd_ps(x, b0, lo[j]);
                        hi[j] = _mm256_fmadd_ps(x, b1, hi[j]);
                    }
                    ap = ap.offset(sa);
                    bp = bp.offset(sb);
                }
                for j in 0..M {
                    _mm256_storeu_ps(dst.add(j * ds), lo[j]);
                    _mm256_storeu_ps(dst.add(j * ds + 8), hi[j]);
                }
            } else {
                for j in 0..M {
                    lo[j] = _mm256_maskload_ps(dst.add(j * ds), m0);
                    hi[j] = _mm256_maskload_ps(dst.add(j * ds + 8), m1);
                }
                for _ in 0..pixels {
                    let b0 = _mm256_maskload_ps(bp, m0);
                    let b1 = _mm256_maskload_ps(bp.add(8), m1);
                    for j in 0..M {
                        let x = _mm256_broadcast_ss(&*ap.add(j));
                        lo[j] = _mm256_fmadd_ps(x, b0, lo[j]);
                        hi[j] = _mm256_fmadd_ps(x, b1, hi[j]);
                    }
                    ap = ap.offset(sa);
                    bp = bp.offset(sb);
                }
                for j in 0..M {
                    _mm256_maskstore_ps(dst.add(j * ds), m0, lo[j]);
                    _mm256_maskstore_ps(dst.add(j * ds + 8), m1, hi[j]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, kernel)` for the portable form and every SIMD form of `$kernel` this CPU has
    /// (not only the one the dispatcher picks), as function pointers of type `$ty`.
    macro_rules! simd_forms {
        ($ty:ty, $portable:expr, $kernel:ident::<$m:ident>) => {{
            #[cfg_attr(
                not(any(target_arch = "x86_64", target_arch = "aarch64")),
                allow(unused_mut)
            )]
            let mut forms: Vec<(&str, $ty)> = vec![("portable", $portable)];
            #[cfg(target_arch = "x86_64")]
            {
                if has_avx2_fma() {
                    forms.push(("avx2", avx2::$kernel::<$m>));
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    forms.push(("avx512", avx512::$kernel::<$m>));
                }
            }
            #[cfg(target_arch = "aarch64")]
            forms.push(("neon", neon::$kernel::<$m>));
            forms
        }};
    }

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }

    /// Checks every SIMD form this CPU has (not only the one [`tap_gemm`] picks), the portable
    /// form and the runtime-sized [`tap_gemm_m`] for `M` pixels against `expect` (computed by a
    /// direct loop written from the definition), overwriting and accumulating.
    fn check_tap<const M: usize>(
        a: &[f32],
        sp: isize,
        taps: Taps<'_>,
        w: &[Block16],
        expect: &[[f32; NR]; MR],
    ) {
        let close = |r: &[[f32; NR]], times: f32, what: &str| {
            for p in 0..M {
                for n in 0..NR {
                    let want = times * expect[p][n];
                    assert!((r[p][n] - want).abs() < 1e-4, "{what} M={M} {p} {n}");
                }
            }
        };
        let (ap, wp) = (a.as_ptr(), w.as_ptr());
        type Form<const M: usize> =
            unsafe fn(*const f32, isize, Taps<'_>, *const Block16, &mut [[f32; NR]; M], bool);
        let forms = simd_forms!(Form<M>, portable_tap_gemm::<M>, tap_gemm::<M>);
        for (name, f) in forms {
            let mut r = [[9f32; NR]; M];
            unsafe { f(ap, sp, taps, wp, &mut r, false) };
            close(&r, 1.0, name);
            unsafe { f(ap, sp, taps, wp, &mut r, true) };
            close(&r, 2.0, &format!("{name} accumulate"));
        }
        let mut fast = [[9f32; NR]; MR];
        unsafe { tap_gemm_m(M, ap, sp, taps, wp, &mut fast, false) };
        close(&fast, 1.0, "tap_gemm_m");
        unsafe { tap_gemm_m(M, ap, sp, taps, wp, &mut fast, true) };
        close(&fast, 2.0, "tap_gemm_m accumulate");
        // Rows past the block are left alone.
        assert!(
            fast[M..].iter().flatten().all(|&v| v == 9.0),
            "M={M} wrote past its rows"
        );
    }

    /// Every block size 1..=16 against a direct loop written from the definition.
    #[test]
    fn tap_gemm_matches_definition_for_every_block_size() {
        let mut s = 7;
        let a: Vec<f32> = (0..4000).map(|_| lcg(&mut s)).collect();
        let offsets = [0isize, 301, 777];
        let taps = Taps {
            offsets: &offsets,
            kr: 11,
            sk: 2,
        };
        let w: Vec<Block16> = (0..taps.depth())
            .map(|_| Block16(std::array::from_fn(|_| lcg(&mut s))))
            .collect();
        let sp = 13;
        let mut expect = [[0f32; NR]; MR];
        for (p, row) in expect.iter_mut().enumerate() {
            for (t, &off) in offsets.iter().enumerate() {
                for k in 0..taps.kr {
                    let x = a[(p as isize * sp + off + k as isize * 2) as usize];
                    for (v, wv) in row.iter_mut().zip(&w[t * taps.kr + k].0) {
                        *v += x * wv;
                    }
                }
            }
        }
        for m in 1..=MR {
            by_block!(m, check_tap(&a, sp, taps, &w, &expect));
        }
    }

    /// The runtime block size stays in range (it sizes every caller's accumulator array).
    #[test]
    fn block_size_is_in_range() {
        assert!((1..=MR).contains(&mr()));
    }

    /// [`reduce_pixels`] on `M` rows: every SIMD form this CPU has, the portable form and
    /// [`reduce_pixels_m`], for full and partial column blocks, adding to what `dst` holds.
    fn check_reduce<const M: usize>(a: &[f32], b: &[f32]) {
        for nb in [16, 13, 5] {
            let (sa, sb, px, ds) = (9isize, 17isize, 150usize, 21usize);
            let start: Vec<f32> = (0..M * ds).map(|i| i as f32).collect();
            // The definition, as a direct loop.
            let mut expect = start.clone();
            for j in 0..M {
                for n in 0..nb {
                    for p in 0..px {
                        expect[j * ds + n] += a[p * sa as usize + j] * b[p * sb as usize + n];
                    }
                }
            }
            type Form =
                unsafe fn(*const f32, isize, *const f32, isize, usize, usize, *mut f32, usize);
            let mut forms = simd_forms!(Form, portable_reduce_pixels::<M>, reduce_pixels::<M>);
            forms.push(("dispatch", reduce_pixels::<M>));
            for (name, f) in forms {
                let mut r = start.clone();
                unsafe { f(a.as_ptr(), sa, b.as_ptr(), sb, nb, px, r.as_mut_ptr(), ds) };
                for i in 0..M * ds {
                    assert!((r[i] - expect[i]).abs() < 1e-3, "{name} M={M} nb={nb} {i}");
                }
            }
            let mut r = start.clone();
            let (ap, bp, rp) = (a.as_ptr(), b.as_ptr(), r.as_mut_ptr());
            unsafe { reduce_pixels_m(M, ap, sa, bp, sb, nb, px, rp, ds) };
            for i in 0..M * ds {
                assert!(
                    (r[i] - expect[i]).abs() < 1e-3,
                    "reduce_pixels_m M={M} nb={nb} {i}"
                );
            }
        }
    }

    #[test]
    fn reduce_pixels_matches_definition_for_every_block_size_and_partial_columns() {
        let mut s = 3;
        let a: Vec<f32> = (0..3000).map(|_| lcg(&mut s)).collect();
        let b: Vec<f32> = (0..3000).map(|_| lcg(&mut s)).collect();
        for m in 1..=MR {
            by_block!(m, check_reduce(&a, &b));
        }
    }
}
