//! Moving buffers between the kernels and Burn's Flex tensors without copies.
//!
//! Kernel outputs ([`Buf`]) become [`FlexTensor`]s through a custom allocation controller that
//! hands the buffer back to the recycling pool when Burn drops the tensor; inputs are read in
//! place when contiguous.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use burn::backend::flex::{FlexTensor, Layout};
use burn::tensor::{Bytes, DType, Shape};
use burn_std::{AccessError, AccessPolicy, AllocationController, AllocationProperty};

use super::kernels::pool::{ALIGN, Buf};

/// Owns a pooled [`Buf`] on behalf of a [`Bytes`]; dropping it returns the buffer to the pool.
struct PooledController {
    buf: Buf,
}

impl PooledController {
    fn bytes(&self) -> &[MaybeUninit<u8>] {
        let s: &[f32] = &self.buf;
        // SAFETY: f32 storage viewed as bytes; every byte is initialized.
        unsafe { std::slice::from_raw_parts(s.as_ptr() as *const MaybeUninit<u8>, s.len() * 4) }
    }
}

impl AllocationController for PooledController {
    fn alloc_align(&self) -> usize {
        ALIGN
    }

    fn property(&self) -> AllocationProperty {
        AllocationProperty::Other
    }

    unsafe fn memory_mut(
        &mut self,
        _policy: AccessPolicy,
    ) -> Result<&mut [MaybeUninit<u8>], AccessError> {
        let s: &mut [f32] = &mut self.buf;
        // SAFETY: as in `bytes`, with exclusive access.
        Ok(unsafe {
            std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut MaybeUninit<u8>, s.len() * 4)
        })
    }

    fn memory(&self, _policy: AccessPolicy) -> Result<&[MaybeUninit<u8>], AccessError> {
        Ok(self.bytes())
    }
}

/// Wraps a kernel output as a contiguous `f32` Flex tensor of `shape`.
///
/// # Panics
/// If the buffer length is not the shape's element count.
pub(crate) fn flex_from_buf(buf: Buf, shape: &[usize]) -> FlexTensor {
    let n: usize = shape.iter().product();
    assert_eq!(
        buf.len(),
        n,
        "kernel output of {} values for shape {shape:?}",
        buf.len()
    );
    let len = n * 4;
    // SAFETY: the controller's memory holds exactly `len` initialized bytes.
    let bytes = unsafe { Bytes::from_controller(Box::new(PooledController { buf }), len) };
    FlexTensor::new(
        bytes,
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}

/// Wraps a small host vector as a contiguous `f32` Flex tensor of `shape`.
pub(crate) fn flex_from_vec(v: Vec<f32>, shape: &[usize]) -> FlexTensor {
    assert_eq!(
        v.len(),
        shape.iter().product::<usize>(),
        "vector length vs shape {shape:?}"
    );
    FlexTensor::new(
        Bytes::from_elems(v),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}

/// The values of an `f32` Flex tensor in row-major order: borrowed when the tensor is
/// contiguous, copied otherwise.
///
/// # Panics
/// If the tensor is not `f32`.
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    assert_eq!(
        t.dtype(),
        DType::F32,
        "the fast CPU path handles f32 tensors only, got {:?}",
        t.dtype()
    );
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => {
            let c = t.to_contiguous();
            Cow::Owned(c.as_slice::<f32>().expect("contiguous copy").to_vec())
        }
    }
}

/// The dimensions of a tensor of rank `D`.
///
/// # Panics
/// If the rank is not `D`.
pub(crate) fn dims<const D: usize>(t: &FlexTensor) -> [usize; D] {
    let s = t.layout().shape();
    assert_eq!(
        s.num_dims(),
        D,
        "expected a rank-{D} tensor, got shape {s:?}"
    );
    std::array::from_fn(|i| s[i])
}
