//! The fast operations against Burn's stock operations (the reference), forward and backward,
//! on small random shapes, on Flex with and without autodiff.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;
use burn::tensor::module::{batch_norm_train, conv_transpose2d, conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, MaxPoolOptions};

use super::*;

/// A grid tensor `[n, h + 2, w + 2, c]` back to `[n, c, h, w]` with differentiable Burn ops.
fn from_grid(g: Tensor<4>) -> Tensor<4> {
    let [_, hp, wp, _] = g.dims();
    g.narrow(1, 1, hp - 2)
        .narrow(2, 1, wp - 2)
        .permute([0, 3, 1, 2])
}

fn rand<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// A tensor of roughly standard-normal values from a fixed seed, independent of the device RNG
/// (which tests running in parallel share).
fn seeded<const D: usize>(shape: [usize; D], seed: u64, device: &Device) -> Tensor<D> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| {
            // Sum of 4 uniforms, centred and scaled to unit variance (Irwin-Hall).
            let mut acc = 0.0f32;
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                acc += (s >> 40) as f32 / (1u64 << 24) as f32;
            }
            (acc - 2.0) * 3f32.sqrt()
        })
        .collect();
    Tensor::<1>::from_floats(values.as_slice(), device).reshape(shape)
}

/// Euclidean norm of the difference relative to that of the reference.
fn rel_l2<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let norm = |t: Tensor<D>| t.powi_scalar(2).sum().into_scalar::<f32>().sqrt();
    norm(a - b.clone()) / norm(b).max(1e-12)
}

/// Largest absolute difference relative to the largest reference value.
fn rel_err<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    let scale: f32 = b.clone().abs().max().into_scalar::<f32>().max(1e-6);
    a.sub(b).abs().max().into_scalar::<f32>() / scale
}

fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let e = rel_err(a, b);
    assert!(e < 1e-4, "{what}: relative error {e}");
}

/// Forward values and the gradients of `sum(out * r)` of a fast op and its reference, for the
/// same leaf tensors.
fn check_op<const D: usize>(
    name: &str,
    leaves: Vec<Tensor<4>>,
    fast: impl Fn(&[Tensor<4>]) -> Tensor<D>,
    reference: impl Fn(&[Tensor<4>]) -> Tensor<D>,
) {
    // Without autodiff.
    assert_close(
        fast(&leaves),
        reference(&leaves),
        &format!("{name} forward"),
    );
    // With autodiff.
    let ad = leaves[0].device().autodiff();
    let track = |ls: &[Tensor<4>]| -> Vec<Tensor<4>> {
        ls.iter()
            .map(|t| Tensor::from_data(t.to_data(), &ad).require_grad())
            .collect()
    };
    let (lf, lr) = (track(&leaves), track(&leaves));
    let (yf, yr) = (fast(&lf), reference(&lr));
    let r: Tensor<D> = Tensor::random(yr.dims(), Distribution::Normal(0.0, 1.0), &ad);
    assert_close(
        yf.clone().inner(),
        yr.clone().inner(),
        &format!("{name} forward (autodiff)"),
    );
    let gf = (yf * r.clone()).sum().backward();
    let gr = (yr * r).sum().backward();
    for (k, (a, b)) in lf.iter().zip(&lr).enumerate() {
        let (ga, gb) = (a.grad(&gf), b.grad(&gr));
        match (ga, gb) {
            (Some(ga), Some(gb)) => assert_close(ga, gb, &format!("{name} gradient of input {k}")),
            (ga, gb) => panic!(
                "{name} input {k}: gradient {} vs {}",
                ga.is_some(),
                gb.is_some()
            ),
        }
    }
}

fn flex() -> Device {
    Device::flex()
}

#[test]
fn conv3x3_with_bias_and_relu_matches_burn() {
    let d = flex();
    let (n, ci, co, h, w) = (2, 5, 20, 7, 9);
    let leaves = vec![
        rand([n, ci, h, w], &d),
        rand([co, ci, 3, 3], &d),
        rand([1, 1, 1, co], &d),
    ];
    let bias = |t: &Tensor<4>| t.clone().reshape([co]);
    check_op(
        "conv3x3",
        leaves,
        |l| {
            from_grid(conv3x3(
                to_grid(l[0].clone()),
                l[1].clone(),
                Some(bias(&l[2])),
                true,
            ))
        },
        |l| {
            let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
            relu(conv2d(l[0].clone(), l[1].clone(), Some(bias(&l[2])), opts))
        },
    );
}

#[test]
fn conv3x3_of_a_concatenation_matches_burn() {
    let d = flex();
    let (n, ca, cb, co, h, w) = (2, 16, 3, 16, 6, 5);
    let leaves = vec![
        rand([n, ca, h, w], &d),
        rand([n, cb, h, w], &d),
        rand([co, ca + cb, 3, 3], &d),
    ];
    check_op(
        "conv3x3_cat",
        leaves,
        |l| {
            from_grid(conv3x3_cat(
                to_grid(l[0].clone()),
                to_grid(l[1].clone()),
                l[2].clone(),
                None,
                false,
            ))
        },
        |l| {
            let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
            conv2d(
                Tensor::cat(vec![l[0].clone(), l[1].clone()], 1),
                l[2].clone(),
                None,
                opts,
            )
        },
    );
}

#[test]
fn batch_norm_relu_matches_burn() {
    let d = flex();
    let (n, c, h, w) = (3, 6, 4, 5);
    let gamma = |t: &Tensor<4>| t.clone().reshape([c]);
    let leaves = vec![
        rand([n, c, h, w], &d).mul_scalar(2.0).add_scalar(0.5),
        rand([1, 1, 1, c], &d),
        rand([1, 1, 1, c], &d),
    ];
    check_op(
        "bn_relu_train",
        leaves.clone(),
        |l| from_grid(bn_relu_train(to_grid(l[0].clone()), gamma(&l[1]), gamma(&l[2]), 1e-5).0),
        |l| relu(batch_norm_train(l[0].clone(), gamma(&l[1]), gamma(&l[2]), 1e-5).output),
    );
    // Statistics: batch mean and biased variance.
    let (_, mean, var) = bn_relu_train(
        to_grid(leaves[0].clone()),
        gamma(&leaves[1]),
        gamma(&leaves[2]),
        1e-5,
    );
    let r = batch_norm_train(
        leaves[0].clone(),
        gamma(&leaves[1]),
        gamma(&leaves[2]),
        1e-5,
    );
    assert_close(mean, r.mean, "batch mean");
    assert_close(var, r.variance, "batch variance");
}

#[test]
fn max_pool_matches_burn() {
    let d = flex();
    check_op(
        "max_pool2",
        vec![rand([2, 7, 6, 8], &d)],
        |l| from_grid(max_pool2(to_grid(l[0].clone()))),
        |l| max_pool2d(l[0].clone(), MaxPoolOptions::new([2, 2])),
    );
}

#[test]
fn conv_transpose_matches_burn() {
    let d = flex();
    let (n, ci, co, h, w) = (2, 12, 10, 3, 5);
    let leaves = vec![
        rand([n, ci, h, w], &d),
        rand([ci, co, 2, 2], &d),
        rand([1, 1, 1, co], &d),
    ];
    let bias = |t: &Tensor<4>| t.clone().reshape([co]);
    check_op(
        "conv_t2",
        leaves,
        |l| {
            from_grid(conv_t2(
                to_grid(l[0].clone()),
                l[1].clone(),
                Some(bias(&l[2])),
            ))
        },
        |l| {
            let opts = ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1);
            conv_transpose2d(l[0].clone(), l[1].clone(), Some(bias(&l[2])), opts)
        },
    );
}

#[test]
fn head_matches_burn() {
    let d = flex();
    let (n, c, k, h, w) = (2, 9, 5, 4, 6);
    let leaves = vec![
        rand([n, c, h, w], &d),
        rand([k, c, 1, 1], &d),
        rand([1, 1, 1, k], &d),
    ];
    let bias = |t: &Tensor<4>| t.clone().reshape([k]);
    check_op(
        "head",
        leaves,
        |l| head(to_grid(l[0].clone()), l[1].clone(), Some(bias(&l[2]))),
        |l| {
            let opts = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            conv2d(l[0].clone(), l[1].clone(), Some(bias(&l[2])), opts)
        },
    );
}

#[test]
fn only_f32_flex_tensors_take_the_fast_path() {
    let x = Tensor::<4>::zeros([1, 1, 2, 2], &Device::flex());
    with_fast_path(true, || {
        assert!(is_fast(&x));
        assert!(!is_fast(&x.clone().cast(DType::F64)));
        assert!(is_fast(&x.clone().to_device(&Device::flex().autodiff())));
    });
    with_fast_path(false, || assert!(!is_fast(&x)));
}

#[test]
fn batch_statistics_come_out_on_autodiff_devices_too() {
    let ad = Device::flex().autodiff();
    let y = rand([2, 3, 4, 4], &ad).add_scalar(1.0).require_grad();
    let g = Tensor::<1>::ones([3], &ad);
    let (_, mean, var) = bn_relu_train(to_grid(y.clone()), g.clone(), g.zeros_like(), 1e-5);
    let r = batch_norm_train(y.inner(), g.clone().inner(), g.zeros_like().inner(), 1e-5);
    assert_close(mean.inner(), r.mean, "batch mean");
    assert_close(var.inner(), r.variance, "batch variance");
}

/// One decoder-like block (`conv3x3(cat[a, b])` -> batch norm -> ReLU, twice) at a realistic size:
/// the fast path's gradients are compared with the stock path run in f64; the stock path in f32
/// serves as the yardstick of f32 rounding (long reductions through batch norm lose digits).
#[test]
fn block_gradients_are_as_accurate_as_the_reference_path() {
    let d = flex();
    let (n, c, h, w) = (4, 32, 32, 32);
    // Fixed inputs: with random ones, about one draw in 25 puts a pre-activation within f32
    // rounding of zero, where the fast and stock paths (which round differently) take different
    // sides of the ReLU kink and the gradients legitimately differ by up to a few percent.
    let leaves = [
        seeded([n, c, h, w], 1, &d),
        seeded([n, c, h, w], 2, &d),
        seeded([c, 2 * c, 3, 3], 3, &d).mul_scalar(0.06),
        seeded([c, c, 3, 3], 4, &d).mul_scalar(0.08),
    ];
    let r = seeded([n, c, h, w], 5, &d);
    let ones = |l: &[Tensor<4>], dev: &Device| Tensor::<1>::ones([c], dev).cast(l[0].dtype());
    let zeros = |l: &[Tensor<4>], dev: &Device| Tensor::<1>::zeros([c], dev).cast(l[0].dtype());
    let reference = |l: &[Tensor<4>], dev: &Device| {
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let y = conv2d(
            Tensor::cat(vec![l[0].clone(), l[1].clone()], 1),
            l[2].clone(),
            None,
            opts.clone(),
        );
        let z = relu(batch_norm_train(y, ones(l, dev), zeros(l, dev), 1e-5).output);
        let y = conv2d(z, l[3].clone(), None, opts);
        relu(batch_norm_train(y, ones(l, dev), zeros(l, dev), 1e-5).output)
    };
    let fast = |l: &[Tensor<4>], dev: &Device| {
        let y = conv3x3_cat(
            to_grid(l[0].clone()),
            to_grid(l[1].clone()),
            l[2].clone(),
            None,
            false,
        );
        let z = bn_relu_train(y, ones(l, dev), zeros(l, dev), 1e-5).0;
        let y = conv3x3(z, l[3].clone(), None, false);
        from_grid(bn_relu_train(y, ones(l, dev), zeros(l, dev), 1e-5).0)
    };
    let grads = |f: &dyn Fn(&[Tensor<4>], &Device) -> Tensor<4>, dtype: DType| {
        let ad = d.clone().autodiff();
        let l: Vec<Tensor<4>> = leaves
            .iter()
            .map(|t| {
                Tensor::<4>::from_data(t.to_data(), &ad)
                    .cast(dtype)
                    .require_grad()
            })
            .collect();
        let rr = Tensor::<4>::from_data(r.to_data(), &ad).cast(dtype);
        let g = (f(&l, &ad) * rr).sum().backward();
        l.iter()
            .map(|t| t.grad(&g).expect("gradient").cast(DType::F32))
            .collect::<Vec<_>>()
    };
    let exact = grads(&reference, DType::F64);
    let reference32 = grads(&reference, DType::F32);
    let fast32 = grads(&fast, DType::F32);
    for k in 0..leaves.len() {
        let e_ref = rel_err(reference32[k].clone(), exact[k].clone());
        let e_fast = rel_err(fast32[k].clone(), exact[k].clone());
        assert!(
            e_fast <= (2.0 * e_ref).max(1e-5),
            "gradient of input {k}: fast error {e_fast}, stock f32 error {e_ref} (against f64)"
        );
    }
}

/// The whole network (default configuration: 4 bands, 5 classes, base 32, depth 4, hidden 16)
/// at 64x64, fast path against the stock Burn path on the same weights and input: outputs, loss,
/// gradients of parameters across the network, and the running statistics after the training
/// forward; then evaluation mode (batch norm folded into the convolutions).
#[test]
fn default_network_matches_the_reference_path() {
    use crate::{SpatioTemporalNet, SpatioTemporalNetConfig};
    let ad = Device::flex().autodiff();
    ad.seed(3);
    let net: SpatioTemporalNet = SpatioTemporalNetConfig::new(4, 5).init(&ad);
    let x = rand([2, 3, 4, 64, 64], &ad);
    let run = |fast: bool| {
        with_fast_path(fast, || {
            // An independent copy: clones would share the running statistics.
            let net = SpatioTemporalNetConfig::new(4, 5)
                .init(&ad)
                .load_record(net.clone().into_record());
            let out = net.forward(x.clone());
            // Loss of the parity fixture's kind: both outputs, weighted.
            let loss = out.fused_logits.clone().powi_scalar(2).mean()
                + out.date_logits.clone().mul_scalar(0.5).sin().mean();
            let grads = loss.backward();
            let g = |p: &Tensor<4>| p.grad(&grads).expect("gradient");
            let fcn = &net.fcn;
            let grads4 = vec![
                g(&fcn.enc[0].conv1.weight.val()),
                g(&fcn.enc[3].conv2.weight.val()),
                g(&fcn.bottleneck.conv1.weight.val()),
                g(&fcn.up[0].weight.val()),
                g(&fcn.dec[3].conv1.weight.val()),
                g(&fcn.head.weight.val()),
                g(&net.lstm.gates.weight.val()),
            ];
            let gamma = fcn.dec[2].bn2.gamma.val().grad(&grads).expect("gradient");
            let stats = [
                fcn.enc[0].bn1.running_mean(),
                fcn.bottleneck.bn2.running_var(),
            ];
            let eval = net.valid().forward(x.clone().inner());
            (out, loss, grads4, gamma, stats, eval)
        })
    };
    let (fo, fl, fg, fgam, fs, fe) = run(true);
    let (ro, rl, rg, rgam, rs, re) = run(false);
    assert_close(
        fo.date_logits.inner(),
        ro.date_logits.inner(),
        "date logits",
    );
    assert_close(
        fo.fused_logits.inner(),
        ro.fused_logits.inner(),
        "fused logits",
    );
    assert_close(fl.inner(), rl.inner(), "loss");
    for (k, (a, b)) in fg.into_iter().zip(rg).enumerate() {
        // Loose, and in Euclidean norm: gradients that cross many batch norms amplify f32
        // rounding differences (the precision itself is checked against f64, block by block,
        // by block_gradients_are_as_accurate_as_the_reference_path), and pre-activations within
        // rounding of zero take different sides of the ReLU kink on the two paths. Measured over
        // seeds 1-12 of this draw: the head and ConvLSTM gradients agree to 2e-7, the U-Net's
        // to 1e-6..1.2e-2 in norm (single elements up to 17% apart in the bottleneck, whose batch
        // norm sees only 96 values per channel); a wrong kernel gives errors of order 1.
        let e = rel_l2(a.inner(), b.inner());
        assert!(e < 5e-2, "gradient {k}: relative error (L2) {e}");
    }
    let e = rel_l2(fgam.inner(), rgam.inner());
    assert!(e < 5e-2, "gamma gradient: relative error (L2) {e}");
    for (a, b) in fs.into_iter().zip(rs) {
        assert_close(a.inner(), b.inner(), "running statistics");
    }
    assert_close(fe.date_logits, re.date_logits, "eval date logits");
    assert_close(fe.fused_logits, re.fused_logits, "eval fused logits");
}
