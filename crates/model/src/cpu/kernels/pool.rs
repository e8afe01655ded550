//! 64-byte aligned `f32` buffers, recycled through a pool.
//!
//! Alignment: the kernels load 16 output channels (64 bytes) at a time; a buffer that starts
//! 16 bytes past a cache line (what the C allocator returns for large blocks) turns every other
//! 32-byte load into a split load.
//!
//! Recycling: the feature maps of the network are tens of megabytes. A fresh allocation of that
//! size is mapped by the operating system and every 4 KiB page then faults on first write:
//! measured here at about 2 us per page, i.e. ~25 ms for a 50 MB activation, as much as the
//! convolution that fills it. Buffers return here when dropped (including those handed to Burn,
//! see `cpu::tensor`), so a training loop, which allocates the same sizes every step, stops
//! touching fresh pages after its first step.
//!
//! Buffers smaller than [`MIN_POOLED`] bytes are not kept. The pool keeps at most [`capacity`]
//! bytes (default 2 GiB, `CHRONOMAP_CPU_POOL_MB` overrides, 0 disables); beyond it, returned
//! buffers are freed.

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::{Mutex, OnceLock};

/// Buffers below this size (bytes) are not pooled.
pub(crate) const MIN_POOLED: usize = 1 << 20;

/// Alignment of every buffer, in bytes.
pub(crate) const ALIGN: usize = 64;

/// An owned, 64-byte aligned `[f32]` that returns to the pool when dropped.
pub(crate) struct Buf {
    ptr: NonNull<f32>,
    len: usize,
}

// SAFETY: `Buf` owns its allocation exclusively, like `Vec<f32>`.
unsafe impl Send for Buf {}
// SAFETY: shared access only hands out `&[f32]`.
unsafe impl Sync for Buf {}

impl Buf {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len.max(1) * 4, ALIGN).expect("buffer size overflows")
    }

    /// A fresh zeroed buffer (not from the pool).
    fn fresh(len: usize) -> Self {
        let layout = Self::layout(len);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw as *mut f32) else {
            handle_alloc_error(layout)
        };
        Self { ptr, len }
    }

    /// Number of `f32`s.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Deref for Buf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        // SAFETY: `ptr` is valid for `len` initialized floats (allocated zeroed, then written).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as above, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        let len = self.len;
        if len * 4 >= MIN_POOLED
            && let Ok(mut p) = pool().lock()
            && p.bytes + len * 4 <= capacity()
        {
            p.bytes += len * 4;
            let me = Buf { ptr: self.ptr, len };
            p.free.entry(len).or_default().push(me);
            return;
        }
        // SAFETY: allocated in `fresh` with this layout, not pooled.
        unsafe { dealloc(self.ptr.as_ptr() as *mut u8, Self::layout(len)) };
    }
}

impl std::fmt::Debug for Buf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Buf({} f32)", self.len)
    }
}

struct Pool {
    free: HashMap<usize, Vec<Buf>>,
    bytes: usize,
}

fn pool() -> &'static Mutex<Pool> {
    static POOL: OnceLock<Mutex<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        Mutex::new(Pool {
            free: HashMap::new(),
            bytes: 0,
        })
    })
}

/// Most bytes the pool keeps.
pub(crate) fn capacity() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        std::env::var("CHRONOMAP_CPU_POOL_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(2 << 30, |mb| mb << 20)
    })
}

/// A buffer of exactly `len` elements with **unspecified contents** (recycled, or zeroed when
/// fresh): the caller must write every element before reading it.
pub(crate) fn take(len: usize) -> Buf {
    if len * 4 >= MIN_POOLED
        && let Ok(mut p) = pool().lock()
        && let Some(b) = p.free.get_mut(&len).and_then(Vec::pop)
    {
        p.bytes -= len * 4;
        return b;
    }
    Buf::fresh(len)
}

/// A zero-filled buffer of `len` elements.
pub(crate) fn take_zeroed(len: usize) -> Buf {
    let mut b = take(len);
    b.fill(0.0);
    b
}

/// Frees every pooled buffer.
pub(crate) fn clear() {
    let drained: Vec<Buf> = match pool().lock() {
        Ok(mut p) => {
            p.bytes = 0;
            p.free.drain().flat_map(|(_, v)| v).collect()
        }
        Err(_) => return,
    };
    for b in drained {
        let len = b.len;
        let ptr = b.ptr;
        std::mem::forget(b);
        // SAFETY: allocated in `fresh` with this layout; ownership taken from the pool.
        unsafe { dealloc(ptr.as_ptr() as *mut u8, Buf::layout(len)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_recycled() {
        // A size no other test uses, so nothing races for the buffer.
        let len = MIN_POOLED / 4 + 12_345;
        let mut v = take(len);
        assert_eq!(v.as_ptr() as usize % ALIGN, 0);
        v[7] = 3.0;
        let ptr = v.as_ptr();
        drop(v);
        let w = take(len);
        assert_eq!(w.len(), len);
        if capacity() >= len * 4 {
            assert_eq!(w.as_ptr(), ptr, "the returned buffer is handed out again");
            assert_eq!(w[7], 3.0);
        }
        drop(w);
        assert_eq!(take_zeroed(len)[7], 0.0);
        // Small buffers are fresh and zeroed.
        let s = take(10);
        assert_eq!(&s[..], &[0.0; 10]);
        assert_eq!(s.as_ptr() as usize % ALIGN, 0);
    }
}
