//! The two-scale system of a product (`semantics::fine_divisor`): where the
//! product's range over its divisor `d` fits the grid's readable half
//! (`V < d·2^p`), or the whole grid (`V < d·2^(p+1)`, the wide form), a
//! residue modulo `d` and the fine sum modulo `2^(p+1)·d` replace the
//! divisor's moduli and the range moduli (`scale::fine`). Two PBS per
//! product term instead of one per modulus, and a conversion of two or
//! three PBS per output (five more in the wide form).

use silc_ir::semantics::{covered, fine_modulus, fine_radices};

use super::{plan_chain, plan_shift, ChainPlan, Cover, Product};
use crate::karatsuba::{best_plan, torus, Method};

/// The low radix of a two-scale system for the divisor `factors`: the
/// first factor when there are two (so block scaling can drop it alone),
/// else the whole divisor.
pub fn low(factors: &[i64]) -> i64 {
    match factors {
        [first, _] => *first,
        _ => factors.iter().product(),
    }
}

/// The two-scale cover of `product` with its PBS, when its divisor is a
/// readable odd modulus, the operands' raw sums fit a table (binomial
/// products), one output's fine sum fits the noise bound, and the chain of
/// the full divisor and of every block-scaling `shifts` exists.
pub fn cover(product: &Product, shifts: &[usize]) -> Option<Cover> {
    let Product { p, nu, shape, c, factors, out, offset } = *product;
    let d: i64 = factors.iter().product();
    let fine = (1i64 << (p + 1)) * d;
    if fine_modulus(p, fine) != Some(d) || factors.len() > 2 {
        return None;
    }
    if shape.raw_width >= 1i64 << p || torus::fine_own_sums(nu, shape.k, false).is_none() {
        return None;
    }
    let moduli = vec![d, fine];
    let n_div = factors.len();
    if fine_radices(p, d, low(factors), false).len() != n_div + 1 {
        return None;
    }
    let (radix, wide, plan) = layout(p, &moduli, low(factors), n_div, c, out, offset)?;
    let own = torus::fine_own_sums(nu, shape.k, wide)?;
    for &j in shifts {
        plan_shift(p, &radix, j, plan.k_off, out, offset)?;
    }
    // The residue modulo d as `karatsuba` builds it: summed on the torus
    // where that pays (its last read then gives way to the digit reads),
    // else reduced by tables.
    // (Modulo 15 at p = 4, where no two residues share a reduction
    // table, `best_plan` prices the torus sums.)
    let outs = (shape.n * shape.cols) as u64;
    let (plan_d, reduced) = best_plan(p, nu, d, shape, None)?;
    let residue =
        if torus::pays(p, nu, d, &plan_d, shape.k) { torus::summed_pbs(nu, &plan_d, shape) - outs } else { reduced };
    // The fine sum: one binomial term per product, one own term per
    // operand element, no reduction; then per output the fine read, the
    // digits the shifts keep, and the chain's top table.
    let kept = n_div - shifts.first().copied().unwrap_or(n_div);
    let mut fine_pbs = outs * shape.k as u64 + ((shape.n + shape.cols) * shape.k) as u64;
    if own == torus::OwnSums::Refreshed {
        // Each own sum's refresh, and its own terms modulo `d` summed and
        // read fresh, unless the residue modulo `d` already sums them so.
        let shared = plan_d.method == Method::Binomial { raw: true } && torus::pays(p, nu, d, &plan_d, shape.k);
        let own_sums = (shape.n + shape.cols) as u64;
        fine_pbs += own_sums * torus::REFRESH_PBS;
        if !shared {
            fine_pbs += ((shape.n + shape.cols) * shape.k) as u64 + own_sums * 2 * torus::reads(nu, shape.k);
        }
    }
    // The wide form splits the top digit (a fold, two tables and the top
    // bit's constant table) and adds a level to the chain.
    let conversion = outs * (2 + kept as u64 + if wide { 5 } else { 0 });
    Some(Cover { moduli, pbs: residue + fine_pbs + conversion, chunks: vec![] })
}

/// Whether a dither can join the two-scale `cover`'s sums (`karatsuba`
/// adds it to each torus sum): the fine sum always lies on the torus, and
/// the residue modulo `d` must be summable there too (it is then summed on
/// the torus whether that pays or not).
pub fn dither_summable(p: u32, nu: f64, cover: &Cover, shape: crate::karatsuba::Dims) -> bool {
    let d = cover.moduli[0];
    best_plan(p, nu, d, shape, None).is_some_and(|(plan, _)| torus::summable(p, nu, d, &plan))
}

/// The radices of the two-scale system `moduli` for a product in `c`
/// rescaled by its first `n_div` radices to `out` (at `offset`), whether it
/// takes the wide form, and the chain's plan: the narrow form when `⌊V/d⌋`
/// stays below `2^p`, else the wide one, whose top digit is split
/// (`semantics::fine_radices`). `None` when neither chain exists.
pub fn layout(
    p: u32,
    moduli: &[i64],
    low: i64,
    n_div: usize,
    c: (i64, i64),
    out: (i64, i64),
    offset: i64,
) -> Option<(Vec<i64>, bool, ChainPlan)> {
    let d = moduli[0];
    [false, true].into_iter().find_map(|wide| {
        let radix = fine_radices(p, d, low, wide);
        let plan = plan_chain(p, &radix[n_div..], d, c, out, offset, covered(p, moduli, wide))?;
        Some((radix, wide, plan))
    })
}
