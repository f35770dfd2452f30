//! The wrapping product: a residue modulo `2^p` that needs no reduction.
//!
//! Leveled sums of ciphertexts wrap exactly modulo `2^(p+1)`, so any sum is
//! right modulo `2^p` whatever its size. Each scalar product is two quarter
//! squares of the *raw* operands (shifted to start at 0, so their sum and
//! difference index a `2^p`-entry table): `a·b = ⌊(a+b)²/4⌋ - ⌊(a-b)²/4⌋`,
//! each table answering modulo `2^p`. The terms are summed along the
//! reduction axis in chunks limited only by the noise bound (`ν²/2` products),
//! and a `fold` (one bootstrap) reads each chunk's sum modulo `2^p`. Folded
//! chunks are summed and folded again; when a fold's noise leaves no room for
//! a second operand, an identity table refreshes it first.
//!
//! Against a modulus `m ≤ 2^(p-1)` by quarter squares this drops the
//! operand residue tables and every reduction (one PBS per product at
//! `p = 4`), and carries one more bit.
//!
//! The same products answered modulo `2^(p+1)` carry a bit more again. Their
//! sums are never folded (that would drop the top bit): a chunk sum `x` is
//! refreshed as `id(fold(x)) + top(x)`, three PBS, where `top(x)` is
//! `2^p·⌊x / 2^p⌋ mod 2^(p+1)`, a constant table whose negacyclic answer
//! flips sign between the two halves (see [`top`]). The last sum is left for
//! the mixed-radix conversion (`crate::scale`), which reads it the same way.
//!
//! Binomial terms (`a·b = C(a+b, 2) − C(a, 2) − C(b, 2)`, see the parent
//! module) need one table per product instead of two, and each term is one
//! fresh table output, so a chunk sums twice as many. The operands' own
//! terms are summed once per row and once per column (a fold tree, or a
//! refresh tree and one more refresh) and join every output as two values.

use silc_ir::{Graph, Loc, Op, Table, ValueId};

use super::terms_with_bias;

/// One level of the fold tree over a reduction axis of `len` elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    /// Refresh every element (identity table) before summing.
    pub refresh_first: bool,
    pub len: usize,
    /// Elements summed into one fold.
    pub chunk: usize,
}

impl Step {
    /// Bootstraps of this level per output element.
    pub fn pbs(&self) -> u64 {
        let refresh = if self.refresh_first { self.len } else { 0 };
        (refresh + self.len.div_ceil(self.chunk)) as u64
    }
}

/// The fold tree for `k` product terms (squared norm `norm2` each) at noise
/// bound `nu`: the first level folds chunks of `⌊(ν²-2)/norm2⌋` terms; a fold's noise
/// is its input's plus one, and later levels sum as many folds as the budget
/// allows, refreshing them first when not even two fit. The budget `ν² - 2`
/// leaves the result room for what reads it: the mixed-radix conversion adds
/// one fresh table output to a residue before its bootstrap.
pub(crate) fn fold_plan(nu: f64, k: usize, norm2: f64) -> Vec<Step> {
    let nu2 = (nu * nu - 2.0).max(2.0);
    let mut steps = Vec::new();
    let (mut len, mut norm2) = (k, norm2);
    let mut first = true;
    loop {
        let mut refresh_first = false;
        let mut chunk = (nu2 / norm2).floor() as usize;
        if !first && chunk < 2 {
            refresh_first = true;
            norm2 = 1.0;
            chunk = nu2.floor() as usize;
        }
        let chunk = chunk.clamp(1, len.max(1));
        steps.push(Step { refresh_first, len, chunk });
        norm2 = chunk as f64 * norm2 + 1.0;
        len = len.div_ceil(chunk);
        first = false;
        if len <= 1 {
            return steps;
        }
    }
}

/// The refresh tree of `k` terms modulo `2^(p+1)` (squared norm `norm2`
/// each): the chunk sizes, level by level. The first level sums chunks of
/// `⌊(ν² - 1)/norm2⌋`, later ones `⌊(ν² - 1)/2⌋` (a refreshed sum has
/// squared norm 2), leaving one for the `fold` that reads it; every level
/// but the last refreshes its chunk sums (three PBS each). `None` when
/// `ν² < 5` (two refreshed sums would not fit).
pub(crate) fn wide_plan(nu: f64, k: usize, norm2: f64) -> Option<Vec<usize>> {
    let later = ((nu * nu - 1.0) / 2.0).floor() as usize;
    let mut chunk = ((nu * nu - 1.0) / norm2.max(1.0)).floor() as usize;
    if later < 2 || chunk < 2 {
        return None;
    }
    let mut levels = Vec::new();
    let mut len = k.max(1);
    loop {
        levels.push(chunk.min(len));
        if len <= chunk {
            return Some(levels);
        }
        len = len.div_ceil(chunk);
        chunk = later;
    }
}

/// PBS per output element of [`wide_plan`]: three per refreshed chunk sum.
pub(crate) fn wide_pbs(nu: f64, k: usize, norm2: f64) -> Option<u64> {
    let levels = wide_plan(nu, k, norm2)?;
    let mut len = k.max(1);
    let mut pbs = 0;
    for &chunk in &levels[..levels.len() - 1] {
        len = len.div_ceil(chunk);
        pbs += 3 * len as u64;
    }
    Some(pbs)
}

/// `c·⌊x / 2^p⌋` for a stored `x` anywhere in `[0, 2^(p+1))` and an even
/// `c ≤ 2^p`: the constant table `v = 2^p - c/2` answers `v` below `2^p` and
/// `2^(p+1) - v` above (negacyclic); minus `v` that is `0` or `c`, with no
/// wrap, so the result's range `[0, c]` is provable. One PBS, fresh. The
/// checker lets a constant table read any stored value.
pub(crate) fn top(g: &mut Graph, x: ValueId, c: i64, loc: Loc) -> ValueId {
    let v = (1i64 << g.bits) - c / 2;
    let t = Table::from_fn(format!("top{c}"), g.bits, move |_| v);
    let answer = g.lut(t, x, loc);
    g.push(Op::AddClear { c: -v }, vec![answer], loc)
}

/// `f(x mod 2^p) + 2^p·⌊x / 2^p⌋`, i.e. `x·s mod 2^(p+1)` when `f(v) = v·s`
/// for an odd `s`: three PBS, squared norm 2.
pub(crate) fn read_wide(g: &mut Graph, x: ValueId, f: Table, loc: Loc) -> ValueId {
    let size = 1i64 << g.bits;
    let low = g.push(Op::Fold, vec![x], loc);
    let low = g.lut(f, low, loc);
    let high = top(g, x, size, loc);
    g.push(Op::Add, vec![low, high], loc)
}

/// `a·b mod modulus` (`[n, cols]`) for `a: [n, k]`, `b: [k, cols]` with raw
/// (non-residue) operands, `modulus` being `2^p` (in `[0, 2^p)`, folded) or
/// `2^(p+1)` (a wrapping sum within `ν² - 1`, see [`wide_plan`]); by
/// binomial terms or quarter squares.
pub(crate) fn lower(g: &mut Graph, a: ValueId, b: ValueId, modulus: i64, nu: f64, binomial: bool, loc: Loc) -> ValueId {
    let product = |g: &mut Graph, x: ValueId, y: ValueId| {
        if binomial {
            binomial_terms(g, x, y, modulus, nu, loc)
        } else {
            product_terms(g, x, y, modulus, loc)
        }
    };
    let terms = terms_with_bias(g, a, b, loc, &product, &|g, x, c| times_constant(g, x, c, modulus, loc));
    let norm2 = if binomial { 1.0 } else { 2.0 };
    if modulus == 1i64 << g.bits {
        accumulate(g, terms, nu, norm2, loc)
    } else {
        accumulate_wide(g, terms, nu, norm2, loc)
    }
}

/// `v` shifted so its stored values start at 0; with its logical low end and
/// its width.
pub(crate) fn from_zero(g: &mut Graph, v: ValueId, loc: Loc) -> (ValueId, i64, i64) {
    let ty = g.ty(v).clone();
    let (lo, hi) = ty.stored();
    let z = g.push(Op::AddClear { c: -lo }, vec![v], loc);
    (z, ty.lo, hi - lo)
}

/// `c·x mod size` for raw `x`: the logical value itself (it wraps) when
/// `c ≡ 1`, else one table.
fn times_constant(g: &mut Graph, x: ValueId, c: i64, size: i64, loc: Loc) -> ValueId {
    if c.rem_euclid(size) == 1 {
        let off = g.ty(x).offset;
        return g.push(Op::AddClear { c: -off }, vec![x], loc);
    }
    times_constant_table(g, x, c, size, loc)
}

/// `c·x mod size` for raw `x`, by one table, in `[0, size)`.
pub(crate) fn times_constant_table(g: &mut Graph, x: ValueId, c: i64, size: i64, loc: Loc) -> ValueId {
    let (z, lo, _) = from_zero(g, x, loc);
    let t = Table::from_fn(format!("wmul{}_{size}", c.rem_euclid(size)), g.bits, |v| (c * (v + lo)).rem_euclid(size));
    g.lut(t, z, loc)
}

/// Both operands from zero (see [`from_zero`]) and spread to `[n, k, cols]`.
struct Spread {
    a0: ValueId,
    b0: ValueId,
    ea: ValueId,
    eb: ValueId,
    /// The operands' logical low ends, and `b`'s width.
    la: i64,
    lb: i64,
    wb: i64,
}

fn spread(g: &mut Graph, a: ValueId, b: ValueId, loc: Loc) -> Spread {
    let n = g.ty(a).shape[0];
    let cols = g.ty(b).shape[1];
    let (a0, la, _) = from_zero(g, a, loc);
    let (b0, lb, wb) = from_zero(g, b, loc);
    let ea = g.push(Op::Expand { axis: 2, n: cols }, vec![a0], loc);
    let eb = g.push(Op::Expand { axis: 0, n }, vec![b0], loc);
    Spread { a0, b0, ea, eb, la, lb, wb }
}

/// The terms `[n, k, cols]` of `a·b`, each `≡ a·b (mod size)`, by quarter
/// squares of the raw operands.
fn product_terms(g: &mut Graph, a: ValueId, b: ValueId, size: i64, loc: Loc) -> ValueId {
    let p = g.bits;
    let Spread { ea, eb, la, lb, wb, .. } = spread(g, a, b, loc);
    // a + b = (a0 + b0) + la + lb;  a - b = (a0 - b0 + wb) - wb + la - lb.
    let sum = g.push(Op::Add, vec![ea, eb], loc);
    let diff = g.push(Op::Sub, vec![ea, eb], loc);
    let diff = g.push(Op::AddClear { c: wb }, vec![diff], loc);
    let q = |x: i64| x * x / 4;
    let tag = if size == 1i64 << p { "" } else { "w" };
    let plus = Table::from_fn(format!("wsq{tag}+"), p, |u| q(u + la + lb).rem_euclid(size));
    let minus = Table::from_fn(format!("wsq{tag}-"), p, |d| (-q(d - wb + la - lb)).rem_euclid(size));
    let sq_sum = g.lut(plus, sum, loc);
    let sq_diff = g.lut(minus, diff, loc);
    g.push(Op::Add, vec![sq_sum, sq_diff], loc)
}

/// The terms of `a·b`, each `≡` its part of `a·b (mod size)`, each of
/// squared norm 1: `C(a+b, 2)` for each product, then `−Σ C(a, 2)` over the
/// row and `−Σ C(b, 2)` over the column, as one value each modulo `2^p`
/// (`[n, k + 2, cols]`) and as two modulo `2^(p+1)` (`[n, k + 4, cols]`:
/// the sum's low part and its top, see [`read_wide`]).
fn binomial_terms(g: &mut Graph, a: ValueId, b: ValueId, size: i64, nu: f64, loc: Loc) -> ValueId {
    let p = g.bits;
    let Spread { a0, b0, ea, eb, la, lb, .. } = spread(g, a, b, loc);
    let sum = g.push(Op::Add, vec![ea, eb], loc);
    let c2 = |x: i64| x * (x - 1) / 2;
    let tag = if size == 1i64 << p { "" } else { "w" };
    let t = Table::from_fn(format!("wbin{tag}"), p, |u| c2(u + la + lb).rem_euclid(size));
    let terms = g.lut(t, sum, loc);
    let own = |lo: i64| Table::from_fn(format!("wnbin{tag}{lo}"), p, move |v| (-c2(v + lo)).rem_euclid(size));
    // A single term is one fresh table output already; a longer sum is read
    // and refreshed (a fold's output carries its input's noise), modulo
    // `2^(p+1)` as two fresh values.
    let reduce = |g: &mut Graph, t: ValueId| {
        let shape = g.ty(t).shape.clone();
        let one = vec![shape[0], 1, shape[2]];
        if shape[1] == 1 {
            return t;
        }
        let identity = Table::from_fn("refresh", p, |x| x);
        if size == 1i64 << p {
            let sum = accumulate(g, t, nu, 1.0, loc);
            let fresh = g.lut(identity, sum, loc);
            return g.push(Op::Reshape { shape: one }, vec![fresh], loc);
        }
        let sum = accumulate_wide(g, t, nu, 1.0, loc);
        let low = g.push(Op::Fold, vec![sum], loc);
        let low = g.lut(identity, low, loc);
        let high = top(g, sum, size / 2, loc);
        let low = g.push(Op::Reshape { shape: one.clone() }, vec![low], loc);
        let high = g.push(Op::Reshape { shape: one }, vec![high], loc);
        g.push(Op::Concat { axis: 1 }, vec![low, high], loc)
    };
    let corrections = super::binomial_corrections(g, a0, b0, (own(la), own(lb)), &reduce, loc);
    g.push(Op::Concat { axis: 1 }, vec![terms, corrections], loc)
}

/// Sums `terms` (`[n, k, cols]`, squared norm `norm2` each) along axis 1 by
/// the fold tree into residues modulo `2^p` (`[n, cols]`).
fn accumulate(g: &mut Graph, terms: ValueId, nu: f64, norm2: f64, loc: Loc) -> ValueId {
    let k = g.ty(terms).shape[1];
    let identity = Table::from_fn("refresh", g.bits, |x| x);
    let mut cur = terms;
    for step in fold_plan(nu, k, norm2) {
        if step.refresh_first {
            cur = g.lut(identity.clone(), cur, loc);
        }
        if step.chunk > 1 {
            cur = g.push(Op::ReduceSum { axis: 1, chunk: step.chunk }, vec![cur], loc);
        }
        cur = g.push(Op::Fold, vec![cur], loc);
    }
    let shape = vec![g.ty(cur).shape[0], g.ty(cur).shape[2]];
    g.push(Op::Reshape { shape }, vec![cur], loc)
}

/// Sums `terms` (`[n, k, cols]`, squared norm `norm2` each) along axis 1 by
/// the refresh tree into wrapping sums modulo `2^(p+1)` (`[n, cols]`).
fn accumulate_wide(g: &mut Graph, terms: ValueId, nu: f64, norm2: f64, loc: Loc) -> ValueId {
    let k = g.ty(terms).shape[1];
    let levels = wide_plan(nu, k, norm2).expect("internal error: the wide product needs ν² ≥ 5");
    let identity = Table::from_fn("refresh", g.bits, |x| x);
    let mut cur = terms;
    for (i, &chunk) in levels.iter().enumerate() {
        if chunk > 1 {
            cur = g.push(Op::ReduceSum { axis: 1, chunk }, vec![cur], loc);
        }
        if i + 1 < levels.len() {
            cur = read_wide(g, cur, identity.clone(), loc);
        }
    }
    let shape = vec![g.ty(cur).shape[0], g.ty(cur).shape[2]];
    g.push(Op::Reshape { shape }, vec![cur], loc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fold_tree_respects_the_noise_bound() {
        for nu in [2.0f64, 3.0, 5.0, 10.0, 15.0] {
            let nu2 = nu * nu - 2.0;
            for k in 1..300 {
                let plan = fold_plan(nu, k, 2.0);
                let mut norm2 = 2.0;
                let mut len = k;
                for s in &plan {
                    assert_eq!(s.len, len);
                    if s.refresh_first {
                        norm2 = 1.0;
                    }
                    assert!(s.chunk as f64 * norm2 <= nu2 + 1e-9 || s.chunk == 1, "k={k} ν²={nu2} {plan:?}");
                    norm2 = s.chunk.min(len) as f64 * norm2 + 1.0;
                    len = len.div_ceil(s.chunk);
                }
                assert_eq!(len, 1);
                assert!(norm2 <= nu * nu - 1.0, "the result leaves room for one more term");
            }
        }
    }

    #[test]
    fn the_wide_tree_keeps_every_read_within_the_noise_bound() {
        for nu in [3.0f64, 5.0, 10.0, 15.0] {
            for k in 1..300 {
                let levels = wide_plan(nu, k, 2.0).expect("ν² ≥ 5");
                let mut len = k;
                for (i, &chunk) in levels.iter().enumerate() {
                    // A sum of `chunk` values of squared norm 2, plus the fold's fresh output.
                    assert!(2.0 * chunk as f64 + 1.0 <= nu * nu + 1e-9, "k={k} ν={nu} {levels:?}");
                    len = len.div_ceil(chunk);
                    assert_eq!(len == 1, i + 1 == levels.len(), "k={k} ν={nu} {levels:?}");
                }
            }
        }
        assert_eq!(wide_plan(2.0, 10, 2.0), None);
        // k = 31 at ν = 5: chunks of 12 → 3 sums, refreshed (9 PBS), summed.
        assert_eq!(wide_pbs(5.0, 31, 2.0), Some(9));
        // Binomial terms (norm² 1) and the four values of their corrections:
        // 35 values in chunks of 24 → 2 sums, refreshed (6 PBS), summed.
        assert_eq!(wide_plan(5.0, 35, 1.0), Some(vec![24, 2]));
        assert_eq!(wide_pbs(5.0, 35, 1.0), Some(6));
    }

    #[test]
    fn a_breast_cancer_reduction_costs_a_few_folds() {
        // k = 31 at ν = 5: chunks of 11 → 3 folds (norm² 23), refreshed,
        // summed, folded once more.
        let pbs: u64 = fold_plan(5.0, 31, 2.0).iter().map(Step::pbs).sum();
        assert_eq!(pbs, 7);
        // Binomial terms: chunks of 23 → 2 folds, refreshed, folded: 5.
        let pbs: u64 = fold_plan(5.0, 31, 1.0).iter().map(Step::pbs).sum();
        assert_eq!(pbs, 5);
    }
}
