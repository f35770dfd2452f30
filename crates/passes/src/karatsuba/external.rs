//! The two-scale products of a sample by external products
//! (docs/external-products.md): with `karatsuba::Config::external`, a
//! residue system `[d, 2^(p+1)·d]` whose first operand is of the samples
//! alone (`forms::of_one_sample`: the client can encrypt it as GGSW) is not
//! built from tables. Its fine sum is one `ext_dot` at `1/(2^(p+1)·d)`, the
//! exact sum the binomial terms would give; its residue modulo `d` is that
//! sum times `2^(p+1)` (`coarsen`), read by the two bootstraps of a torus
//! read. The conversion (`scale::fine`) then takes both as it takes them
//! today: the same integers, the same accuracy. A dither joins the fine
//! sum before the residue is taken from it, so both carry it.

use std::collections::HashMap;

use silc_ir::semantics::fine_divisor;
use silc_ir::{Graph, Op, Rewriter, ValueId};

use super::torus;

/// A two-scale system to build by external products.
#[derive(Clone, Copy, Debug)]
pub struct Pair {
    /// The fine product's old id.
    pub fine: ValueId,
    /// The system's divisor, the coarse product's modulus.
    pub d: i64,
}

/// The two-scale systems of `g` that external products can build, keyed by
/// both products' ids.
pub fn pairs(g: &Graph) -> HashMap<ValueId, Pair> {
    let sample = crate::forms::of_one_sample(g);
    let product = |v: ValueId| match g.node(v).op {
        Op::AddDither { .. } => g.node(v).args[0],
        _ => v,
    };
    let mut out = HashMap::new();
    for id in g.ids() {
        let n = g.node(id);
        let Op::FromResidues { moduli, .. } = &n.op else { continue };
        let Some(d) = fine_divisor(g.bits, moduli) else { continue };
        let (coarse, fine) = (product(n.args[0]), product(n.args[1]));
        let (cn, fnode) = (g.node(coarse), g.node(fine));
        if !matches!(cn.op, Op::ModMatMul { .. }) || !matches!(fnode.op, Op::ModMatMul { .. }) || cn.args != fnode.args
        {
            continue;
        }
        let (a, b) = (fnode.args[0], fnode.args[1]);
        let (lo, hi) = g.ty(b).stored();
        if !sample[source(g, a).0.index()] || lo < 0 || hi >= 1i64 << g.bits || g.ty(b).torus.is_some() {
            continue;
        }
        let pair = Pair { fine, d };
        out.insert(coarse, pair);
        out.insert(fine, pair);
    }
    out
}

/// The value a GGSW form holds for operand `a`: `a`, or for a transposed
/// sample the sample itself (one upload serves both products).
fn source(g: &Graph, a: ValueId) -> (ValueId, bool) {
    match g.node(a).op {
        Op::Transpose => (g.node(a).args[0], true),
        _ => (a, false),
    }
}

/// The new value of old product `id` of `pair`: the fine sum, or the
/// residue modulo `d` read from it. `sums` keeps each pair's fine sum, built
/// by whichever of the two comes first.
pub fn lower(rw: &mut Rewriter<'_>, id: ValueId, pair: Pair, sums: &mut HashMap<ValueId, ValueId>) -> ValueId {
    let g = rw.old;
    let p = g.bits;
    let n = g.node(pair.fine);
    let loc = n.loc;
    let sum = match sums.get(&pair.fine) {
        Some(&s) => s,
        None => {
            let Op::ModMatMul { modulus } = n.op else { unreachable!("pairs: a residue product") };
            let (src, transpose) = source(g, n.args[0]);
            let args = vec![rw.get(src), rw.get(n.args[1])];
            let mut s = rw.new.push(Op::ExtDot { m: modulus, transpose }, args, loc);
            if let [u] = g.users(pair.fine)[..] {
                if let Op::AddDither { stream, lo, hi, modulus: Some(_) } = g.node(u).op {
                    s = rw.new.push(Op::AddDither { stream, lo, hi, modulus: None }, vec![s], loc);
                }
            }
            sums.insert(pair.fine, s);
            s
        }
    };
    if id == pair.fine {
        return sum;
    }
    let coarse = rw.new.push(Op::Coarsen { by: 1i64 << (p + 1) }, vec![sum], loc);
    torus::read(&mut rw.new, coarse, pair.d, false, g.node(id).loc)
}
