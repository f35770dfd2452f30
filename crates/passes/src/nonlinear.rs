//! `nonlinear`: lowers the elementwise and row-wise non-linear ops to ≤ p-bit
//! tables: ReLU, its backward mask, the cross-entropy gradient (of many
//! classes, or of two by their logit difference) and the SGD
//! update. Each lowering computes exactly the reference in
//! `silc_ir::semantics`; the doc comment of each function says how.

use silc_ir::{infer, semantics, Graph, Loc, Op, Rewriter, Table, Type, ValueId};

mod pick;

pub fn run(g: &Graph) -> Graph {
    let mut rw = Rewriter::new(g);
    for id in g.ids() {
        let node = g.node(id);
        let args: Vec<ValueId> = node.args.iter().map(|&a| rw.get(a)).collect();
        let (ty, loc) = (node.ty.clone(), node.loc);
        let new = match &node.op {
            Op::Relu => relu(&mut rw.new, args[0], &ty, loc),
            Op::ReluBackward => relu_backward(&mut rw.new, args[0], args[1], &ty, loc),
            Op::SgdUpdate { num, shift, bound, lo_bits } => {
                let picked = pick::exclusive_parts(g, node.args[1]);
                let inputs = picked.as_ref().map(|pk| pk.inputs().map(|x| rw.get(x)).collect()).unwrap_or_default();
                let step =
                    Step { grad: args[1], picked: picked.as_ref(), inputs, num: *num, shift: *shift, bound: *bound };
                match lo_bits {
                    0 => sgd(&mut rw.new, args[0], step, &ty, loc),
                    _ => sgd_two_digits(&mut rw.new, args[0], step, *lo_bits, &ty, loc),
                }
            }
            Op::CeGrad { z_scale, exp_max, grad_max, margin } => {
                ce_grad(&mut rw.new, args[0], args[1], *z_scale, *exp_max, (*grad_max, *margin), &ty, loc)
            }
            Op::LogisticGrad { z_scale, grad_max, margin } => {
                logistic_grad(&mut rw.new, args[0], args[1], *z_scale, (*grad_max, *margin), &ty, loc)
            }
            _ => {
                rw.copy(id);
                continue;
            }
        };
        rw.map_to(id, new);
    }
    rw.finish()
}

/// A table whose output is declared with the high op's (offset) type.
fn typed_lut(g: &mut Graph, table: Table, x: ValueId, ty: &Type, loc: Loc) -> ValueId {
    let y = g.lut(table, x, loc);
    let mut t = g.ty(y).clone();
    (t.lo, t.hi, t.offset) = (ty.lo, ty.hi, ty.offset);
    g.set_type(y, t);
    y
}

/// One table: stored `e` ↦ `max(e - off_in, 0) + off_out`.
fn relu(g: &mut Graph, x: ValueId, ty: &Type, loc: Loc) -> ValueId {
    let (off_in, off_out) = (g.ty(x).offset, ty.offset);
    typed_lut(g, Table::from_fn("relu", g.bits, |e| (e - off_in).max(0) + off_out), x, ty, loc)
}

/// `mask = T(z)` outputs `2^b` where `0 < z < top` (`b` = bits of the stored
/// delta, `top` the upper bound of `z`'s type, see `semantics::relu_backward`),
/// `mask + delta` packs both in one index, and a second table keeps the delta
/// or outputs the stored zero.
fn relu_backward(g: &mut Graph, delta: ValueId, z: ValueId, ty: &Type, loc: Loc) -> ValueId {
    let p = g.bits;
    let (off_z, top) = (g.ty(z).offset, g.ty(z).hi);
    let (off_d, (dlo, dhi)) = (g.ty(delta).offset, g.ty(delta).stored());
    let big = 1i64 << silc_ir::types::range_bits(0, dhi);
    let mask = g.lut(
        Table::from_fn("relu_mask", p, |e| if semantics::relu_backward(1, e - off_z, top) == 1 { big } else { 0 }),
        z,
        loc,
    );
    let packed = g.push(Op::Add, vec![mask, delta], loc);
    let off_out = ty.offset;
    // Clamping to the delta's stored range is the identity on every index that
    // can occur, and keeps the range analysis exact (it cannot know that
    // `mask + delta` never lands in `[big, big + dlo)`).
    let keep =
        Table::from_fn(
            "relu_keep",
            p,
            |v| if v >= big { (v - big).clamp(dlo, dhi) - off_d + off_out } else { off_out },
        );
    typed_lut(g, keep, packed, ty, loc)
}

/// `t = T(g) = bound - step(g)` in `[0, 2·bound]`, `s = w + t`, then
/// `clamp(s - bound - off_w, wlo, whi) + off_w`. Where the gradient is a
/// block selection of exclusive parts, `T` is composed into each part's keep
/// table instead ([`stepped`]): one table fewer per weight.
fn sgd(g: &mut Graph, w: ValueId, step: Step, ty: &Type, loc: Loc) -> ValueId {
    let p = g.bits;
    let (off_w, wlo, whi) = (g.ty(w).offset, g.ty(w).lo, g.ty(w).hi);
    let bound = step.bound;
    let w_top = g.ty(w).stored().1;
    let (s, excess) = stepped(g, w, step, loc, |(a, b), _| w_top + b - a < 1 << p);
    let clamp = Table::from_fn("sgd_clamp", p, |v| (v - excess - bound - off_w).clamp(wlo, whi) + ty.offset);
    typed_lut(g, clamp, s, ty, loc)
}

/// The SGD step's gradient: a value, and the proof that it is a block
/// selection whose parts can each take the step table (see [`pick`]).
struct Step<'a> {
    grad: ValueId,
    picked: Option<&'a pick::Picked>,
    /// The parts' keep inputs, in the graph being built.
    inputs: Vec<ValueId>,
    num: i64,
    shift: u32,
    bound: i64,
}

/// `base + T(grad) + excess`, `T` the step table (`bound - step(g)`): the
/// sum and its `excess`. Where the gradient is a block selection of
/// exclusive parts (`step.picked`), `T` is composed into each part's keep
/// table, and the composed tables are added to `base`: plainly where their
/// intervals fit (`fits((0, Σ widths), excess)`), or with `add_exclusive`
/// (nested two at a time) where their hull does, shifted down to start
/// where the plain sum would.
/// Otherwise one table `T` on the gradient, and `excess` is 0.
fn stepped(
    g: &mut Graph,
    base: ValueId,
    step: Step,
    loc: Loc,
    fits: impl Fn((i64, i64), i64) -> bool,
) -> (ValueId, i64) {
    let p = g.bits;
    let Step { grad, num, shift, bound, .. } = step;
    let off_g = g.ty(grad).offset;
    let f = move |e: i64| bound - semantics::sgd_step(e - off_g, num, shift, bound);
    let composed = step.picked.and_then(|pk| pk.compose(f)).and_then(|c| {
        // Each part at its widest, or the hull that `add_exclusive` gives
        // (the premise `check` proves again): one part at its range, the
        // others idle.
        if fits((0, c.widths.iter().sum()), c.excess) {
            return Some((c, None));
        }
        let ranges: Vec<_> =
            step.inputs.iter().zip(&c.tables).map(|(&x, t)| infer::lut_range(t, g.ty(x).stored(), p)).collect();
        if ranges.iter().zip(&c.idle).any(|(r, i)| !(r.0..=r.1).contains(i)) {
            return None;
        }
        let idle: i64 = c.idle.iter().sum();
        let lo = ranges.iter().zip(&c.idle).map(|(r, i)| r.0 + idle - i).min()?;
        let hi = ranges.iter().zip(&c.idle).map(|(r, i)| r.1 + idle - i).max()?;
        fits((lo, hi), c.excess).then_some((c, Some((lo, hi))))
    });
    match composed {
        Some((c, exclusive)) => {
            let parts: Vec<ValueId> = step
                .inputs
                .iter()
                .zip(c.tables)
                .map(|(&x, entries)| g.lut(Table { name: "sgd_step∘keep".into(), entries }, x, loc))
                .collect();
            match exclusive {
                None => (parts.into_iter().fold(base, |s, t| g.push(Op::Add, vec![s, t], loc)), c.excess),
                Some((a, _)) => {
                    // Nested two at a time, as `scale` nests the keeps.
                    let (mut e, mut idle) = (parts[0], c.idle[0]);
                    for (&t, &i) in parts[1..].iter().zip(&c.idle[1..]) {
                        e = g.push(Op::AddExclusive { idle: vec![idle, i] }, vec![e, t], loc);
                        idle += i;
                    }
                    let s = g.push(Op::Add, vec![base, e], loc);
                    (g.push(Op::AddClear { c: -a }, vec![s], loc), c.excess - a)
                }
            }
        }
        None => {
            let t = g.lut(Table::from_fn("sgd_step", p, f), grad, loc);
            (g.push(Op::Add, vec![base, t], loc), 0)
        }
    }
}

/// The two-digit SGD step (see `semantics::sgd_two_digits`): the step table
/// on the gradient, `s = lo + step` leveled, then on `s` a table for the new
/// low digit and one for the carry, and a clamping table on `hi + carry`.
/// Four tables: `s` fills all p bits, so the low digit and the carry cannot
/// share one blind rotation. Where the gradient is a block selection of
/// exclusive parts, the step table is composed into each part's keep table
/// instead, and `s` is the sum of the composed tables: one table fewer per
/// weight for two candidates, where `s`'s interval still fits p bits.
fn sgd_two_digits(g: &mut Graph, w: ValueId, step: Step, lo_bits: u32, ty: &Type, loc: Loc) -> ValueId {
    let p = g.bits;
    let bound = step.bound;
    let (off_w, wlo, whi) = (g.ty(w).offset, g.ty(w).lo, g.ty(w).hi);
    let shape = g.ty(step.grad).shape.clone();
    let digit = |g: &mut Graph, i: usize| {
        let d = g.push(Op::Slice { axis: 0, start: i, len: 1 }, vec![w], loc);
        g.push(Op::Reshape { shape: shape.clone() }, vec![d], loc)
    };
    let (hi, lo) = (digit(g, 0), digit(g, 1));
    // `s` holds `lo + off_w + bound - step + excess`, i.e.
    // `t = s - off_w - bound - excess`.
    let unit = 1i64 << lo_bits;
    let carry_at = move |v: i64, excess: i64| (v - excess - off_w - bound + unit / 2).div_euclid(unit);
    let (llo, lhi) = g.ty(lo).stored();
    let hi_top = g.ty(hi).stored().1;
    // A sum of the composed parts spanning `[a, b]` is shifted down by `a`:
    // it must fit the low digit's tables, and its carries the high digit's
    // clamp.
    let fits = |(a, b): (i64, i64), excess: i64| {
        let s_hi = lhi + b - a;
        s_hi < 1 << p && hi_top + carry_at(s_hi, excess - a) - carry_at(llo, excess - a) < 1 << p
    };
    let (s, excess) = stepped(g, lo, step, loc, fits);
    let carry_of = move |v: i64| carry_at(v, excess);
    let (s_lo, s_hi) = g.ty(s).stored();
    let c_min = carry_of(s_lo);
    let new_lo = Table::from_fn("sgd_lo", p, move |v| v - excess - off_w - bound - carry_of(v) * unit + ty.offset);
    let lo2 = typed_lut(g, new_lo, s, &ty.with_shape(shape.clone()), loc);
    let carry = g.lut(Table::from_fn("sgd_carry", p, move |v| carry_of(v) - c_min), s, loc);
    debug_assert!(carry_of(s_hi) - c_min < 1 << p);
    let h = g.push(Op::Add, vec![hi, carry], loc);
    let clamp = Table::from_fn("sgd_clamp", p, move |v| (v - off_w + c_min).clamp(wlo, whi) + ty.offset);
    let hi2 = typed_lut(g, clamp, h, &ty.with_shape(shape.clone()), loc);
    let mut one = shape.clone();
    one.insert(0, 1);
    let hi2 = g.push(Op::Reshape { shape: one.clone() }, vec![hi2], loc);
    let lo2 = g.push(Op::Reshape { shape: one }, vec![lo2], loc);
    g.push(Op::Concat { axis: 0 }, vec![hi2, lo2], loc)
}

/// Row-wise softmax gradient (see `semantics::ce_grad`):
/// a max tree (`max(a,b) = b + relu(a - b + K) - K` with `K = zhi - zlo`), an
/// exp table on `z - max + K`, the row sum, a reciprocal table, the two
/// quarter-square tables of `e·r`, and a final table that subtracts the label
/// and saturates. The label enters leveled: `v = T1 + (t2max - T2) - y + G`.
/// A margin `M` takes two tables per logit first: `M·[y = 0]` from the
/// label, added to the logit, then `max(z + M·[y = 0] - M, z_lo)`, which
/// lowers the labelled logit by `M` (clamped) and leaves the others.
#[allow(clippy::too_many_arguments)]
fn ce_grad(
    g: &mut Graph,
    z: ValueId,
    y: ValueId,
    z_scale: f64,
    exp_max: i64,
    (grad_max, margin): (i64, i64),
    ty: &Type,
    loc: Loc,
) -> ValueId {
    let p = g.bits;
    let (batch, classes) = (g.ty(z).shape[0], g.ty(z).shape[1]);
    let c = semantics::ce_consts(p, classes, grad_max).expect("checked when lowering");
    debug_assert_eq!(c.exp_max, exp_max);
    let k = g.ty(z).hi - g.ty(z).lo;
    // Work on stored integers (offset 0): differences of stored values are exact.
    let mut zs = g.push(Op::AddClear { c: 0 }, vec![z], loc);
    if margin > 0 {
        let z_lo = g.ty(zs).stored().0;
        let others = g.lut(Table::from_fn("margin_of", p, move |y| if y > 0 { 0 } else { margin }), y, loc);
        let shifted = g.push(Op::Add, vec![zs, others], loc);
        zs = g.lut(Table::from_fn("margin", p, move |v| (v - margin).max(z_lo)), shifted, loc);
    }
    let relu_k = Table::from_fn("max_step", p, |u| (u - k).max(0));
    // `b + relu(a - b)` is at most the row's max, but interval arithmetic only
    // sees `b + [0, K]`; a clamping table (the identity on every true value)
    // restores the exact interval so later levels stay within p bits.
    let (zlo, zhi) = g.ty(zs).stored();
    let tighten = Table::from_fn("max_clamp", p, move |v| v.clamp(zlo, zhi));
    let mut cur = zs;
    while g.ty(cur).shape[1] > 1 {
        let width = g.ty(cur).shape[1];
        let half = width / 2;
        let a = g.push(Op::Slice { axis: 1, start: 0, len: half }, vec![cur], loc);
        let b = g.push(Op::Slice { axis: 1, start: half, len: half }, vec![cur], loc);
        let diff = g.push(Op::Sub, vec![a, b], loc);
        let diff = g.push(Op::AddClear { c: k }, vec![diff], loc);
        let r = g.lut(relu_k.clone(), diff, loc);
        let m = g.push(Op::Add, vec![b, r], loc);
        let mut m = g.lut(tighten.clone(), m, loc);
        if width % 2 == 1 {
            let odd = g.push(Op::Slice { axis: 1, start: 2 * half, len: 1 }, vec![cur], loc);
            m = g.push(Op::Concat { axis: 1 }, vec![m, odd], loc);
        }
        cur = m;
    }
    let spread = |g: &mut Graph, col: ValueId| {
        let flat = g.push(Op::Reshape { shape: vec![batch] }, vec![col], loc);
        g.push(Op::Expand { axis: 1, n: classes }, vec![flat], loc)
    };
    let mx = spread(g, cur);
    let u = g.push(Op::Sub, vec![zs, mx], loc);
    let u = g.push(Op::AddClear { c: k }, vec![u], loc);
    let e = g.lut(Table::from_fn("exp", p, |u| semantics::ce_exp(exp_max, z_scale, (k - u).max(0))), u, loc);
    let s = g.push(Op::ReduceSum { axis: 1, chunk: classes }, vec![e], loc);
    let r = g.lut(Table::from_fn("recip", p, |s| semantics::ce_recip(&c, s)), s, loc);
    let r = spread(g, r);
    let sum = g.push(Op::Add, vec![e, r], loc);
    let diff = g.push(Op::Sub, vec![e, r], loc);
    let diff = g.push(Op::AddClear { c: c.recip }, vec![diff], loc);
    let top = (1i64 << p) - 1;
    let t1 = g.lut(Table::from_fn("ce_sq+", p, |s| semantics::ce_t1(&c, grad_max, s.min(top))), sum, loc);
    let t2 = g.lut(Table::from_fn("ce_sq-", p, |d| c.t2_max - semantics::ce_t2(&c, grad_max, d)), diff, loc);
    let v = g.push(Op::Add, vec![t1, t2], loc);
    let v = g.push(Op::Sub, vec![v, y], loc);
    let v = g.push(Op::AddClear { c: grad_max }, vec![v], loc);
    let off = ty.offset;
    let fin = Table::from_fn("ce_out", p, |v| (v - c.t2_max - grad_max).clamp(-grad_max, grad_max) + off);
    typed_lut(g, fin, v, ty, loc)
}

/// One table per sample: `σ = T(d + s)` outputs `round(G·σ(d'·z_scale))`
/// (`semantics::logistic`) at the output's offset plus the label's, and `σ −
/// y` is the gradient, leveled (`semantics::logistic_grad`). With a margin,
/// `s = T_m(y)` is `0` when class 0 is the label and `2M` when class 1 is,
/// so the index reads `d' + M`; `T_m` reads the label alone, a bootstrap the
/// client computes (`forms`). The lowering checked that `d + 2M` fits `p`
/// bits.
fn logistic_grad(
    g: &mut Graph,
    d: ValueId,
    y: ValueId,
    z_scale: f64,
    (grad_max, margin): (i64, i64),
    ty: &Type,
    loc: Loc,
) -> ValueId {
    let p = g.bits;
    let (off_d, off_y, off) = (g.ty(d).offset, g.ty(y).offset, ty.offset);
    let index = if margin > 0 {
        let shift = Table::from_fn("margin_of", p, move |e| if e - off_y > 0 { 0 } else { 2 * margin });
        let s = g.lut(shift, y, loc);
        g.push(Op::Add, vec![d, s], loc)
    } else {
        d
    };
    let table =
        Table::from_fn("sigmoid", p, move |e| semantics::logistic(grad_max, z_scale, e - off_d - margin) + off + off_y);
    let sigma = g.lut(table, index, loc);
    let v = g.push(Op::Sub, vec![sigma, y], loc);
    let mut t = g.ty(v).clone();
    (t.lo, t.hi, t.offset) = (ty.lo, ty.hi, ty.offset);
    g.set_type(v, t);
    v
}
