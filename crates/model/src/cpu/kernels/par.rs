//! Small helpers for writing disjoint parts of one buffer from several rayon tasks.

/// A raw pointer that may cross threads. Every user writes a part of the buffer no other task
/// touches during the same parallel loop (documented at each use).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SendPtr(pub(crate) *mut f32);

// SAFETY: only used for disjoint writes (see the type docs); the buffer outlives the loop.
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// Pointer `offset` floats further.
    ///
    /// # Safety
    /// The result must stay inside the buffer.
    #[inline]
    pub(crate) unsafe fn add(self, offset: usize) -> *mut f32 {
        // SAFETY: by contract.
        unsafe { self.0.add(offset) }
    }
}

/// Number of rayon worker threads (at least 1).
pub(crate) fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Defines `fn $name(args) -> ret` whose body is compiled twice, once with AVX2 + FMA enabled
/// (used when the CPU has them, checked once) and once for the baseline target, so that plain
/// element-wise loops are auto-vectorized 8 lanes wide.
macro_rules! avx2_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn inner($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn fast($($arg: $ty),*) $(-> $ret)? {
                inner($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::cpu::kernels::micro::has_avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                return unsafe { fast($($arg),*) };
            }
            inner($($arg),*)
        }
    };
}
pub(crate) use avx2_fn;

avx2_fn! {
    /// `r = g` where `out > 0`, else 0, over one chunk.
    fn mask_chunk(g: &[f32], out: &[f32], r: &mut [f32]) {
        for ((r, &g), &o) in r.iter_mut().zip(g).zip(out) {
            *r = if o > 0.0 { g } else { 0.0 };
        }
    }
}

/// `r = g * [out > 0]` element-wise (the ReLU backward), in parallel.
pub(crate) fn mask_positive(g: &[f32], out: &[f32], r: &mut [f32]) {
    use rayon::prelude::*;
    assert!(
        g.len() == out.len() && g.len() == r.len(),
        "mask_positive: lengths"
    );
    const CHUNK: usize = 1 << 16;
    r.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(out.par_chunks(CHUNK))
        .for_each(|((r, g), o)| mask_chunk(g, o, r));
}
