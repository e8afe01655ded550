//! 3x3 convolution, stride 1, padding 1, on zero-bordered channels-last grids (see
//! [`super::grid`]): forward, input gradient and weight gradient.
//!
//! - forward: `y = conv(cat(x_1, x_2, ..), w)`, parallel over (image, band of rows). For each
//!   block of 6 output pixels and 16 output channels, the three taps of a kernel row are one
//!   contiguous run of `3 c` values of a grid row, so the block is one [`tap_gemm`] call with three
//!   taps per input. Several inputs are read in place (the U-Net decoder's `cat[up, skip]`, the
//!   ConvLSTM's `cat[x, h]`): the concatenation is never materialized. Inputs with many channels
//!   are split in segments of [`SEGMENT`] channels whose packed weights stay in L1/L2 while the
//!   whole band is processed. An optional bias and ReLU are applied while the block is in
//!   registers (inference with batch norm folded into the weights).
//! - input gradient: `dx = conv(dy, w')`, `w'[kh][kw][o][c] = w[o][c][2-kh][2-kw]`: the same
//!   kernel, its output split over several grids (the gradients of concatenated inputs).
//! - weight gradient: `dw[(kh, kw, c)][o] = sum_q x[q + (kh-1)(w+2) + kw-1][c] * dy[q][o]` over
//!   all grid positions `q` with [`reduce_pixels`]; tasks own disjoint rows of the gradient.

use rayon::prelude::*;

use super::grid::{Dims, Grid, GridMut};
use super::micro::{Block16, MR, NR, Taps, blocks, reduce_pixels_m, tap_gemm_m};
use super::par::{SendPtr, threads};
use super::pool::{self, Buf};

/// Most channels of one input read per pass: `9 x 128 x 16` packed weights (72 KiB) stay in L2
/// while a band of pixels is processed.
pub(crate) const SEGMENT: usize = 128;

/// Weights packed for [`tap_gemm`]: column block `b` is `depth` consecutive [`Block16`]s.
#[derive(Clone, Debug)]
pub(crate) struct Packed {
    pub(crate) blocks: Vec<Block16>,
    pub(crate) depth: usize,
    pub(crate) cols: usize,
}

impl Packed {
    /// Packs the `depth x cols` matrix `f(row, col)`, padding columns to a multiple of 16 with 0.
    pub(crate) fn from_fn(
        depth: usize,
        cols: usize,
        f: impl Fn(usize, usize) -> f32 + Sync,
    ) -> Self {
        let nb = cols.div_ceil(NR);
        let mut blocks = vec![Block16::default(); nb * depth];
        blocks
            .par_chunks_mut(depth.max(1))
            .enumerate()
            .for_each(|(b, col_block)| {
                for (k, blk) in col_block.iter_mut().enumerate() {
                    for (j, v) in blk.0.iter_mut().enumerate() {
                        let c = b * NR + j;
                        if c < cols {
                            *v = f(k, c);
                        }
                    }
                }
            });
        Self {
            blocks,
            depth,
            cols,
        }
    }

    /// Number of 16-column blocks.
    pub(crate) fn nblocks(&self) -> usize {
        self.cols.div_ceil(NR)
    }

    /// Row `k` of column block `b`.
    pub(crate) fn block(&self, b: usize, k: usize) -> *const Block16 {
        self.blocks[b * self.depth + k..].as_ptr()
    }
}

/// A run of channels of one input, processed in one pass.
#[derive(Clone, Copy, Debug)]
struct Segment {
    /// Which input.
    src: usize,
    /// First channel.
    c0: usize,
    /// Channels.
    cn: usize,
    /// First packed weight row.
    row0: usize,
}

/// A 3x3 convolution of the concatenation of inputs with `c_ins` channels into `cols` outputs,
/// with its weights packed per segment.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    c_ins: Vec<usize>,
    segments: Vec<Segment>,
    packed: Packed,
}

impl Plan {
    /// Packs `f(tap, c, o)` (tap = `kh * 3 + kw`, `c` a channel of the concatenated input, `o` an
    /// output channel).
    pub(crate) fn new(
        c_ins: &[usize],
        cols: usize,
        f: impl Fn(usize, usize, usize) -> f32 + Sync,
    ) -> Self {
        let mut segments = Vec::new();
        let mut rows = Vec::new(); // (tap, global channel) of each packed row
        let mut base = 0;
        for (src, &c) in c_ins.iter().enumerate() {
            let mut c0 = 0;
            while c0 < c {
                let cn = if c <= SEGMENT { c } else { SEGMENT.min(c - c0) };
                segments.push(Segment {
                    src,
                    c0,
                    cn,
                    row0: rows.len(),
                });
                if cn == c {
                    // Three runs (one per kernel row) of 3c values: (kw, channel).
                    for kh in 0..3 {
                        for kw in 0..3 {
                            for ch in 0..c {
                                rows.push((kh * 3 + kw, base + ch));
                            }
                        }
                    }
                } else {
                    // Nine runs of cn values.
                    for tap in 0..9 {
                        for ch in c0..c0 + cn {
                            rows.push((tap, base + ch));
                        }
                    }
                }
                c0 += cn;
            }
            base += c;
        }
        let packed = Packed::from_fn(rows.len(), cols, |k, o| {
            let (tap, c) = rows[k];
            f(tap, c, o)
        });
        Self {
            c_ins: c_ins.to_vec(),
            segments,
            packed,
        }
    }

    /// Forward weights: PyTorch layout `[c_out, c_in, 3, 3]`, with output channel `o` multiplied
    /// by `scale[o]` when a scale is given (batch normalization folded into the convolution).
    ///
    /// # Panics
    /// If `w` or `scale` has the wrong size.
    pub(crate) fn forward_scaled(
        w: &[f32],
        c_ins: &[usize],
        c_out: usize,
        scale: Option<&[f32]>,
    ) -> Self {
        let c_in: usize = c_ins.iter().sum();
        assert_eq!(w.len(), c_out * c_in * 9, "conv3x3 weight size");
        match scale {
            None => Self::new(c_ins, c_out, |tap, c, o| w[(o * c_in + c) * 9 + tap]),
            Some(s) => {
                assert_eq!(s.len(), c_out, "conv3x3 scale size");
                Self::new(c_ins, c_out, |tap, c, o| w[(o * c_in + c) * 9 + tap] * s[o])
            }
        }
    }

    /// Input-gradient weights for a forward convolution with PyTorch weights `[c_out, c_in, 3, 3]`:
    /// the input is `dy` (`c_out` channels), the outputs the `c_in` gradient channels.
    ///
    /// # Panics
    /// If `w` has the wrong size.
    pub(crate) fn input_grad(w: &[f32], c_in: usize, c_out: usize) -> Self {
        assert_eq!(w.len(), c_out * c_in * 9, "conv3x3 weight size");
        Self::new(&[c_out], c_in, |tap, o, c| {
            w[(o * c_in + c) * 9 + (8 - tap)]
        })
    }
}

/// What happens to a block of outputs before it is stored.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Epilogue<'a> {
    /// Store as computed.
    None,
    /// Add a per-channel bias.
    Bias(&'a [f32]),
    /// Add a per-channel bias, then ReLU.
    BiasRelu(&'a [f32]),
}

impl Epilogue<'_> {
    #[inline]
    fn apply(&self, c0: usize, nb: usize, v: &mut [f32; NR]) {
        match self {
            Epilogue::None => {}
            Epilogue::Bias(b) => {
                for (x, b) in v.iter_mut().zip(&b[c0..c0 + nb]) {
                    *x += b;
                }
            }
            Epilogue::BiasRelu(b) => {
                for (x, b) in v.iter_mut().zip(&b[c0..c0 + nb]) {
                    *x = (*x + b).max(0.0);
                }
            }
        }
    }
}

/// Stores channels `c0..c0 + nb` of grid position `pos` into whichever outputs hold them.
///
/// # Safety
/// `pos` must be a position of the outputs, owned by the calling task.
#[inline]
unsafe fn store(dsts: &[GridMut], pos: usize, c0: usize, nb: usize, v: &[f32; NR]) {
    if let [d] = dsts
        && nb == NR
    {
        // SAFETY: inside the output by the caller's contract.
        unsafe { (d.ptr.add(pos * d.channels + c0) as *mut [f32; NR]).write_unaligned(*v) };
        return;
    }
    let mut base = 0;
    for d in dsts {
        let (lo, hi) = (c0.max(base), (c0 + nb).min(base + d.channels));
        if lo < hi {
            // SAFETY: inside the output by the caller's contract.
            unsafe {
                let p = d.ptr.add(pos * d.channels + lo - base);
                core::ptr::copy_nonoverlapping(v.as_ptr().add(lo - c0), p, hi - lo);
            }
        }
        base += d.channels;
    }
}

/// Loads channels `c0..c0 + nb` of grid position `pos` (the partial sums of earlier segments).
///
/// # Safety
/// As [`store`].
#[inline]
unsafe fn load(dsts: &[GridMut], pos: usize, c0: usize, nb: usize, v: &mut [f32; NR]) {
    if let [d] = dsts
        && nb == NR
    {
        // SAFETY: inside the output by the caller's contract.
        unsafe { *v = (d.ptr.add(pos * d.channels + c0) as *const [f32; NR]).read_unaligned() };
        return;
    }
    let mut base = 0;
    for d in dsts {
        let (lo, hi) = (c0.max(base), (c0 + nb).min(base + d.channels));
        if lo < hi {
            // SAFETY: inside the output by the caller's contract.
            unsafe {
                let p = d.ptr.add(pos * d.channels + lo - base);
                core::ptr::copy_nonoverlapping(p, v.as_mut_ptr().add(lo - c0), hi - lo);
            }
        }
        base += d.channels;
    }
}

/// Rows per task: the input rows one pass reads (one segment of channels, plus the rows above
/// and below) stay within ~256 KiB of L2, with about 4 tasks per thread.
fn band_rows(d: Dims, seg_channels: usize) -> usize {
    let row_bytes = d.wp() * seg_channels * 4;
    let by_cache = (256 * 1024 / row_bytes.max(1)).saturating_sub(2).max(1);
    let by_balance = (d.n * d.h / (4 * threads())).max(1);
    even_rows(d.h, by_cache.min(by_balance))
}

/// The band height closest to `at_most` rows that splits `h` rows into equal bands (the last
/// band is never much shorter than the others, which would leave a thread idle at the end).
pub(crate) fn even_rows(h: usize, at_most: usize) -> usize {
    let bands = h.div_ceil(at_most.clamp(1, h.max(1)));
    h.div_ceil(bands.max(1)).max(1)
}

/// `dsts = epilogue(conv3x3(cat(srcs), plan))`: the forward pass, and the input gradient (with an
/// [`Plan::input_grad`] plan and `dy` as the source). Writes every position of the outputs,
/// borders (zero) included.
///
/// # Panics
/// If the channel counts disagree with the plan or a buffer has the wrong size.
pub(crate) fn conv3x3(
    srcs: &[Grid<'_>],
    plan: &Plan,
    d: Dims,
    epi: Epilogue<'_>,
    dsts: &[GridMut],
) {
    conv3x3_banded(srcs, plan, d, epi, dsts, None)
}

/// What [`conv3x3_banded`] calls on each band once its outputs are written:
/// `after(image, first_row, rows)`.
pub(crate) type AfterBand<'a> = &'a (dyn Fn(usize, usize, usize) + Sync);

/// [`conv3x3`] that calls `after(image, first_row, rows)` on the task that wrote a band of output
/// rows, right after it wrote them (all channels), while they are still in its cache: an
/// element-wise consumer of the output (the ConvLSTM state update) then reads them from cache
/// instead of memory.
pub(crate) fn conv3x3_banded(
    srcs: &[Grid<'_>],
    plan: &Plan,
    d: Dims,
    epi: Epilogue<'_>,
    dsts: &[GridMut],
    after: Option<AfterBand<'_>>,
) {
    assert_eq!(srcs.len(), plan.c_ins.len(), "conv3x3: number of inputs");
    for (s, &c) in srcs.iter().zip(&plan.c_ins) {
        assert_eq!(s.channels, c, "conv3x3: input channels vs weights");
        assert_eq!(s.data.len(), d.grid() * c, "conv3x3: input size");
    }
    let c_out: usize = dsts.iter().map(|s| s.channels).sum();
    assert_eq!(
        plan.packed.cols, c_out,
        "conv3x3: output channels vs weights"
    );
    let widest = plan.segments.iter().map(|s| s.cn).max().unwrap_or(1);
    let rows = band_rows(d, widest);
    let bands = d.h.div_ceil(rows);
    let wp = d.wp() as isize;
    let nseg = plan.segments.len();
    (0..d.n * bands).into_par_iter().for_each(|task| {
        let (i, band) = (task / bands, task % bands);
        let y0 = band * rows;
        let r_here = rows.min(d.h - y0);
        for dst in dsts {
            // SAFETY: the task owns rows y0..y0 + r_here of image i.
            unsafe { dst.zero_border(d, i, y0, r_here) };
        }
        let mut acc = [[0f32; NR]; MR];
        for b in 0..plan.packed.nblocks() {
            let c0 = b * NR;
            let nb = NR.min(c_out - c0);
            for (si, seg) in plan.segments.iter().enumerate() {
                let src = srcs[seg.src];
                let c = src.channels as isize;
                let (offsets3, offsets9);
                let taps = if seg.cn == src.channels {
                    offsets3 = [(-wp - 1) * c, -c, (wp - 1) * c];
                    Taps {
                        offsets: &offsets3,
                        kr: 3 * seg.cn,
                        sk: 1,
                    }
                } else {
                    offsets9 = core::array::from_fn::<isize, 9, _>(|t| {
                        ((t as isize / 3 - 1) * wp + (t as isize % 3 - 1)) * c
                    });
                    Taps {
                        offsets: &offsets9,
                        kr: seg.cn,
                        sk: 1,
                    }
                };
                let wblk = plan.packed.block(b, seg.row0);
                let (first, last) = (si == 0, si + 1 == nseg);
                for y in y0..y0 + r_here {
                    for (x, m) in blocks(d.w) {
                        let pos = d.at(i, y, x);
                        // SAFETY: taps of grid positions pos..pos + m stay inside image i's
                        // grid (one-cell border); the task owns these output positions.
                        unsafe {
                            if !first {
                                for (p, v) in acc.iter_mut().enumerate().take(m) {
                                    load(dsts, pos + p, c0, nb, v);
                                }
                            }
                            let a = src.data.as_ptr().add(pos * src.channels + seg.c0);
                            tap_gemm_m(m, a, c, taps, wblk, &mut acc, !first);
                            for (p, v) in acc.iter_mut().enumerate().take(m) {
                                if last {
                                    epi.apply(c0, nb, v);
                                }
                                store(dsts, pos + p, c0, nb, v);
                            }
                        }
                    }
                }
            }
        }
        if let Some(after) = after {
            after(i, y0, r_here);
        }
    });
}

/// Forward 3x3 convolution of the concatenation of `srcs` with PyTorch-layout weights
/// `[c_out, c_in, 3, 3]`; returns the output grid (`c_out` channels).
pub(crate) fn forward(
    srcs: &[Grid<'_>],
    w: &[f32],
    c_out: usize,
    d: Dims,
    epi: Epilogue<'_>,
) -> Buf {
    forward_scaled(srcs, w, None, c_out, d, epi)
}

/// [`forward`] with the weights of output channel `o` multiplied by `scale[o]` while they are
/// packed (inference with batch normalization folded in, at no extra pass over the weights).
pub(crate) fn forward_scaled(
    srcs: &[Grid<'_>],
    w: &[f32],
    scale: Option<&[f32]>,
    c_out: usize,
    d: Dims,
    epi: Epilogue<'_>,
) -> Buf {
    let c_ins: Vec<usize> = srcs.iter().map(|s| s.channels).collect();
    let plan = Plan::forward_scaled(w, &c_ins, c_out, scale);
    let mut out = pool::take(d.grid() * c_out);
    conv3x3(srcs, &plan, d, epi, &[GridMut::new(&mut out, c_out, d)]);
    out
}

/// Input gradient of [`forward`]: `dy` is the output-gradient grid (`c_out` channels); returns
/// one grid per entry of `c_ins` (the channel counts of the concatenated inputs).
pub(crate) fn input_grad(
    dy: &[f32],
    w: &[f32],
    c_out: usize,
    c_ins: &[usize],
    d: Dims,
) -> Vec<Buf> {
    let c_in: usize = c_ins.iter().sum();
    let plan = Plan::input_grad(w, c_in, c_out);
    let mut outs: Vec<Buf> = c_ins.iter().map(|&c| pool::take(d.grid() * c)).collect();
    let dsts: Vec<GridMut> = outs
        .iter_mut()
        .zip(c_ins)
        .map(|(o, &c)| GridMut::new(o, c, d))
        .collect();
    conv3x3(&[Grid::new(dy, c_out, d)], &plan, d, Epilogue::None, &dsts);
    outs
}

/// Grid positions per reduction chunk of the weight gradient.
const GRAD_CHUNK: usize = 256;

/// Adds `b` into `a` element-wise.
fn add_into(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Gradients up to this size (bytes) are summed per task over a share of the positions;
/// larger ones are split by rows between tasks.
const SMALL_GRAD_BYTES: usize = 256 * 1024;

/// The operands of one weight gradient (see [`weight_grad`]).
struct GradJob<'a> {
    srcs: &'a [Grid<'a>],
    dy: &'a [f32],
    c_out: usize,
    wp: usize,
    /// Copy the input values of a chunk contiguously (pixel stride of 1 KiB or more).
    pack_a: bool,
    /// Copy the dy values of a chunk contiguously.
    pack_b: bool,
}

impl GradJob<'_> {
    /// Adds the contributions of positions `q_start..q_end` to the gradient rows of `tiles`
    /// (`(input, kernel row, first value, rows, first gradient row of the input)`) in `out`
    /// (`[9 c_in, c_out]`).
    fn run(
        &self,
        tiles: &[(usize, usize, usize, usize, usize)],
        q_start: usize,
        q_end: usize,
        out: SendPtr,
    ) {
        let (c_out, wp) = (self.c_out, self.wp);
        let nblocks = c_out.div_ceil(NR);
        let mut bpack =
            vec![Block16::default(); if self.pack_b { GRAD_CHUNK * nblocks } else { 0 }];
        let mut apack = vec![0f32; if self.pack_a { GRAD_CHUNK * MR } else { 0 }];
        let mut q0 = q_start;
        while q0 < q_end {
            let len = GRAD_CHUNK.min(q_end - q0);
            if self.pack_b {
                for b in 0..nblocks {
                    let c0 = b * NR;
                    let nb = NR.min(c_out - c0);
                    let panel = &mut bpack[b * GRAD_CHUNK..(b + 1) * GRAD_CHUNK];
                    for (q, blk) in panel.iter_mut().enumerate().take(len) {
                        let src = (q0 + q) * c_out + c0;
                        if nb == NR {
                            blk.0 = self.dy[src..src + NR].try_into().expect("16 values");
                        } else {
                            blk.0[..nb].copy_from_slice(&self.dy[src..src + nb]);
                        }
                    }
                }
            }
            for &(s, kh, k, m, row_base) in tiles {
                let src = self.srcs[s];
                let c = src.channels;
                // Value k of kernel row kh's run, for position q, is at grid index
                // (q + (kh - 1) * wp - 1) * c + k.
                let a_off = ((q0 + kh * wp) - wp - 1) * c + k;
                let (a_ptr, sa) = if self.pack_a && c >= 256 {
                    for (q, dst) in apack.chunks_exact_mut(m).enumerate().take(len) {
                        let from = a_off + q * c;
                        dst.copy_from_slice(&src.data[from..from + m]);
                    }
                    (apack.as_ptr(), m as isize)
                } else {
                    (src.data[a_off..].as_ptr(), c as isize)
                };
                for b in 0..nblocks {
                    let c0 = b * NR;
                    let (b_ptr, sb) = if self.pack_b {
                        (bpack[b * GRAD_CHUNK..].as_ptr() as *const f32, NR as isize)
                    } else {
                        (self.dy[q0 * c_out + c0..].as_ptr(), c_out as isize)
                    };
                    // SAFETY: a reads positions q0 + (kh-1)*wp - 1 .. + len + 2 of input s,
                    // inside the grid; b reads dy rows q0..q0 + len; the caller owns gradient
                    // rows row_base + kh*3c + k .. + m of `out`.
                    unsafe {
                        reduce_pixels_m(
                            m,
                            a_ptr,
                            sa,
                            b_ptr,
                            sb,
                            NR.min(c_out - c0),
                            len,
                            out.add((row_base + kh * 3 * c + k) * c_out + c0),
                            c_out,
                        );
                    }
                }
            }
            q0 += len;
        }
    }
}

/// Weight gradient of [`forward`]: `dy` is the output-gradient grid, `srcs` the forward inputs;
/// returns PyTorch layout `[c_out, c_in, 3, 3]`.
///
/// Register tiles cover 6 consecutive values of one kernel row's run `(kw, channel)` of one input
/// times 16 output channels; tasks own disjoint sets of tiles and walk all grid positions in
/// chunks of [`GRAD_CHUNK`], visiting all their tiles per chunk. Operands whose pixel stride is
/// 1 KiB or more are first copied to contiguous panels (strided rows would touch a new page per
/// pixel and thrash the TLB).
pub(crate) fn weight_grad(srcs: &[Grid<'_>], dy: &[f32], c_out: usize, d: Dims) -> Buf {
    let c_in: usize = srcs.iter().map(|s| s.channels).sum();
    assert_eq!(dy.len(), d.grid() * c_out, "conv3x3 weight grad: dy size");
    for s in srcs {
        assert_eq!(
            s.data.len(),
            d.grid() * s.channels,
            "conv3x3 weight grad: input size"
        );
    }
    let wp = d.wp();
    // Positions q whose taps q - wp - 1 .. q + wp + 1 exist; the others are border cells.
    let (q_start, q_end) = (wp + 1, d.grid() - wp - 1);
    // Tiles: (input, kernel row, first value of the run of 3c, rows, gradient row of that value).
    let mut tiles = Vec::new();
    let mut base = 0;
    for (s, src) in srcs.iter().enumerate() {
        let c = src.channels;
        for kh in 0..3 {
            for (k, m) in blocks(3 * c) {
                tiles.push((s, kh, k, m, base));
            }
        }
        base += 9 * c;
    }
    // Packed rows: input s, kh, k (= kw * c + channel) at base_s + kh * 3c + k.
    let depth = 9 * c_in;
    let job = GradJob {
        srcs,
        dy,
        c_out,
        wp,
        pack_a: srcs.iter().any(|s| s.channels >= 256),
        pack_b: true,
    };
    let packed = if depth * c_out * 4 <= SMALL_GRAD_BYTES {
        // Small gradient: tasks split the positions and keep private sums, so that each input
        // and dy value is read once.
        let tasks = 4 * threads();
        let per = (q_end - q_start).div_ceil(tasks).div_ceil(GRAD_CHUNK) * GRAD_CHUNK;
        let starts: Vec<usize> = (q_start..q_end).step_by(per.max(GRAD_CHUNK)).collect();
        starts
            .into_par_iter()
            .map(|q0| {
                let mut part = pool::take_zeroed(depth * c_out);
                let out = SendPtr(part.as_mut_ptr());
                job.run(&tiles, q0, (q0 + per).min(q_end), out);
                part
            })
            .reduce_with(|mut a, b| {
                add_into(&mut a, &b);
                a
            })
            .unwrap_or_else(|| pool::take_zeroed(depth * c_out))
    } else {
        // Large gradient: tasks own disjoint rows of it and walk every position.
        let mut packed = pool::take_zeroed(depth * c_out);
        let out = SendPtr(packed.as_mut_ptr());
        let per_task = tiles.len().div_ceil(2 * threads()).max(1);
        tiles
            .par_chunks(per_task)
            .for_each(|group| job.run(group, q_start, q_end, out));
        packed
    };
    // [input][tap][c][o] -> [o][c_global][tap], one global input channel per task: 16 output
    // channels of its 9 taps are read as 9 contiguous runs, then written as 16 runs of 9.
    let mut w = pool::take(depth * c_out);
    let (w_ptr, packed_ref) = (SendPtr(w.as_mut_ptr()), &packed);
    let mut chans = Vec::with_capacity(c_in); // (row of tap 0 in packed, channels of its input)
    let mut row_base = 0;
    for s in srcs {
        for ch in 0..s.channels {
            chans.push((row_base + ch, s.channels));
        }
        row_base += 9 * s.channels;
    }
    chans.par_iter().enumerate().for_each(|(cg, &(row0, c))| {
        let mut o0 = 0;
        while o0 < c_out {
            let nb = NR.min(c_out - o0);
            let mut v = [[0f32; 9]; NR];
            for tap in 0..9 {
                let src = &packed_ref[(row0 + tap * c) * c_out + o0..][..nb];
                for (j, &x) in src.iter().enumerate() {
                    v[j][tap] = x;
                }
            }
            for (j, taps) in v.iter().enumerate().take(nb) {
                // SAFETY: (output channel, input channel cg) belongs to this task only.
                unsafe {
                    let dst = w_ptr.add(((o0 + j) * c_in + cg) * 9);
                    core::ptr::copy_nonoverlapping(taps.as_ptr(), dst, 9);
                }
            }
            o0 += nb;
        }
    });
    drop(packed);
    w
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::grid::{from_grid, to_grid};
    use super::*;

    pub(crate) fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// Direct 7-deep loop from the definition of a zero-padded 3x3 convolution (plain NHWC, OIHW).
    pub(crate) fn naive(x: &[f32], w: &[f32], c_in: usize, c_out: usize, d: Dims) -> Vec<f32> {
        let mut y = vec![0f32; d.pixels() * c_out];
        for n in 0..d.n {
            for h in 0..d.h {
                for x0 in 0..d.w {
                    for o in 0..c_out {
                        let mut s = 0f64;
                        for kh in 0..3 {
                            for kw in 0..3 {
                                let (hh, ww) = (h as isize + kh - 1, x0 as isize + kw - 1);
                                if hh < 0 || ww < 0 || hh >= d.h as isize || ww >= d.w as isize {
                                    continue;
                                }
                                let pix = (n * d.h + hh as usize) * d.w + ww as usize;
                                for c in 0..c_in {
                                    let wv = w[(o * c_in + c) * 9 + (kh * 3 + kw) as usize];
                                    s += (x[pix * c_in + c] * wv) as f64;
                                }
                            }
                        }
                        y[((n * d.h + h) * d.w + x0) * c_out + o] = s as f32;
                    }
                }
            }
        }
        y
    }

    pub(crate) fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: length");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}[{i}]: {x} vs {y} (scale {scale})"
            );
        }
    }

    fn concat(xa: &[f32], ca: usize, xb: &[f32], cb: usize, pixels: usize) -> Vec<f32> {
        let mut x = Vec::new();
        for p in 0..pixels {
            x.extend_from_slice(&xa[p * ca..(p + 1) * ca]);
            x.extend_from_slice(&xb[p * cb..(p + 1) * cb]);
        }
        x
    }

    /// Forward against the naive loop, with two inputs (one split in segments) and an epilogue.
    #[test]
    fn forward_matches_naive_with_concat_segments_and_epilogue() {
        let d = Dims { n: 2, h: 7, w: 9 };
        let (ca, cb, co) = (5, SEGMENT + 3, 21);
        let xa = rand_vec(d.pixels() * ca, 1);
        let xb = rand_vec(d.pixels() * cb, 2);
        let w = rand_vec(co * (ca + cb) * 9, 3);
        let bias = rand_vec(co, 4);
        let expect: Vec<f32> = naive(&concat(&xa, ca, &xb, cb, d.pixels()), &w, ca + cb, co, d)
            .iter()
            .enumerate()
            .map(|(i, v)| (v + bias[i % co]).max(0.0))
            .collect();
        let (ga, gb) = (to_grid(&xa, ca, d), to_grid(&xb, cb, d));
        let srcs = [Grid::new(&ga, ca, d), Grid::new(&gb, cb, d)];
        let got = forward(&srcs, &w, co, d, Epilogue::BiasRelu(&bias));
        // from_grid also checks that the border is zero.
        assert_close(&from_grid(&got, co, d), &expect, 1e-5, "forward");
    }

    /// The input gradient is checked against the adjoint identity <conv(x), dy> = <x, dx>.
    #[test]
    fn input_grad_is_the_adjoint() {
        let d = Dims { n: 2, h: 6, w: 13 };
        let (ca, cb, co) = (16, 5, 32);
        let w = rand_vec(co * (ca + cb) * 9, 5);
        let dy = rand_vec(d.pixels() * co, 6);
        let grads = input_grad(&to_grid(&dy, co, d), &w, co, &[ca, cb], d);
        let (ga, gb) = (from_grid(&grads[0], ca, d), from_grid(&grads[1], cb, d));
        for (which, c) in [(0usize, 3usize), (1, 4), (0, 15)] {
            for pix in [0usize, 7, 13 * 6 - 1, d.pixels() - 1] {
                let mut xa = vec![0f32; d.pixels() * ca];
                let mut xb = vec![0f32; d.pixels() * cb];
                if which == 0 {
                    xa[pix * ca + c] = 1.0;
                } else {
                    xb[pix * cb + c] = 1.0;
                }
                let y = naive(&concat(&xa, ca, &xb, cb, d.pixels()), &w, ca + cb, co, d);
                let expect: f32 = y.iter().zip(&dy).map(|(a, b)| a * b).sum();
                let got = if which == 0 {
                    ga[pix * ca + c]
                } else {
                    gb[pix * cb + c]
                };
                assert!(
                    (got - expect).abs() < 1e-4,
                    "{which} {c} pix {pix}: {got} vs {expect}"
                );
            }
        }
    }

    /// d<conv(x, w), dy>/dw[i] = <conv(x, e_i), dy>, including inputs wide enough to be packed.
    #[test]
    fn weight_grad_is_the_adjoint() {
        for (ca, cb, co, d) in [
            (4, 7, 20, Dims { n: 2, h: 5, w: 11 }),
            (260, 3, 260, Dims { n: 1, h: 3, w: 4 }),
        ] {
            let xa = rand_vec(d.pixels() * ca, 7);
            let xb = rand_vec(d.pixels() * cb, 8);
            let dy = rand_vec(d.pixels() * co, 9);
            let (ga, gb) = (to_grid(&xa, ca, d), to_grid(&xb, cb, d));
            let srcs = [Grid::new(&ga, ca, d), Grid::new(&gb, cb, d)];
            let dw = weight_grad(&srcs, &to_grid(&dy, co, d), co, d);
            let x = concat(&xa, ca, &xb, cb, d.pixels());
            let n = dw.len();
            for i in [0usize, 8, 9 * 11, 9 * (ca + 1) + 5, n / 2 + 1, n - 1] {
                let mut e = vec![0f32; n];
                e[i] = 1.0;
                let y = naive(&x, &e, ca + cb, co, d);
                let expect: f32 = y.iter().zip(&dy).map(|(a, b)| a * b).sum();
                assert!(
                    (dw[i] - expect).abs() < 1e-4,
                    "dw[{i}]: {} vs {expect}",
                    dw[i]
                );
            }
        }
    }
}
