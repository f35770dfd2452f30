//! `scale`: lowers `from_residues` — mixed-radix conversion and block scaling.
//!
//! With `V = C + K ≥ 0` (`K` from [`crate::rns::rounding_offset`]), the
//! residues of `V` are turned into mixed-radix digits `d_1 … d_n`
//! (`V = d_1 + m_1·(d_2 + m_2·(…))`), two tables per digit step: one that
//! negates a digit modulo the next modulus, one that multiplies the sum by a
//! modular inverse. Because the first `n_div` moduli multiply to the rescale
//! divisor `D`, dropping their digits divides exactly:
//! `floor(V / D) = e_1 + n_1·(e_2 + …)` over the upper digits `e_i`.
//!
//! The result must be saturated to the output width. A saturating chain runs
//! from the most significant digit down: level `i` keeps
//! `y_i = clamp(e_i - a_i + n_i·y_{i+1}, L_i, H_i)` where the bounds shrink by
//! the radix at each level, so `y_{i+1}` is small enough to pack beside `e_i`
//! into one p-bit table index; the table producing `y_{i+1}` already outputs
//! it multiplied by `n_i`. The clamp at level 1 is exactly the saturation of
//! the rescaled value (see `rns::plan_chain`). The block is the whole
//! tensor: one static shift per tensor, chosen from its fixed-point format.

use silc_ir::{semantics, Graph, Loc, Op, Rewriter, Table, ValueId};

use crate::rns::plan_chain;

pub fn run(g: &Graph) -> Graph {
    let mut rw = Rewriter::new(g);
    for id in g.ids() {
        let node = g.node(id);
        let Op::FromResidues { moduli, n_div, c_lo, c_hi, .. } = &node.op else {
            rw.copy(id);
            continue;
        };
        let residues: Vec<ValueId> = node.args.iter().map(|&a| rw.get(a)).collect();
        let out = lower(&mut rw.new, &residues, moduli, *n_div, (*c_lo, *c_hi), &node.ty, node.loc);
        rw.map_to(id, out);
    }
    rw.finish()
}

fn lower(
    g: &mut Graph,
    residues: &[ValueId],
    moduli: &[i64],
    n_div: usize,
    c_range: (i64, i64),
    ty: &silc_ir::Type,
    loc: Loc,
) -> ValueId {
    let p = g.bits;
    let d: i64 = moduli[..n_div].iter().product();
    let upper = &moduli[n_div..];
    let m_total: i128 = moduli.iter().map(|&m| m as i128).product();
    let plan = plan_chain(p, upper, d, c_range, ty.stored(), ty.offset, m_total)
        .expect("internal error: rns chose moduli the chain cannot use");
    let k_off = plan.k_off;

    // Mixed-radix digits of V = C + K.
    let mut digits: Vec<ValueId> = Vec::new();
    for (i, (&r, &mi)) in residues.iter().zip(moduli).enumerate() {
        let mut x = r;
        if i == 0 {
            let shifted = g.push(Op::AddClear { c: k_off.rem_euclid(mi) }, vec![x], loc);
            x = g.lut(Table::from_fn(format!("mod{mi}"), p, |v| v.rem_euclid(mi)), shifted, loc);
        }
        for (jdx, &dj) in digits.iter().enumerate() {
            let mj = moduli[jdx];
            // The first step also adds K (mod m_i) to the residue.
            let add = if jdx == 0 { k_off.rem_euclid(mi) } else { 0 };
            let neg = g.lut(Table::from_fn(format!("neg{mi}"), p, |v| (add - v).rem_euclid(mi)), dj, loc);
            let sum = g.push(Op::Add, vec![x, neg], loc);
            let inv = semantics::mod_inverse(mj, mi);
            x = g.lut(
                Table::from_fn(format!("mrc{mi}/{mj}"), p, |v| (v.rem_euclid(mi) * inv).rem_euclid(mi)),
                sum,
                loc,
            );
        }
        digits.push(x);
    }

    // Saturating chain over the upper digits, most significant first.
    let e = &digits[n_div..];
    let q = upper.len();
    let (bounds, a) = (&plan.bounds, &plan.a);
    // Level q: y_q = clamp(e_q - rest, L_q, H_q), emitted pre-scaled for level q-1.
    let scale_for = |i: usize| if i == 0 { (1, 0) } else { (upper[i - 1], bounds[i].0) };
    let (mul, base) = scale_for(q - 1);
    let (lq, hq) = bounds[q - 1];
    let top = a[q - 1];
    let mut y = g.lut(Table::from_fn("sat_top", p, |v| ((v - top).clamp(lq, hq) - base) * mul), e[q - 1], loc);
    for i in (0..q - 1).rev() {
        let n = upper[i];
        let (lnext, _) = bounds[i + 1];
        let (li, hi_i) = bounds[i];
        let ai = a[i];
        let packed = g.push(Op::Add, vec![y, e[i]], loc);
        let (mul, base) = scale_for(i);
        y = g.lut(
            Table::from_fn(format!("sat{n}"), p, |v| {
                let (yn, ei) = (v.div_euclid(n) + lnext, v.rem_euclid(n));
                ((ei - ai + n * yn).clamp(li, hi_i) - base) * mul
            }),
            packed,
            loc,
        );
    }
    // The last table's output is the stored result; declare the logical type.
    let mut out_ty = g.ty(y).clone();
    out_ty.lo = ty.lo;
    out_ty.hi = ty.hi;
    out_ty.offset = ty.offset;
    g.set_type(y, out_ty);
    y
}
