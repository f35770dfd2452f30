//! Property tests: every high-level op, lowered alone through the whole
//! pipeline, equals its integer reference (`silc_ir::semantics`, run by the
//! simulator on the high graph) on random inputs, shapes, widths and every
//! precision p from 4 to 8.

mod common;

use common::Rng;
use proptest::prelude::*;
use silc_ir::{infer::infer, Graph, Loc, Op, Role, Type, ValueId};

fn signed(shape: Vec<usize>, bits: u32) -> Type {
    let half = 1i64 << (bits - 1);
    Type::enc_offset(shape, -half, half - 1, half)
}

fn input(g: &mut Graph, name: &str, ty: Type) -> ValueId {
    g.add(Op::Input { name: name.into(), role: Role::Data }, vec![], ty, Loc::default())
}

/// Adds `op` with its inferred type stored at `offset`, and an output.
fn finish(g: &mut Graph, op: Op, args: Vec<ValueId>, offset: i64) {
    let mut ty = infer(g, &op, &args).expect("well-typed");
    ty.offset = offset;
    let v = g.add(op, args, ty, Loc { line: 1, col: 1 });
    g.push(Op::Output { name: "out".into() }, vec![v], Loc::default());
}

/// Lowers `g`, runs both on random inputs, compares.
fn agree(g: Graph, seed: u64) -> Result<(), TestCaseError> {
    let lowered = silc_passes::lower_graph(g.clone(), &Default::default())
        .map_err(|e| TestCaseError::fail(format!("does not lower: {e:?}")))?;
    prop_assert!(lowered.violations.is_empty(), "{:?}", lowered.violations);
    let mut rng = Rng(seed | 1);
    for _ in 0..3 {
        let inputs = common::random_inputs(&g, &mut rng);
        let want = silc_sim::execute(&g, &inputs).unwrap();
        for (stage, low) in &lowered.stages[1..] {
            let got = silc_sim::execute(low, &inputs).unwrap();
            prop_assert_eq!(&got, &want, "after {}", stage);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn matmul_rescale(p in 4u32..=8, n in 1usize..4, k in 1usize..7, m in 1usize..4,
                      wa in 2u32..8, wb in 2u32..8, wo in 2u32..8, target in 0.0f64..6.0, seed in any::<u64>()) {
        let (wa, wb, wo) = (wa.min(p - 1), wb.min(p - 1), wo.min(p - 1));
        let mut g = Graph::new("mm", p);
        let a = input(&mut g, "a", signed(vec![n, k], wa));
        let b = input(&mut g, "b", signed(vec![k, m], wb));
        let z = g.push(Op::MatMul, vec![a, b], Loc::default());
        let nu = silc_passes::params::for_precision(p).nu();
        let factors = silc_passes::lower::feasible_divisor(&g, z, 2f64.powf(target), wo, nu);
        prop_assert!(factors.is_some(), "no divisor near 2^{target} is feasible");
        finish(&mut g, Op::Rescale { factors: factors.unwrap(), bits: wo }, vec![z], 1 << (wo - 1));
        agree(g, seed)?;
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

    #[test]
    fn ce_grad(p in 4u32..=8, batch in 1usize..4, classes in 2usize..7, wz in 2u32..8, wg in 2u32..8,
               scale in 0.01f64..1.0, seed in any::<u64>()) {
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
        let op = Op::CeGrad { z_scale: scale, exp_max: c.unwrap().exp_max, grad_max };
        finish(&mut g, op, vec![z, y], 1 << (wg - 1));
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
        finish(&mut g, Op::SgdUpdate { num, shift, bound }, vec![w, gr], 1 << (ww - 1));
        agree(g, seed)?;
    }
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
