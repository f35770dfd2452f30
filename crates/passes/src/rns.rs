//! `rns`: every encrypted × encrypted matrix product, together with the
//! rescale that follows it, moves into a residue number system.
//!
//! For each `rescale(matmul(a, b))` the pass computes the exact range of the
//! product from the operand ranges and the reduction length, and chooses
//! pairwise-coprime moduli: the rescale's own factors `D` (so the division is
//! exact by dropping mixed-radix digits) plus the cheapest set of further
//! moduli whose product covers the range. Cost is counted in PBS: residue
//! tables, products (by the best method per modulus, see [`crate::karatsuba`]),
//! reductions and the mixed-radix conversion. The matmul becomes one residue
//! table per operand and modulus, a `mod_matmul` per modulus, and a
//! `from_residues` that [`crate::scale`] lowers.

use serde::Serialize;
use silc_ir::{Graph, Loc, Op, Rewriter, Table};

use crate::error::PassError;
use crate::karatsuba::{best_plan, Dims};
use crate::lower::gcd;

/// The RNS chosen for one matmul, for the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RnsChoice {
    /// `line:col` of the layer the matmul belongs to.
    pub at: String,
    /// `[n, k, m]`.
    pub shape: [usize; 3],
    pub c_lo: i64,
    pub c_hi: i64,
    /// Rescale factors first, then the range moduli.
    pub moduli: Vec<i64>,
    pub n_div: usize,
    /// Product method per modulus.
    pub methods: Vec<String>,
    /// Estimated PBS of the whole product and conversion (static scaling).
    pub pbs: u64,
    /// Block scaling: the candidate divisors, finest first (empty: static).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub block_divisors: Vec<i64>,
    /// The radix the modulus `2^(p+1)` gives in its place (see [`radices`]).
    pub low: i64,
}

/// The radix the modulus `2^(p+1)` gives in its place for `moduli` chosen
/// for the divisor `factors`: the divisor itself when `2^(p+1)` is the first
/// modulus and holds it (see [`choose_moduli`]), else 2.
pub fn wide_low(p: u32, moduli: &[i64], factors: &[i64]) -> i64 {
    match (moduli.first(), factors) {
        (Some(&m), &[f]) if m == 1i64 << (p + 1) => f,
        _ => 2,
    }
}

pub use silc_ir::semantics::radices;

/// The offset `K = ⌊D/2⌋ + D·J` that makes `C + K` non-negative while keeping
/// `floor((C + K)/D) = floor((C + ⌊D/2⌋)/D) + J`.
pub fn rounding_offset(c_lo: i64, d: i64) -> (i64, i64) {
    let need = -c_lo - d / 2;
    let j = if need > 0 { (need + d - 1) / d } else { 0 };
    (d / 2 + d * j, j)
}

/// The plan of the saturating chain over the upper mixed-radix digits (see
/// [`crate::scale`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ChainPlan {
    /// The offset `K = ⌊D/2⌋ + D·J` added to the product before conversion.
    pub k_off: i64,
    pub j: i64,
    /// Digits of `J - offset` in the upper radices (the last holds the rest).
    pub a: Vec<i64>,
    /// `(L_i, H_i)` per level, level 0 being the output range.
    pub bounds: Vec<(i64, i64)>,
}

/// Bounds per level for the digits `a` of `J - offset`: a level's clamp range
/// is as small as the next level's exactness allows,
/// `L_{i+1} = floor((L_i - n_i + 1 + a_i)/n_i)`, `H_{i+1} = ceil((H_i + a_i)/n_i)`;
/// `None` when a level's packed index `(y - L)·n + e` would not fit in `p` bits.
fn chain_bounds(p: u32, upper: &[i64], (lo, hi): (i64, i64), a: &[i64]) -> Option<Vec<(i64, i64)>> {
    let mut bounds = vec![(lo, hi)];
    for i in 0..upper.len().saturating_sub(1) {
        let (n, (l, h)) = (upper[i], bounds[i]);
        let next = ((l - n + 1 + a[i]).div_euclid(n), (h + a[i] + n - 1).div_euclid(n));
        if (next.1 - next.0 + 1) * n > 1i64 << p {
            return None;
        }
        bounds.push(next);
    }
    Some(bounds)
}

/// Finds the smallest admissible `J` (so `C + K` stays in `[0, M)`) for which
/// the chain fits in `p` bits. `out` is the stored output range and `offset`
/// its offset; `m_total` the product of all moduli.
pub fn plan_chain(
    p: u32,
    upper: &[i64],
    d: i64,
    (c_lo, c_hi): (i64, i64),
    out: (i64, i64),
    offset: i64,
    m_total: i128,
) -> Option<ChainPlan> {
    let (_, j_min) = rounding_offset(c_lo, d);
    for j in j_min..j_min + 4096 {
        let k_off = d / 2 + d * j;
        if c_hi as i128 + k_off as i128 >= m_total {
            return None;
        }
        if let Some(plan) = chain_with(p, upper, k_off, j, out, offset) {
            return Some(plan);
        }
    }
    None
}

/// The chain over `upper` for a given `K = ⌊D/2⌋ + D·J`, if it fits.
fn chain_with(p: u32, upper: &[i64], k_off: i64, j: i64, out: (i64, i64), offset: i64) -> Option<ChainPlan> {
    let mut rest = j - offset;
    let mut a = Vec::new();
    for &n in &upper[..upper.len() - 1] {
        a.push(rest.rem_euclid(n));
        rest = rest.div_euclid(n);
    }
    a.push(rest);
    chain_bounds(p, upper, out, &a).map(|bounds| ChainPlan { k_off, j, a, bounds })
}

/// The chain of a block-scaling candidate: the digits of the same `V = C + K`
/// (`K` planned for the full divisor) read with only the first `shift` moduli
/// dropped, i.e. divided by `D_j = m_1·…·m_shift`. This rounds half up at
/// `D_j` only if `K ≡ ⌊D_j/2⌋ (mod D_j)`, which holds when `D/D_j` is odd or
/// `D_j` holds the even factor; `None` otherwise, or when the chain does not
/// fit in `p` bits.
pub fn plan_shift(p: u32, moduli: &[i64], shift: usize, k_off: i64, out: (i64, i64), offset: i64) -> Option<ChainPlan> {
    let dj: i64 = moduli[..shift].iter().product();
    if (k_off - dj / 2).rem_euclid(dj) != 0 {
        return None;
    }
    chain_with(p, &moduli[shift..], k_off, (k_off - dj / 2) / dj, out, offset)
}

/// Block scaling for one product: the order of the divisor's `factors` and
/// the shifts (prefix lengths, ascending, ending at `factors.len()`) whose
/// chains exist, trying every order of the factors and keeping the one with
/// the most shifts. Empty shifts when only the full divisor works.
#[allow(clippy::too_many_arguments)]
pub fn block_shifts(
    p: u32,
    nu: f64,
    shape: Dims,
    c: (i64, i64),
    factors: &[i64],
    out: (i64, i64),
    offset: i64,
) -> Option<(Vec<i64>, Vec<usize>)> {
    let (moduli, _) = choose_moduli(p, nu, shape, c, factors, out, offset, None)?;
    let upper = radices(p, &moduli, wide_low(p, &moduli, factors)).split_off(factors.len());
    let d: i64 = factors.iter().product();
    let m_total: i128 = moduli.iter().map(|&m| m as i128).product();
    let k_off = plan_chain(p, &upper, d, c, out, offset, m_total)?.k_off;
    let mut best: Option<(Vec<i64>, Vec<usize>)> = None;
    for order in permutations(factors) {
        let mut all = order.clone();
        all.extend_from_slice(&upper);
        let mut shifts: Vec<usize> =
            (0..factors.len()).filter(|&j| plan_shift(p, &all, j, k_off, out, offset).is_some()).collect();
        shifts.push(factors.len());
        if best.as_ref().is_none_or(|(_, s)| shifts.len() > s.len()) {
            best = Some((order, shifts));
        }
    }
    best.map(|(order, shifts)| if shifts.len() == 1 { (order, vec![]) } else { (order, shifts) })
}

fn permutations(items: &[i64]) -> Vec<Vec<i64>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

struct Search<'a> {
    cands: &'a [(i64, u64)],
    need: i128,
    /// The moduli before the chosen ones: the divisor's factors, or
    /// `2^(p+1)` when its low radix `low` is the divisor.
    head: &'a [i64],
    head_product: i128,
    low: i64,
    p: u32,
    out: (i64, i64),
    offset: i64,
    d: i64,
    c: (i64, i64),
    digit_cost: u64,
    n_div: usize,
    best: Option<(u64, Vec<i64>)>,
}

impl Search<'_> {
    fn mrns_cost(&self, n_upper: usize) -> u64 {
        let n = (self.n_div + n_upper) as u64;
        self.digit_cost * (n * (n - 1) + n_upper as u64 + 1)
    }

    fn dfs(&mut self, start: usize, chosen: &mut Vec<i64>, product: i128, cost: u64) {
        if let Some((best, _)) = &self.best {
            if cost + self.mrns_cost(chosen.len().max(1)) >= *best {
                return;
            }
        }
        // A head of 2^(p+1) brings an upper radix of its own.
        let wide_head = self.head.contains(&(1i64 << (self.p + 1)));
        if product >= self.need && (!chosen.is_empty() || wide_head) {
            let mut upper = chosen.clone();
            upper.sort_unstable();
            let m_total = product * self.head_product;
            let mut all = self.head.to_vec();
            all.extend_from_slice(&upper);
            let digits = radices(self.p, &all, self.low).split_off(self.n_div);
            if plan_chain(self.p, &digits, self.d, self.c, self.out, self.offset, m_total).is_some() {
                let total = cost + self.mrns_cost(upper.len());
                if self.best.as_ref().is_none_or(|(b, _)| total < *b) {
                    self.best = Some((total, upper));
                }
            }
            return;
        }
        if chosen.len() >= 6 {
            return;
        }
        for i in start..self.cands.len() {
            let (m, c) = self.cands[i];
            if chosen.iter().all(|&x| gcd(x, m) == 1) {
                chosen.push(m);
                self.dfs(i + 1, chosen, product * m as i128, cost + c);
                chosen.pop();
            }
        }
    }
}

/// Options of the pass.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Product method forced on every modulus where feasible (see karatsuba).
    pub force: Option<String>,
}

/// Chooses the moduli for one product; returns them with the total PBS.
#[allow(clippy::too_many_arguments)]
pub fn choose_moduli(
    p: u32,
    nu: f64,
    shape: Dims,
    (c_lo, c_hi): (i64, i64),
    factors: &[i64],
    out: (i64, i64),
    offset: i64,
    force: Option<&str>,
) -> Option<(Vec<i64>, u64)> {
    let d: i64 = factors.iter().product();
    let (k_off, _) = rounding_offset(c_lo, d);
    let need_total = c_hi as i128 + k_off as i128 + 1;
    let plan_cost =
        |m: i64| best_plan(p, nu, m, shape, force).or_else(|| best_plan(p, nu, m, shape, None)).map(|x| x.1);
    // The cheapest range moduli after `head`, which costs `head_cost`.
    let search = |head: &[i64], head_cost: u64, low: i64| -> Option<(Vec<i64>, u64)> {
        let head_product: i128 = head.iter().map(|&m| m as i128).product();
        let need = (need_total + head_product - 1) / head_product;
        // Residue products take moduli up to 2^(p-1); the wrapping product
        // takes 2^p and 2^(p+1) (raw operands permitting, see `karatsuba`).
        let max = 1i64 << (p - 1);
        let mut cands: Vec<(i64, u64)> = (2..=max)
            .chain([1i64 << p, 1i64 << (p + 1)])
            .filter(|&m| head.iter().all(|&f| gcd(f, m) == 1))
            .filter_map(|m| plan_cost(m).map(|c| (m, c)))
            .collect();
        // Most bits per PBS first; keep the search small.
        cands.sort_by(|a, b| {
            let ea = a.1 as f64 / (a.0 as f64).ln();
            let eb = b.1 as f64 / (b.0 as f64).ln();
            ea.total_cmp(&eb).then(b.0.cmp(&a.0))
        });
        cands.truncate(28);
        let mut s = Search {
            cands: &cands,
            need,
            head,
            head_product,
            low,
            p,
            out,
            offset,
            d,
            c: (c_lo, c_hi),
            digit_cost: (shape.n * shape.cols) as u64,
            n_div: factors.len(),
            best: None,
        };
        s.dfs(0, &mut Vec::new(), 1, head_cost);
        s.best.map(|(cost, upper)| {
            let mut all = head.to_vec();
            all.extend(upper);
            (all, cost)
        })
    };
    let div_cost: u64 = factors.iter().map(|&m| plan_cost(m)).sum::<Option<u64>>()?;
    let plain = search(factors, div_cost, 2);
    // A divisor of 2, 4, …, 2^(p-1) can be the low radix of the modulus
    // 2^(p+1), which then also gives the range the radix 2^(p+1)/low last
    // (`radices`).
    let wide = 1i64 << (p + 1);
    let lead = match factors {
        &[f] if f.count_ones() == 1 && f >= 2 && f <= wide / 4 => plan_cost(wide).and_then(|c| search(&[wide], c, f)),
        _ => None,
    };
    match (plain, lead) {
        (Some(a), Some(b)) => Some(if b.1 < a.1 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Rewrites every `rescale(matmul(a, b))`. Returns the new graph and the
/// choices made, in graph order.
pub fn run(g: &Graph, nu: f64, config: &Config) -> Result<(Graph, Vec<RnsChoice>), PassError> {
    let p = g.bits;
    let mut rw = Rewriter::new(g);
    let mut choices = Vec::new();
    for id in g.ids() {
        let node = g.node(id);
        match &node.op {
            Op::MatMul => {
                let users = g.users(id);
                let ok = users.len() == 1 && matches!(g.node(users[0]).op, Op::Rescale { .. });
                assert!(ok, "internal error: a matmul must feed exactly one rescale");
                // Lowered together with its rescale.
            }
            Op::Rescale { factors, bits, shifts, relu } => {
                let mm = node.args[0];
                let mnode = g.node(mm);
                assert!(matches!(mnode.op, Op::MatMul), "internal error: rescale of a non-matmul");
                let (a, b) = (mnode.args[0], mnode.args[1]);
                let shape = Dims::of(g, a, b);
                let (c_lo, c_hi) = (mnode.ty.lo, mnode.ty.hi);
                let out = node.ty.stored();
                let (moduli, pbs) =
                    choose_moduli(p, nu, shape, (c_lo, c_hi), factors, out, node.ty.offset, config.force.as_deref())
                        .ok_or_else(|| no_moduli(node.loc, p, (shape.n, shape.k, shape.cols), (c_lo, c_hi)))?;
                let (na, nb) = (rw.get(a), rw.get(b));
                let mut residues = Vec::new();
                for &m in &moduli {
                    // The wrapping product reads the raw operands.
                    let (ra, rb) = if m == 1i64 << p || m == 1i64 << (p + 1) {
                        (na, nb)
                    } else {
                        (residue(&mut rw.new, na, m, node.loc), residue(&mut rw.new, nb, m, node.loc))
                    };
                    residues.push(rw.new.push(Op::ModMatMul { modulus: m }, vec![ra, rb], node.loc));
                }
                let low = wide_low(p, &moduli, factors);
                let op = Op::FromResidues {
                    moduli: moduli.clone(),
                    n_div: factors.len(),
                    c_lo,
                    c_hi,
                    bits: *bits,
                    shifts: shifts.clone(),
                    relu: *relu,
                    low,
                };
                let new = rw.new.add(op, residues, node.ty.clone(), node.loc);
                rw.map_to(id, new);
                let methods = moduli
                    .iter()
                    .map(|&m| {
                        best_plan(p, nu, m, shape, config.force.as_deref())
                            .or_else(|| best_plan(p, nu, m, shape, None))
                            .map(|(pl, _)| pl.method.name().to_string())
                            .unwrap_or_default()
                    })
                    .collect();
                choices.push(RnsChoice {
                    at: node.loc.to_string(),
                    shape: [shape.n, shape.k, shape.cols],
                    c_lo,
                    c_hi,
                    moduli,
                    n_div: factors.len(),
                    methods,
                    pbs,
                    block_divisors: if shifts.is_empty() {
                        vec![]
                    } else {
                        silc_ir::semantics::rescale_divisors(factors, shifts)
                    },
                    low,
                });
            }
            _ => {
                rw.copy(id);
            }
        }
    }
    Ok((rw.finish(), choices))
}

/// The residues mod `m` of a (high-level) value: the table stored `e` ↦
/// `(e - offset) mod m`. A constant part (a bias column, see
/// `lower::bias_column`) needs no table: its residue is a noiseless
/// constant, so a concatenation (or its transpose) holding one is taken
/// apart and each part gets its own residues.
fn residue(g: &mut Graph, v: silc_ir::ValueId, m: i64, loc: Loc) -> silc_ir::ValueId {
    let ty = g.ty(v).clone();
    if ty.lo == ty.hi {
        let zero = g.push(Op::MulClear { c: 0 }, vec![v], loc);
        return g.push(Op::AddClear { c: ty.lo.rem_euclid(m) }, vec![zero], loc);
    }
    if has_constant_part(g, v) {
        let node = g.node(v).clone();
        let parts: Vec<silc_ir::ValueId> = node.args.iter().map(|&a| residue(g, a, m, loc)).collect();
        return g.push(node.op, parts, loc);
    }
    let off = ty.offset;
    g.lut(Table::from_fn(format!("res{m}"), g.bits, |e| (e - off).rem_euclid(m)), v, loc)
}

/// Whether `v` is a concatenation, or a transpose of one, with a constant part.
fn has_constant_part(g: &Graph, v: silc_ir::ValueId) -> bool {
    let node = g.node(v);
    match node.op {
        Op::Transpose => has_constant_part(g, node.args[0]),
        Op::Concat { .. } => node.args.iter().any(|&a| g.ty(a).lo == g.ty(a).hi || has_constant_part(g, a)),
        _ => false,
    }
}

/// An upper bound on the values any residue number system at precision `p`
/// can tell apart: `2^(p+1)` times the largest odd moduli up to `2^(p-1)`
/// that are pairwise coprime, taken greedily from the top. (The saturating
/// chain may admit fewer.) 3 360 at `p = 4`.
pub fn widest_cover(p: u32) -> i128 {
    let mut chosen: Vec<i64> = Vec::new();
    for m in (3..=1i64 << (p - 1)).rev().filter(|m| m % 2 == 1) {
        if chosen.iter().all(|&c| gcd(c, m) == 1) {
            chosen.push(m);
        }
    }
    chosen.iter().fold(1i128 << (p + 1), |acc, &m| acc.saturating_mul(m as i128))
}

fn no_moduli(loc: Loc, p: u32, (n, k, m): (usize, usize, usize), (lo, hi): (i64, i64)) -> PassError {
    PassError::unsupported(
        loc,
        format!(
            "no residue number system at bits {p} covers this product: [{n}x{k}]·[{k}x{m}] ranges over [{lo}, {hi}]"
        ),
        "raise `bits`, or lower the tensor widths with `quantize`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dimensions whose operands are too wide for the wrapping product.
    fn residues_only(n: usize, k: usize, cols: usize) -> Dims {
        Dims { n, k, cols, raw_width: i64::MAX / 4 }
    }

    #[test]
    fn the_wrapping_modulus_covers_breast_cancer_at_4_bits() {
        // [8x31]·[31x30] over 3-bit operands: moduli up to 8 cover at most
        // 8·7·5·3 = 840, short of the range; 16 by wrapping sums gives 1680.
        let nu = crate::params::for_precision(4).nu();
        let dims = Dims { n: 8, k: 31, cols: 30, raw_width: 14 };
        let (moduli, _) = choose_moduli(4, nu, dims, (-372, 496), &[16], (0, 7), 4, None).expect("fits");
        assert_eq!(moduli[0], 16);
        let narrow = choose_moduli(4, nu, residues_only(8, 31, 30), (-372, 496), &[7], (0, 7), 4, None);
        assert!(narrow.is_none());
    }

    #[test]
    fn the_widest_cover_at_4_bits_is_32_3_5_7() {
        assert_eq!(widest_cover(4), 32 * 3 * 5 * 7);
        assert_eq!(widest_cover(3), 16 * 3);
        assert!(widest_cover(5) > widest_cover(4) * 10);
    }

    #[test]
    fn small_products_get_a_chain_that_fits() {
        let nu = crate::params::for_precision(8).nu();
        let (moduli, _) =
            choose_moduli(8, nu, residues_only(8, 4, 8), (-16128, 16384), &[32], (0, 127), 64, None).expect("fits");
        let d = 32;
        let m: i128 = moduli.iter().map(|&m| m as i128).product();
        let plan = plan_chain(8, &moduli[1..], d, (-16128, 16384), (0, 127), 64, m).expect("chain");
        assert!(16384 + plan.k_off < m as i64 && -16128 + plan.k_off >= 0);
    }

    #[test]
    fn the_chain_limits_the_range_at_5_bits() {
        // MNIST's first product at 5 bits with the divisor 8·7 needs an upper
        // range of ~1700, but below its top digit the chain only admits moduli
        // ≤ 10 (3·n ≤ 2^5), and 8·7 leaves too few of them: this is why
        // `lower::feasible_divisor` tries the next divisors (11·5 works).
        let nu = crate::params::for_precision(5).nu();
        let got = choose_moduli(5, nu, residues_only(16, 784, 128), (-43904, 50176), &[8, 7], (0, 15), 8, None);
        assert!(got.is_none());
    }
}
