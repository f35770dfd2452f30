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
//! `from_residues` that [`crate::scale`] lowers. A dithered product
//! (`rescale(add_dither(matmul(a, b)))`, `rounding dither;`) takes the
//! dithered range and the two-scale system, whose residues are all torus
//! sums, and carries the dither on each residue (`add_dither … modulus=m`)
//! for [`crate::karatsuba`] to add to those sums.

pub mod chain;
pub mod chunks;
pub mod fine;
pub mod pairs;
pub mod wrap_first;

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
    /// The chunks the reduction is cut into (1: whole, see [`chunks`]).
    pub chunks: usize,
    /// A two-scale system in its wide form, whose top digit is split
    /// ([`fine::layout`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub wide: bool,
    /// A wrap-first system ([`wrap_first`]): the radices above the divisor
    /// (powers of two, then twice the odd modulus); empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wrap_first: Vec<i64>,
    /// The range of the public dither added before the rescale
    /// (`rounding dither;`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dither: Option<[i64; 2]>,
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

pub use chain::{plan_chain, plan_shift, rounding_offset, ChainPlan};
pub use silc_ir::semantics::radices;

/// One `rescale(matmul)` to cover: precision and noise bound, the product's
/// dimensions and exact range `c`, the rescale's divisor `factors`, and the
/// stored output range `out` with its `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Product<'a> {
    pub p: u32,
    pub nu: f64,
    pub shape: Dims,
    pub c: (i64, i64),
    pub factors: &'a [i64],
    pub out: (i64, i64),
    pub offset: i64,
}

/// Block scaling for one product: the order of the divisor's `factors` and
/// the shifts (prefix lengths, ascending, ending at `factors.len()`) whose
/// chains exist, trying every order of the factors and keeping the one with
/// the most shifts. Empty shifts when only the full divisor works.
pub fn block_shifts(product: &Product) -> Option<(Vec<i64>, Vec<usize>)> {
    let Product { p, c, factors, out, offset, .. } = *product;
    let (moduli, _) = choose_moduli(product, None, &[])?;
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
    /// The range of each chunk of the product (one: not chunked).
    ranges: &'a [(i64, i64)],
    digit_cost: u64,
    n_div: usize,
    best: Option<(u64, Vec<i64>)>,
}

impl Search<'_> {
    /// The conversion's PBS: per chunk, and with chunks, their addition
    /// (about two tables per digit position and chunk added).
    fn mrns_cost(&self, n_upper: usize) -> u64 {
        let n = (self.n_div + n_upper) as u64;
        let q = self.ranges.len() as u64;
        self.digit_cost * (q * n * (n - 1) + n_upper as u64 + 1 + 2 * (q - 1) * (n + 1))
    }

    /// Whether the moduli `all` (product `m_total`) admit the saturating
    /// chain, and with chunks, offsets that keep every chunk in range.
    fn fits(&self, all: &[i64], m_total: i128) -> bool {
        let digits = radices(self.p, all, self.low);
        if let [c] = self.ranges {
            return plan_chain(self.p, &digits[self.n_div..], self.d, *c, self.out, self.offset, m_total).is_some();
        }
        let sum = chunks::sum_radices(self.p, &digits);
        let n_div = chunks::sum_radices(self.p, &digits[..self.n_div]).len();
        chunks::plan_chunks(self.p, &sum[n_div..], self.d, self.ranges, self.out, self.offset, m_total).is_some()
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
            if self.fits(&all, m_total) {
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

/// The moduli, the PBS and the chunks (lengths along `k`, empty: one) of a
/// product.
#[derive(Clone, Debug, PartialEq)]
pub struct Cover {
    pub moduli: Vec<i64>,
    pub pbs: u64,
    pub chunks: Vec<usize>,
}

/// The cover of a product with the fewest chunks: whole if a residue number
/// system holds its range, else cut into 2, 3, … up to
/// [`chunks::max_chunks`] chunks.
pub fn choose_cover(product: &Product, force: Option<&str>) -> Option<Cover> {
    let k = product.shape.k;
    (1..=chunks::max_chunks(product.p).min(k)).find_map(|q| {
        let cut = if q == 1 { vec![] } else { chunks::split_k(k, q) };
        choose_moduli(product, force, &cut).map(|(moduli, pbs)| Cover { moduli, pbs, chunks: cut })
    })
}

/// Chooses the moduli for one product cut into `cut` (lengths along `k`;
/// empty: not cut); returns them with the total PBS.
pub fn choose_moduli(product: &Product, force: Option<&str>, cut: &[usize]) -> Option<(Vec<i64>, u64)> {
    let Product { p, nu, shape, c: (c_lo, c_hi), factors, out, offset } = *product;
    let d: i64 = factors.iter().product();
    let ranges = if cut.is_empty() { vec![(c_lo, c_hi)] } else { silc_ir::semantics::chunk_ranges(c_lo, c_hi, cut)? };
    let lengths = if cut.is_empty() { vec![shape.k] } else { cut.to_vec() };
    // The widest chunk with its least offset (the first also rounds).
    let need_total = ranges
        .iter()
        .enumerate()
        .map(|(i, &(lo, hi))| hi as i128 + chunks::least_offset(i, lo, d) as i128 + 1)
        .max()?;
    let plan_cost = |m: i64| {
        lengths
            .iter()
            .map(|&k| {
                let dims = Dims { k, ..shape };
                best_plan(p, nu, m, dims, force).or_else(|| best_plan(p, nu, m, dims, None)).map(|x| x.1)
            })
            .sum::<Option<u64>>()
    };
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
            ranges: &ranges,
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
            Op::MatMul | Op::AddDither { modulus: None, .. } => {
                let users = g.users(id);
                let ok = users.len() == 1
                    && matches!(g.node(users[0]).op, Op::Rescale { .. } | Op::AddDither { modulus: None, .. });
                assert!(ok, "internal error: a matmul must feed exactly one rescale, dithered or not");
                // Lowered together with its rescale.
            }
            Op::Rescale { factors, bits, shifts, relu } => {
                // A dithered product: `matmul → add_dither → rescale`.
                let (mm, dither) = match &g.node(node.args[0]).op {
                    Op::AddDither { stream, lo, hi, modulus: None } => {
                        (g.node(node.args[0]).args[0], Some((*stream, *lo, *hi)))
                    }
                    _ => (node.args[0], None),
                };
                let mnode = g.node(mm);
                assert!(matches!(mnode.op, Op::MatMul), "internal error: rescale of a non-matmul");
                let (a, b) = (mnode.args[0], mnode.args[1]);
                let shape = Dims::of(g, a, b);
                // The range the conversion takes: the product's, dither included.
                let (c_lo, c_hi) = (g.ty(node.args[0]).lo, g.ty(node.args[0]).hi);
                let out = node.ty.stored();
                let product = Product { p, nu, shape, c: (c_lo, c_hi), factors, out, offset: node.ty.offset };
                // The standard system, its odd moduli paired where that pays
                // (`pairs`; the divisor is chosen before, so pairing changes
                // no number). The choice among the systems below is made on
                // the unpaired price: the estimates are upper bounds, and
                // pairing's saving tipped Iris's and Wine's first products
                // from their wrap-first systems to dearer standard ones.
                let standard = choose_cover(&product, config.force.as_deref()).map(|s| {
                    let lengths = if s.chunks.is_empty() { vec![shape.k] } else { s.chunks.clone() };
                    let planned = match config.force {
                        None => pairs::plan(p, nu, shape, &s.moduli, &lengths),
                        Some(_) => (vec![], 0),
                    };
                    (s, planned)
                });
                // A forced method is a comparison of methods: no two-scale system then.
                let two_scale = if config.force.is_none() { fine::cover(&product, shifts) } else { None };
                let (cover, two_scale, paired) = match (standard, two_scale) {
                    (Some((s, _)), Some(f)) if f.pbs < s.pbs => (f, true, (vec![], 0)),
                    (Some((s, paired)), _) => (s, false, paired),
                    (None, Some(f)) => (f, true, (vec![], 0)),
                    (None, None) => return Err(no_moduli(node.loc, p, (shape.n, shape.k, shape.cols), (c_lo, c_hi))),
                };
                // The wrap-first system where it is cheaper still (it only
                // replaces a system that exists, so the divisors, and the
                // numbers, stay the same).
                let cheaper = if config.force.is_none() { wrap_first::cover(&product, shifts) } else { None };
                let (cover, two_scale, (paired, saved)) = match cheaper {
                    Some(w) if w.pbs < cover.pbs => (w, false, (vec![], 0)),
                    _ => (cover, two_scale, paired),
                };
                // A dither is a clear addition to each residue's torus sum,
                // which only the two-scale system holds for every modulus.
                let (cover, two_scale, paired, saved) = match dither {
                    None => (cover, two_scale, paired, saved),
                    Some(_) => match fine::cover(&product, shifts).filter(|f| fine::dither_summable(p, nu, f, shape)) {
                        Some(f) => (f, true, vec![], 0),
                        None => return Err(undithered(node.loc, p, (shape.n, shape.k, shape.cols), (c_lo, c_hi))),
                    },
                };
                let cover = Cover { pbs: cover.pbs - saved, ..cover };
                assert!(
                    cover.chunks.is_empty() || shifts.is_empty(),
                    "internal error: a block-scaled rescale was planned on a chunked product"
                );
                let Cover { moduli, pbs, chunks } = cover;
                let (na, nb) = (rw.get(a), rw.get(b));
                let spans = if chunks.is_empty() { vec![(0, shape.k)] } else { chunks::spans(&chunks) };
                let mut residues = Vec::new();
                for (start, len) in spans {
                    let ca = chunks::slice_k(&mut rw.new, na, 1, start, len, node.loc);
                    let cb = chunks::slice_k(&mut rw.new, nb, 0, start, len, node.loc);
                    let dims = Dims { k: len, ..shape };
                    let force = config.force.as_deref();
                    // A pair's product modulo `ab`, split into its two residues.
                    let mut split = std::collections::HashMap::new();
                    for pair in &paired {
                        let ab = product_mod(&mut rw.new, (ca, cb), pair.product(), (nu, dims, force), node.loc);
                        for m in [pair.a, pair.b] {
                            let table = Table::from_fn(format!("res{m}"), p, |e| e.rem_euclid(m));
                            split.insert(m, rw.new.lut(table, ab, node.loc));
                        }
                    }
                    for &m in &moduli {
                        let r = match split.get(&m) {
                            Some(&r) => r,
                            None => product_mod(&mut rw.new, (ca, cb), m, (nu, dims, force), node.loc),
                        };
                        residues.push(match dither {
                            Some((stream, lo, hi)) => {
                                let op = Op::AddDither { stream, lo, hi, modulus: Some(m) };
                                rw.new.push(op, vec![r], node.loc)
                            }
                            None => r,
                        });
                    }
                }
                let low = if two_scale { fine::low(factors) } else { wide_low(p, &moduli, factors) };
                let op = Op::FromResidues {
                    moduli: moduli.clone(),
                    n_div: factors.len(),
                    c_lo,
                    c_hi,
                    bits: *bits,
                    shifts: shifts.clone(),
                    relu: *relu,
                    low,
                    chunks: chunks.clone(),
                };
                let new = rw.new.add(op, residues, node.ty.clone(), node.loc);
                rw.map_to(id, new);
                let method = |m: i64| {
                    best_plan(p, nu, m, shape, config.force.as_deref())
                        .or_else(|| best_plan(p, nu, m, shape, None))
                        .map(|(pl, _)| pl.method.name().to_string())
                        .unwrap_or_default()
                };
                let methods = moduli
                    .iter()
                    .map(|&m| {
                        if two_scale && silc_ir::semantics::fine_modulus(p, m).is_some() {
                            return "fine-binomial".to_string();
                        }
                        match paired.iter().find(|q| q.a == m || q.b == m) {
                            Some(q) => format!("{} modulo {}", method(q.product()), q.product()),
                            None => method(m),
                        }
                    })
                    .collect();
                let wide = two_scale
                    && fine::layout(p, &moduli, low, factors.len(), (c_lo, c_hi), out, node.ty.offset)
                        .is_some_and(|(_, wide, _)| wide);
                let wrap_first = if shifts.is_empty() && chunks.is_empty() {
                    wrap_first::layout(p, &moduli, low, factors.len(), (c_lo, c_hi), out, node.ty.offset)
                        .map(|(upper, _)| upper)
                        .unwrap_or_default()
                } else {
                    vec![]
                };
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
                    chunks: chunks.len().max(1),
                    wide,
                    wrap_first,
                    dither: dither.map(|(_, lo, hi)| [lo, hi]),
                });
            }
            _ => {
                rw.copy(id);
            }
        }
    }
    Ok((rw.finish(), choices))
}

/// The residue product modulo `m` of one chunk `(a, b)`: of the raw
/// operands for the methods that read them (the wrapping and raw binomial
/// products, and a fine modulus), else of their residues.
fn product_mod(
    g: &mut Graph,
    (a, b): (silc_ir::ValueId, silc_ir::ValueId),
    m: i64,
    (nu, dims, force): (f64, Dims, Option<&str>),
    loc: Loc,
) -> silc_ir::ValueId {
    let p = g.bits;
    let raw = m == 1i64 << p
        || m == 1i64 << (p + 1)
        || silc_ir::semantics::fine_modulus(p, m).is_some()
        || best_plan(p, nu, m, dims, force)
            .or_else(|| best_plan(p, nu, m, dims, None))
            .is_some_and(|(pl, _)| pl.method.reads_raw());
    let (ra, rb) = if raw { (a, b) } else { (residue(g, a, m, loc), residue(g, b, m, loc)) };
    g.push(Op::ModMatMul { modulus: m }, vec![ra, rb], loc)
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

/// The most values any residue number system at precision `p` can tell
/// apart: `2^(p+1)` times, for every odd prime, its largest power up to
/// `2^(p-1)` (pairwise coprime moduli have disjoint prime factors, so no set
/// does better). The saturating chain may admit fewer. 3 360 at `p = 4`
/// (32·3·5·7), 2 882 880 at `p = 5` (64·9·5·7·11·13).
pub fn widest_cover(p: u32) -> i128 {
    let max = 1i64 << (p - 1);
    let odd_primes = (3..=max).step_by(2).filter(|&m| (3..m).step_by(2).all(|d| m % d != 0));
    odd_primes.fold(1i128 << (p + 1), |acc, q| {
        let mut power = q;
        while power * q <= max {
            power *= q;
        }
        acc.saturating_mul(power as i128)
    })
}

fn no_moduli(loc: Loc, p: u32, (n, k, m): (usize, usize, usize), (lo, hi): (i64, i64)) -> PassError {
    PassError::unsupported(
        loc,
        format!(
            "no residue number system at bits {p} covers this product, even cut into chunks: [{n}x{k}]·[{k}x{m}] ranges over [{lo}, {hi}]"
        ),
        "raise `bits`, or lower the tensor widths with `quantize`",
    )
}

fn undithered(loc: Loc, p: u32, (n, k, m): (usize, usize, usize), (lo, hi): (i64, i64)) -> PassError {
    PassError::unsupported(
        loc,
        format!(
            "dithered rounding needs a two-scale residue system with torus sums, and none at bits {p} takes this \
             product: [{n}x{k}]·[{k}x{m}] ranges over [{lo}, {hi}] with its dither"
        ),
        "write `rounding nearest;` (the default), or change `bits`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The moduli `choose_moduli` picks for a whole (not chunked) product.
    fn moduli_for(
        p: u32,
        shape: Dims,
        c: (i64, i64),
        factors: &[i64],
        out: (i64, i64),
        offset: i64,
    ) -> Option<Vec<i64>> {
        let nu = crate::params::for_precision(p).nu();
        choose_moduli(&Product { p, nu, shape, c, factors, out, offset }, None, &[]).map(|(m, _)| m)
    }

    /// Dimensions whose operands are too wide for the wrapping product.
    fn residues_only(n: usize, k: usize, cols: usize) -> Dims {
        Dims { n, k, cols, raw_width: i64::MAX / 4 }
    }

    #[test]
    fn the_wrapping_modulus_covers_breast_cancer_at_4_bits() {
        // [8x31]·[31x30] over 3-bit operands: moduli up to 8 cover at most
        // 8·7·5·3 = 840, short of the range; 16 by wrapping sums gives 1680.
        let dims = Dims { n: 8, k: 31, cols: 30, raw_width: 14 };
        let moduli = moduli_for(4, dims, (-372, 496), &[16], (0, 7), 4).expect("fits");
        assert_eq!(moduli[0], 16);
        assert!(moduli_for(4, residues_only(8, 31, 30), (-372, 496), &[7], (0, 7), 4).is_none());
    }

    #[test]
    fn the_widest_cover_at_4_bits_is_32_3_5_7() {
        assert_eq!(widest_cover(4), 32 * 3 * 5 * 7);
        assert_eq!(widest_cover(3), 16 * 3);
        assert_eq!(widest_cover(5), 64 * 9 * 5 * 7 * 11 * 13);
        assert!(widest_cover(5) > widest_cover(4) * 10);
    }

    #[test]
    fn small_products_get_a_chain_that_fits() {
        let moduli = moduli_for(8, residues_only(8, 4, 8), (-16128, 16384), &[32], (0, 127), 64).expect("fits");
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
        let got = moduli_for(5, residues_only(16, 784, 128), (-43904, 50176), &[8, 7], (0, 15), 8);
        assert!(got.is_none());
    }
}
