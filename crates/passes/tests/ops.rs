//! Property tests: every high-level op, lowered alone through the whole
//! pipeline, equals its integer reference (`silc_ir::semantics`, run by the
//! simulator on the high graph) on random inputs, shapes, widths and every
//! precision p from 4 to 8. The conversions from residues, op by op, are in
//! `conversions.rs`.

mod common;

use common::{agree, agree_on, biased_operand, finish, input, shrink, signed, typed, Rng};
use proptest::prelude::*;
use silc_ir::{Graph, Loc, Op, Role, Type, ValueId};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// A static rescale of a matmul, signed or ReLU-saturated (`[0, 2^wo - 1]`).
    #[test]
    fn matmul_rescale(p in 4u32..=8, n in 1usize..4, k in 1usize..7, m in 1usize..4,
                      wa in 2u32..8, wb in 2u32..8, wo in 2u32..8, target in 0.0f64..6.0, relu in any::<bool>(),
                      seed in any::<u64>()) {
        let (wa, wb, wo) = (wa.min(p - 1), wb.min(p - 1), wo.min(p - 1));
        let mut g = Graph::new("mm", p);
        let a = input(&mut g, "a", signed(vec![n, k], wa));
        let b = input(&mut g, "b", signed(vec![k, m], wb));
        let z = g.push(Op::MatMul, vec![a, b], Loc::default());
        let nu = silc_passes::params::for_precision(p).nu();
        let factors = silc_passes::lower::feasible_divisor(&g, z, 2f64.powf(target), wo, relu, nu);
        prop_assert!(factors.is_some(), "no divisor near 2^{target} is feasible");
        let offset = if relu { 0 } else { 1 << (wo - 1) };
        finish(&mut g, Op::Rescale { factors: factors.unwrap(), bits: wo, shifts: vec![], relu }, vec![z], offset);
        agree(g, seed)?;
    }

    /// Block scaling: the inputs are shrunk by a random number of bits so that
    /// the product's magnitude, and with it the chosen divisor, varies.
    #[test]
    fn matmul_block_rescale(p in 4u32..=8, n in 1usize..4, k in 1usize..7, m in 1usize..4,
                            wa in 2u32..8, wb in 2u32..8, wo in 2u32..8, target in 1.0f64..8.0,
                            seed in any::<u64>()) {
        let (wa, wb, wo) = (wa.min(p - 1), wb.min(p - 1), wo.min(p - 1));
        let mut g = Graph::new("mm", p);
        let a = input(&mut g, "a", signed(vec![n, k], wa));
        let b = input(&mut g, "b", signed(vec![k, m], wb));
        let z = g.push(Op::MatMul, vec![a, b], Loc::default());
        let (factors, shifts) = block(&g, z, target, wo);
        prop_assume!(!shifts.is_empty());
        finish(&mut g, Op::Rescale { factors, bits: wo, shifts, relu: false }, vec![z], 1 << (wo - 1));
        agree_on(g, seed, &Default::default(), shrink)?;
    }

    /// A block-scaled gradient read by an SGD update of two digits, as every
    /// weight gradient at bits 4 is, or of one (`lo` 0): `nonlinear`
    /// composes the step into the candidates' keep tables
    /// (`nonlinear/pick`), adding them plainly or with `add_exclusive` where
    /// their hull is what fits, and the step equals its reference for
    /// p = 4..8.
    #[test]
    fn block_gradient_into_sgd(p in 4u32..=8, n in 1usize..4, k in 1usize..9, m in 1usize..4,
                               wa in 2u32..8, wb in 2u32..8, wg in 2u32..8, lo in 0u32..8,
                               target in 1.0f64..8.0, num in 1i64..5000, shift in 0u32..16,
                               seed in any::<u64>()) {
        let (wa, wb, wg) = (wa.min(p - 1), wb.min(p - 1), wg.min(p - 1));
        let lo = lo.min(wg);
        let mut g = Graph::new("grad_sgd", p);
        let a = input(&mut g, "a", signed(vec![n, k], wa));
        let b = input(&mut g, "b", signed(vec![k, m], wb));
        let w = input(&mut g, "w", signed(if lo > 0 { vec![2, n, m] } else { vec![n, m] }, wg));
        let z = g.push(Op::MatMul, vec![a, b], Loc::default());
        let (factors, shifts) = block(&g, z, target, wg);
        prop_assume!(!shifts.is_empty());
        let grad = typed(&mut g, Op::Rescale { factors, bits: wg, shifts, relu: false }, vec![z], 1 << (wg - 1));
        let bound = if lo > 0 {
            silc_passes::lower::two_digit_bound(p, wg, lo)
        } else {
            ((1i64 << p) - (1i64 << wg)) / 2
        };
        prop_assume!(bound >= 1);
        finish(&mut g, Op::SgdUpdate { num, shift, bound, lo_bits: lo }, vec![w, grad], 1 << (wg - 1));
        agree_on(g, seed, &Default::default(), shrink)?;
    }

    #[test]
    fn relu(p in 4u32..=8, r in 1usize..5, c in 1usize..5, w in 2u32..8, seed in any::<u64>()) {
        let w = w.min(p);
        let mut g = Graph::new("relu", p);
        let x = input(&mut g, "x", signed(vec![r, c], w));
        finish(&mut g, Op::Relu, vec![x], 0);
        agree(g, seed)?;
    }

    #[test]
    fn relu_backward(p in 4u32..=8, r in 1usize..5, c in 1usize..5, wd in 2u32..8, wz in 2u32..8, seed in any::<u64>()) {
        let (wd, wz) = (wd.min(p - 1), wz.min(p));
        let mut g = Graph::new("relu_bw", p);
        let d = input(&mut g, "d", signed(vec![r, c], wd));
        let z = input(&mut g, "z", signed(vec![r, c], wz));
        finish(&mut g, Op::ReluBackward, vec![d, z], 1 << (wd - 1));
        agree(g, seed)?;
    }

    /// With a margin from 0 to the room the logits' table leaves
    /// (`2^p - 2^wz` steps), on labels of any value (`y > 0` is labelled).
    #[test]
    fn ce_grad(p in 4u32..=8, batch in 1usize..4, classes in 2usize..7, wz in 2u32..8, wg in 2u32..8,
               scale in 0.01f64..1.0, margin in 0.0f64..=1.0, seed in any::<u64>()) {
        let (wz, wg) = (wz.min(p - 1), wg.min(p - 1));
        let grad_max = (1i64 << (wg - 1)) - 1;
        prop_assume!(grad_max >= 1 && classes < (1 << p) - 1);
        let c = silc_ir::semantics::ce_consts(p, classes, grad_max);
        prop_assume!(c.is_some());
        let mut g = Graph::new("ce", p);
        let z = input(&mut g, "z", signed(vec![batch, classes], wz));
        let mut yt = Type::enc(vec![batch, classes], 0, grad_max);
        yt.offset = 0;
        let y = g.add(Op::Input { name: "y".into(), role: Role::Label }, vec![], yt, Loc::default());
        let margin = (margin * ((1i64 << p) - (1i64 << wz)) as f64).round() as i64;
        let op = Op::CeGrad { z_scale: scale, exp_max: c.unwrap().exp_max, grad_max, margin };
        finish(&mut g, op, vec![z, y], 1 << (wg - 1));
        agree(g, seed)?;
    }

    /// Two classes by their logit difference, with a margin from 0 to the
    /// room the difference's table leaves (`d + 2M` within p bits), p = 3..8.
    #[test]
    fn logistic_grad(p in 3u32..=8, batch in 1usize..5, wz in 2u32..8, wg in 2u32..8,
                     scale in 0.05f64..3.0, margin in 0.0f64..=1.0, seed in any::<u64>()) {
        let (wz, wg) = (wz.min(p - 1), wg.min(p - 1));
        let grad_max = (1i64 << (wg - 1)) - 1;
        prop_assume!(grad_max >= 1);
        let mut g = Graph::new("logistic", p);
        let d = input(&mut g, "d", signed(vec![batch, 1], wz));
        let mut yt = Type::enc(vec![batch, 1], 0, grad_max);
        yt.offset = 0;
        let y = g.add(Op::Input { name: "y".into(), role: Role::Label }, vec![], yt, Loc::default());
        let margin = (margin * (((1i64 << p) - (1i64 << wz)) / 2) as f64).round() as i64;
        finish(&mut g, Op::LogisticGrad { z_scale: scale, grad_max, margin }, vec![d, y], 1 << (wg - 1));
        agree(g, seed)?;
    }

    #[test]
    fn sgd_update(p in 4u32..=8, r in 1usize..5, c in 1usize..5, ww in 2u32..8, wg in 2u32..8,
                  num in 1i64..5000, shift in 0u32..16, seed in any::<u64>()) {
        let (ww, wg) = (ww.min(p - 1), wg.min(p - 1));
        let bound = ((1i64 << p) - (1i64 << ww)) / 2;
        let mut g = Graph::new("sgd", p);
        let w = input(&mut g, "w", signed(vec![r, c], ww));
        let gr = input(&mut g, "g", signed(vec![r, c], wg));
        finish(&mut g, Op::SgdUpdate { num, shift, bound, lo_bits: 0 }, vec![w, gr], 1 << (ww - 1));
        agree(g, seed)?;
    }

    /// A two-digit weight (high digit of `wh` bits, low digit of `lo` bits)
    /// with the largest step `lower::two_digit_bound` allows, p = 3..8.
    #[test]
    fn sgd_update_two_digits(p in 3u32..=8, r in 1usize..5, c in 1usize..5, wh in 2u32..8, lo in 1u32..8,
                             wg in 2u32..8, num in 1i64..5000, shift in 0u32..16, seed in any::<u64>()) {
        let (wh, wg) = (wh.min(p - 1), wg.min(p - 1));
        let lo = lo.min(wh);
        let bound = silc_passes::lower::two_digit_bound(p, wh, lo);
        let mut g = Graph::new("sgd2", p);
        let w = input(&mut g, "w", signed(vec![2, r, c], wh));
        let gr = input(&mut g, "g", signed(vec![r, c], wg));
        finish(&mut g, Op::SgdUpdate { num, shift, bound, lo_bits: lo }, vec![w, gr], 1 << (wh - 1));
        agree(g, seed)?;
    }
}

/// The feasible divisor near `2^target` for the rescale of `z` to `wo` bits,
/// ordered for block scaling, and its shifts (empty if none is finer).
fn block(g: &Graph, z: ValueId, target: f64, wo: u32) -> (Vec<i64>, Vec<usize>) {
    let p = g.bits;
    let nu = silc_passes::params::for_precision(p).nu();
    silc_passes::lower::block_divisor(g, z, 2f64.powf(target), wo, nu).unwrap_or_default()
}

/// Every candidate of a block rescale is taken for some input: the finest
/// for small products, the full divisor for large ones, and the lowered
/// circuit agrees on each.
#[test]
fn block_rescale_takes_every_candidate() {
    let p = 6;
    let mut g = Graph::new("mm", p);
    let a = input(&mut g, "a", signed(vec![3, 6], 5));
    let b = input(&mut g, "b", signed(vec![6, 3], 5));
    let z = g.push(Op::MatMul, vec![a, b], Loc::default());
    let (factors, shifts) = block(&g, z, 5.0, 5);
    assert!(shifts.len() >= 2, "a divisor near 32 should allow a finer shift: {factors:?} {shifts:?}");
    let divisors = silc_ir::semantics::rescale_divisors(&factors, &shifts);
    finish(&mut g, Op::Rescale { factors, bits: 5, shifts, relu: false }, vec![z], 16);
    let lowered = silc_passes::lower_graph(g.clone(), &Default::default()).expect("lowers");
    assert!(lowered.violations.is_empty(), "{:?}", lowered.violations);
    let mut seen = vec![false; divisors.len()];
    let mut rng = Rng(7);
    for _ in 0..60 {
        let mut inputs = common::random_inputs(&g, &mut rng);
        shrink(&mut rng, &mut inputs);
        let (x, w) = (&inputs["a"], &inputs["b"]);
        let c: Vec<i64> = (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| (0..6).map(|k| x.data[i * 6 + k] * w.data[k * 3 + j]).sum())
            .collect();
        seen[silc_ir::semantics::block_rescale(&c, &divisors, (-16, 15)).1] = true;
        let want = silc_sim::execute(&g, &inputs).unwrap();
        let got = silc_sim::execute(lowered.stages.last().map(|s| &s.1).unwrap(), &inputs).unwrap();
        assert_eq!(got, want);
    }
    assert!(seen.iter().all(|&s| s), "candidates taken: {seen:?} of {divisors:?}");
}

/// A delta whose range does not start at zero (here the logical range
/// [-47, 47] of a 7-bit gradient stored at offset 64) once made the backward
/// mask's table claim an impossible output range.
#[test]
fn relu_backward_with_a_narrow_delta_range() {
    let mut g = Graph::new("relu_bw", 8);
    let d = input(&mut g, "d", Type::enc_offset(vec![2, 3], -47, 47, 64));
    let z = input(&mut g, "z", signed(vec![2, 3], 7));
    finish(&mut g, Op::ReluBackward, vec![d, z], 64);
    agree(g, 3).unwrap();
}

proptest! {
    // Long reductions (k up to about 60 000 at p = 5): fewer cases.
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// A product past the widest residue number system (`rns::chunks`): cut
    /// along `k` into chunks, each converted to digits on its own, the
    /// digits added with carries, then rounded and saturated as a whole;
    /// with a bias column, plain or transposed, on random inputs and on the
    /// operands that reach either end of the range. The divisor aims near
    /// what spreads the range over the output (`lower` aims there too, from
    /// the formats). p = 4..5: at p = 3 the moduli (3 and 16) leave no room
    /// for a divisor beside a range; from p = 6 the widest cover (about 10^9)
    /// needs reductions far longer than a model's.
    #[test]
    fn chunked_matmul_rescale(p in 4u32..=5, n in 1usize..3, cols in 1usize..3, more in 0usize..4,
                              bias in 0usize..3, c_pick in any::<u64>(), aim in -3.0f64..1.0,
                              relu in any::<bool>(), extreme in 0usize..3, seed in any::<u64>()) {
        let w = p - 1;
        let half = 1i64 << (w - 1);
        let cover = silc_passes::rns::widest_cover(p) as i64;
        let span = half * half + half * (half - 1); // one term's range
        let k = (cover / span + 1) as usize * (2 + more) / 2;
        let mut g = Graph::new("chunked", p);
        let loc = Loc::default();
        let c = (c_pick % (2 * half as u64)) as i64 - half;
        let a = biased_operand(&mut g, (n, k), w, bias, c);
        let b = input(&mut g, "b", signed(vec![k, cols], w));
        let z = g.push(Op::MatMul, vec![a, b], loc);
        prop_assert!(g.ty(z).hi - g.ty(z).lo >= cover, "the product must be past the widest cover");
        let nu = silc_passes::params::for_precision(p).nu();
        let wo = w;
        let target = ((g.ty(z).hi - g.ty(z).lo) as f64).log2() - wo as f64 + aim;
        let factors = silc_passes::lower::feasible_divisor(&g, z, 2f64.powf(target), wo, relu, nu);
        prop_assert!(factors.is_some(), "no divisor near 2^{target} is feasible for k = {k}");
        let offset = if relu { 0 } else { 1 << (wo - 1) };
        finish(&mut g, Op::Rescale { factors: factors.unwrap(), bits: wo, shifts: vec![], relu }, vec![z], offset);
        let lowered = silc_passes::lower_graph(g.clone(), &Default::default()).expect("lowers");
        let rns = &lowered.stages[1].1;
        let cut = rns.ids().any(|i| matches!(&rns.node(i).op, Op::FromResidues { chunks, .. } if chunks.len() >= 2));
        prop_assert!(cut, "the product is cut into chunks");
        // Every a at -half: a·b at its largest with every b at -half, at its
        // smallest with every b at half - 1.
        agree_on(g, seed, &Default::default(), move |_, inputs| {
            if extreme > 0 {
                inputs.get_mut("a").expect("a").data.iter_mut().for_each(|x| *x = -half);
                let b = if extreme == 1 { -half } else { half - 1 };
                inputs.get_mut("b").expect("b").data.iter_mut().for_each(|x| *x = b);
            }
        })?;
    }
}
