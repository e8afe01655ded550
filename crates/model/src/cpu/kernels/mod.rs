//! Channels-last CPU kernels on plain slices (no Burn types): the arithmetic of the fast path.
//!
//! Feature maps are zero-bordered channels-last grids (see [`grid`]). Kernels are parallel with
//! rayon over images and bands of rows, and use the register-blocked microkernels of [`micro`].
//! Large buffers come from the recycling pool of [`pool`].

pub(crate) mod bn;
pub(crate) mod conv3x3;
pub(crate) mod convt;
pub(crate) mod grid;
pub(crate) mod head;
pub(crate) mod lstm;
pub(crate) mod maxpool;
pub(crate) mod micro;
pub(crate) mod par;
pub(crate) mod pool;
