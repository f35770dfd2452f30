//! Residue products whose sums need no reduction: every product term, and
//! the terms that join it (a binomial product's row and column terms, a
//! bias column's), is a `lut_torus` answer, a residue modulo `m` held at
//! `r/m` on the torus, so the sums along the reduction wrap modulo `m`
//! exactly. A `torus_sign` and a `torus_read` (two PBS) read each output's
//! sum back onto the message grid, for the conversion (`scale`) as before:
//! the same residues, so the same numbers, as the reduction tables of
//! `karatsuba::accumulate` give.
//!
//! A read takes a sum of at most `ν² − 1` fresh answers (the sign it
//! subtracts is one more); longer sums are read in chunks back to the
//! torus (`torus_read` answering at `r/m`) and summed again. Only odd
//! moduli below `2^p` can be read (docs/arithmetic.md, "Residues at the
//! scale of their modulus"), and only where a read costs less than the
//! reduction tables it replaces ([`pays`]).

use silc_ir::{Graph, Loc, Op, Table, ValueId};

use super::{binomial, packed, terms_with_bias, wrap, Method, ProductPlan};

/// Fresh answers one read takes: the noise bound's, less the sign's.
fn per_read(nu: f64) -> usize {
    ((nu * nu).floor() as usize).saturating_sub(1)
}

/// `torus_read`s that bring `len` fresh answers to one: one per chunk of
/// [`per_read`], level by level.
pub(crate) fn reads(nu: f64, len: usize) -> u64 {
    let per = per_read(nu).max(2);
    let mut len = len;
    let mut total = 0;
    loop {
        let groups = len.div_ceil(per);
        total += groups as u64;
        if groups <= 1 {
            return total;
        }
        len = groups;
    }
}

/// Whether products modulo `m` by `plan` are summed on the torus: `m` odd
/// and readable (`3 ≤ m < 2^p`), a packed or binomial product, and two PBS
/// per read fewer than the reduction tables per output of `k` products
/// (the row and column terms of a binomial product are refreshed either
/// way).
pub fn pays(p: u32, nu: f64, m: i64, plan: &ProductPlan, k: usize) -> bool {
    if !summable(p, nu, m, plan) {
        return false;
    }
    // The terms of one output: its products, the two corrections, a bias.
    let len = k + plan.extra_values + 1;
    let chunk = plan.chunk.max(2);
    let tables = (len - 1).div_ceil(chunk - 1) as u64;
    2 * reads(nu, len) < tables
}

/// Whether products modulo `m` by `plan` can be summed on the torus at
/// all: `m` odd and readable (`3 ≤ m < 2^p`), a packed or binomial product.
pub fn summable(p: u32, nu: f64, m: i64, plan: &ProductPlan) -> bool {
    m % 2 == 1
        && m >= 3
        && m < 1i64 << p
        && per_read(nu) >= 2
        && matches!(plan.method, Method::Packed | Method::Binomial { .. })
}

/// The PBS of a `dims` product modulo `m` by `plan` summed on the torus:
/// its terms, the operands' tables, the refreshes of the row and column
/// terms where an output does not fit one read, and the reads (two PBS
/// each), the last of every output included.
pub fn summed_pbs(nu: f64, plan: &ProductPlan, dims: super::Dims) -> u64 {
    let super::Dims { n, k, cols, .. } = dims;
    let outs = (n * cols) as u64;
    let len = k + plan.extra_values + 1;
    let own = if plan.extra_values > 0 && 3 * k + 1 > per_read(nu) { 2 * reads(nu, k) } else { 0 };
    outs * k as u64 * plan.pbs_per_product
        + ((n * k + k * cols) as u64) * plan.tables_per_operand
        + (n + cols) as u64 * own
        + outs * 2 * reads(nu, len)
}

pub(crate) fn lut_torus(g: &mut Graph, table: Table, x: ValueId, m: i64, loc: Loc) -> ValueId {
    let table = g.intern(table);
    g.push(Op::LutTorus { table, m }, vec![x], loc)
}

/// Reads torus residues `x` (any shape) onto the grid (`to_torus = false`)
/// or back to `r/m`, fresh: a sign, then the read.
pub(crate) fn read(g: &mut Graph, x: ValueId, m: i64, to_torus: bool, loc: Loc) -> ValueId {
    let sign = g.push(Op::TorusSign, vec![x], loc);
    let table = g.intern(Table { name: format!("read{m}"), entries: (0..m).collect() });
    g.push(Op::TorusRead { table, torus: to_torus.then_some(m) }, vec![x, sign], loc)
}

/// Sums `terms` (`[n, len, cols]`, fresh torus residues modulo `m`) along
/// axis 1 and reads each sum: `[n, cols]` residues on the grid. A `dither`
/// (`add_dither`) joins each whole sum before its read.
fn accumulate(g: &mut Graph, terms: ValueId, m: i64, nu: f64, dither: Option<Op>, loc: Loc) -> ValueId {
    let per = per_read(nu);
    let mut cur = terms;
    loop {
        let len = g.ty(cur).shape[1];
        let mut sums = g.push(Op::ReduceSum { axis: 1, chunk: per }, vec![cur], loc);
        if len <= per {
            if let Some(op) = dither {
                // In the product's `[n, cols]` order, the dither's indices.
                let shape = g.ty(sums).shape.clone();
                let flat = g.push(Op::Reshape { shape: vec![shape[0], shape[2]] }, vec![sums], loc);
                let dithered = g.push(op, vec![flat], loc);
                sums = g.push(Op::Reshape { shape }, vec![dithered], loc);
            }
            let out = read(g, sums, m, false, loc);
            let shape = vec![g.ty(out).shape[0], g.ty(out).shape[2]];
            return g.push(Op::Reshape { shape }, vec![out], loc);
        }
        cur = read(g, sums, m, true, loc);
    }
}

/// `Σ_k x` along axis 1 of `[rows, k, cols]` torus residues
/// (`[rows, 1, cols]`): fresh (read back to the torus) when `refresh`,
/// else the plain sum, whose squared norm is `k`.
fn own_sum(g: &mut Graph, x: ValueId, m: i64, nu: f64, refresh: bool, loc: Loc) -> ValueId {
    let per = per_read(nu);
    let mut cur = x;
    loop {
        let len = g.ty(cur).shape[1];
        if len == 1 {
            return cur;
        }
        if !refresh {
            return g.push(Op::ReduceSum { axis: 1, chunk: len }, vec![cur], loc);
        }
        let sums = g.push(Op::ReduceSum { axis: 1, chunk: per }, vec![cur], loc);
        cur = read(g, sums, m, true, loc);
    }
}

/// `a·b mod m` by `plan` (packed or binomial), summed on the torus; `a`
/// and `b` are residues (in `[0, m)`, no offset) or raw operands.
pub fn lower(g: &mut Graph, a: ValueId, b: ValueId, m: i64, nu: f64, plan: &ProductPlan, loc: Loc) -> ValueId {
    // Whole outputs (k products, two sums of k, a bias term) that fit one
    // read are summed as they are. The checker sums a concatenation per
    // part along the summed axis only, so a transposed bias row,
    // concatenated along the other axis, takes fresh terms.
    let transposed = matches!(g.node(a).op, Op::Transpose);
    let refresh = |k: usize| 3 * k + 1 > per_read(nu) || transposed;
    let terms = terms(g, a, b, m, nu, plan.method, (&refresh, None), loc);
    accumulate(g, terms, m, nu, None, loc)
}

/// [`lower`] with `dither` (an `add_dither`) added to every output's sum
/// before its read, whether summing on the torus pays or not: the product
/// of a dithered rescale (`rns` checked [`summable`]).
pub fn lower_dithered(g: &mut Graph, a: ValueId, b: ValueId, m: i64, nu: f64, dither: Op, loc: Loc) -> ValueId {
    let p = g.bits;
    let dims = super::Dims::of(g, a, b);
    let residues = [a, b].iter().all(|&v| {
        let ty = g.ty(v);
        ty.offset == 0 && ty.lo >= 0 && ty.hi < m
    });
    let plans = super::product_plans(p, nu, m, dims.raw_width, None);
    let plan = plans
        .into_iter()
        .filter(|pl| summable(p, nu, m, pl) && (residues || pl.method.reads_raw()))
        .min_by_key(|pl| summed_pbs(nu, pl, dims))
        .unwrap_or_else(|| panic!("internal error: no product modulo {m} at {p} bits sums on the torus"));
    let transposed = matches!(g.node(a).op, Op::Transpose);
    let refresh = |k: usize| 3 * k + 1 > per_read(nu) || transposed;
    let terms = terms(g, a, b, m, nu, plan.method, (&refresh, None), loc);
    accumulate(g, terms, m, nu, Some(dither), loc)
}

/// How a fine sum's rows' and columns' own sums join it ([`fine_own_sums`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnSums {
    /// As they are: `k` answers each.
    Summed,
    /// Brought back to three fresh answers each ([`fine_refresh`]).
    Refreshed,
}

/// How the fine sum of `k` binomial products fits one sum within the noise
/// bound, with the one read the two-scale conversion adds (`scale::fine`),
/// and in the `wide` form the fold's own answer: with the row's and the
/// column's own sums as they are, `3k + 1 (+ 1) ≤ ν²`; else with each
/// refreshed to three answers, `k + 7 (+ 1) ≤ ν²`. `None` when neither fits.
pub fn fine_own_sums(nu: f64, k: usize, wide: bool) -> Option<OwnSums> {
    let fits = |answers: usize| (answers + usize::from(wide)) as f64 <= nu * nu + 1e-9;
    if fits(3 * k + 1) {
        Some(OwnSums::Summed)
    } else if fits(k + 7) {
        Some(OwnSums::Refreshed)
    } else {
        None
    }
}

/// PBS of one refreshed own sum ([`fine_refresh`]): a sign and two reads
/// of the residue modulo `d`, a fold, its table and the top bit's.
pub const REFRESH_PBS: u64 = 6;

/// `a·b` held at `(a·b mod m)/m` for the fine modulus `m = 2^(p+1)·d` of a
/// two-scale conversion (`scale::fine`): binomial products of the raw
/// operands, every term and the row and column terms summed once, never
/// reduced nor read (no bootstrap tells positions `1/m` apart). A
/// transposed bias row, `c·Σ_k b`, is summed apart and joins the other
/// rows' sums, so no output holds more than `3k` answers, or `k + 6` where
/// the own sums are `refresh`ed ([`fine_own_sums`]).
pub fn lower_fine(g: &mut Graph, a: ValueId, b: ValueId, m: i64, nu: f64, refresh: bool, loc: Loc) -> ValueId {
    let method = Method::Binomial { raw: true };
    let never = |_: usize| false;
    let fine = refresh.then(|| silc_ir::semantics::fine_modulus(g.bits, m).expect("a fine modulus"));
    let sum = |g: &mut Graph, terms: ValueId| {
        let (n, len, cols) = (g.ty(terms).shape[0], g.ty(terms).shape[1], g.ty(terms).shape[2]);
        let s = g.push(Op::ReduceSum { axis: 1, chunk: len }, vec![terms], loc);
        g.push(Op::Reshape { shape: vec![n, cols] }, vec![s], loc)
    };
    match super::constant_column(g, a) {
        Some((rest, c, true)) => {
            let t = terms(g, rest, b, m, nu, method, (&never, fine), loc);
            let top = sum(g, t);
            let (k, cols) = (g.ty(b).shape[0], g.ty(b).shape[1]);
            let scaled = times_raw(g, b, c, m, loc);
            let scaled = g.push(Op::Reshape { shape: vec![1, k, cols] }, vec![scaled], loc);
            let bottom = sum(g, scaled);
            g.push(Op::Concat { axis: 0 }, vec![top, bottom], loc)
        }
        _ => {
            let t = terms(g, a, b, m, nu, method, (&never, fine), loc);
            sum(g, t)
        }
    }
}

/// A fine own sum `s` (`[rows, 1, cols]`, `S` held at `S/m`, `m =
/// 2^(p+1)·d`) as three fresh answers. `x0` is its operand from zero,
/// whose own terms modulo `d` (`own_d`, shaped `terms` as the fine ones)
/// are summed on the torus `d` and read fresh (the residue system modulo
/// `d` sums the same ones, so they merge): `r = S mod d`. Its read
/// answering `−r` at `1/m` takes `s` onto the grid at `⌊S/d⌋ mod 2^(p+1)`
/// (`on_grid`), which a fold, a table of the fold and the top bit's
/// constant table answer again at `1/m`, as `d·⌊S/d⌋`; a read answering
/// `r` completes `S`. Six PBS ([`REFRESH_PBS`]); the fold reads `k + 1`
/// answers.
#[allow(clippy::too_many_arguments)]
fn fine_refresh(
    g: &mut Graph,
    s: ValueId,
    x0: ValueId,
    own_d: Table,
    terms: Vec<usize>,
    (d, m): (i64, i64),
    nu: f64,
    loc: Loc,
) -> ValueId {
    let p = g.bits;
    let t = lut_torus(g, own_d, x0, d, loc);
    let t = g.push(Op::Reshape { shape: terms }, vec![t], loc);
    let r = own_sum(g, t, d, nu, true, loc);
    let sign = g.push(Op::TorusSign, vec![r], loc);
    let answer = |g: &mut Graph, name: &str, f: &dyn Fn(i64) -> i64| {
        let table = g.intern(Table { name: format!("{name}{d}/{m}"), entries: (0..d).map(f).collect() });
        g.push(Op::TorusRead { table, torus: Some(m) }, vec![r, sign], loc)
    };
    let neg = answer(g, "fineneg", &|x| (-x).rem_euclid(m));
    let pos = answer(g, "fine", &|x| x);
    let shifted = g.push(Op::Add, vec![s, neg], loc);
    let q = g.push(Op::OnGrid { d, hi: (2i64 << p) - 1 }, vec![shifted], loc);
    let folded = g.push(Op::Fold, vec![q], loc);
    let low = lut_torus(g, Table::from_fn(format!("fine{d}lo"), p, move |v| (d * v).rem_euclid(m)), folded, m, loc);
    // The top bit: a constant `m/4` answers `m/4` below half the grid and
    // `−m/4` above; less `m/4`, that is 0 or `m/2 = d·2^p`.
    let quarter = m / 4;
    let high = lut_torus(g, Table::from_fn(format!("finetop{m}"), p, move |_| quarter), q, m, loc);
    let high = g.push(Op::AddClear { c: -quarter }, vec![high], loc);
    let sum = g.push(Op::Add, vec![low, high], loc);
    g.push(Op::Add, vec![sum, pos], loc)
}

/// `c·x mod m` at `r/m` for raw operands `x`, one table per element.
fn times_raw(g: &mut Graph, x: ValueId, c: i64, m: i64, loc: Loc) -> ValueId {
    let p = g.bits;
    let (z, lo, _) = wrap::from_zero(g, x, loc);
    let table = Table::from_fn(format!("wmul{}_{m}", c.rem_euclid(m)), p, |v| (c * (v + lo)).rem_euclid(m));
    lut_torus(g, table, z, m, loc)
}

/// The terms `[n, len, cols]` of `a·b mod m` by `method` (packed or
/// binomial), each a fresh torus answer or (a binomial product's row and
/// column terms) a sum of them, read back fresh where `refresh(k)` says so.
#[allow(clippy::too_many_arguments)]
fn terms(
    g: &mut Graph,
    a: ValueId,
    b: ValueId,
    m: i64,
    nu: f64,
    method: Method,
    (refresh, fine): (&dyn Fn(usize) -> bool, Option<i64>),
    loc: Loc,
) -> ValueId {
    let p = g.bits;
    let residues = [a, b].iter().all(|&v| {
        let ty = g.ty(v);
        ty.offset == 0 && ty.lo >= 0 && ty.hi < m
    });
    let modt = |name: &str, f: &dyn Fn(i64) -> i64| Table::from_fn(format!("{name}{m}"), p, |x| f(x).rem_euclid(m));
    let product = |g: &mut Graph, a: ValueId, b: ValueId| -> ValueId {
        let (n, k, cols) = (g.ty(a).shape[0], g.ty(a).shape[1], g.ty(b).shape[1]);
        match method {
            Method::Packed => {
                let (index, table) = packed(g, a, b, m, loc);
                lut_torus(g, table, index, m, loc)
            }
            Method::Binomial { .. } => {
                let bin = binomial(g, a, b, m, loc);
                let terms = lut_torus(g, bin.table, bin.sum, m, loc);
                // Each row's and each column's own terms, summed, join every
                // output of that row or column.
                let refresh = refresh(k);
                // A fine sum's own sums, refreshed from their residues modulo `d`.
                let own = |g: &mut Graph, x0: ValueId, table: Table, lo: i64, shape: Vec<usize>| {
                    let c = lut_torus(g, table, x0, m, loc);
                    let c = g.push(Op::Reshape { shape: shape.clone() }, vec![c], loc);
                    let s = own_sum(g, c, m, nu, refresh, loc);
                    match fine {
                        Some(d) => fine_refresh(g, s, x0, super::own_table(g.bits, d, lo), shape, (d, m), nu, loc),
                        None => s,
                    }
                };
                let rows = own(g, bin.a0, bin.own.0, bin.lo.0, vec![n, k, 1]);
                let rows = g.push(Op::Reshape { shape: vec![n, 1] }, vec![rows], loc);
                let rows = g.push(Op::Expand { axis: 2, n: cols }, vec![rows], loc);
                let columns = own(g, bin.b0, bin.own.1, bin.lo.1, vec![1, k, cols]);
                let columns = g.push(Op::Reshape { shape: vec![1, cols] }, vec![columns], loc);
                let columns = g.push(Op::Expand { axis: 0, n }, vec![columns], loc);
                g.push(Op::Concat { axis: 1 }, vec![terms, rows, columns], loc)
            }
            other => unreachable!("`{}` is not summed on the torus", other.name()),
        }
    };
    // A bias column's terms `c·x mod m`, one table per element of `b`'s row.
    let scale = |g: &mut Graph, x: ValueId, c: i64| -> ValueId {
        if residues {
            lut_torus(g, modt(&format!("cmul{}_", c.rem_euclid(m)), &|v| v * c), x, m, loc)
        } else {
            times_raw(g, x, c, m, loc)
        }
    };
    terms_with_bias(g, a, b, loc, &product, &scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::karatsuba::{best_plan, Dims};
    use silc_ir::{Role, Type};

    fn plan(m: i64, k: usize) -> ProductPlan {
        let dims = Dims { n: 8, k, cols: 8, raw_width: i64::MAX };
        best_plan(4, 5.0, m, dims, Some("binomial")).expect("a binomial plan").0
    }

    #[test]
    fn reads_pay_where_reductions_cost_more_than_two_pbs_per_output() {
        // Mod 5 (three residues per reduction table): 31 products, two
        // corrections and a bias term take 17 tables; two chunks read back
        // to the torus and one final read, 6 PBS.
        assert!(pays(4, 5.0, 5, &plan(5, 31), 31));
        // Two products and their corrections take 2 tables: no gain.
        assert!(!pays(4, 5.0, 5, &plan(5, 2), 2));
        // Even moduli fold onto each other; 2^p and above are not read.
        assert!(!pays(4, 5.0, 6, &plan(5, 31), 31));
        assert!(!pays(4, 5.0, 17, &plan(5, 31), 31));
    }

    #[test]
    fn a_long_sum_is_read_in_chunks_and_once_more() {
        // 60 fresh residues mod 5 at ν = 5: chunks of 24, read back to the
        // torus (3 reads), then one read of their sum: 4 reads, 8 PBS.
        let mut g = Graph::new("t", 4);
        let loc = Loc::default();
        let x = g.add(Op::Input { name: "x".into(), role: Role::Data }, vec![], Type::enc(vec![1, 60], 0, 15), loc);
        let t = lut_torus(&mut g, Table::from_fn("bin5", 4, |v| (v * (v - 1) / 2).rem_euclid(5)), x, 5, loc);
        let t = g.push(Op::Reshape { shape: vec![1, 60, 1] }, vec![t], loc);
        let out = accumulate(&mut g, t, 5, 5.0, None, loc);
        assert_eq!(g.ty(out).torus, None, "read onto the grid");
        assert_eq!(reads(5.0, 60), 4);
        let sign_count = g.ids().filter(|&i| matches!(g.node(i).op, Op::TorusSign)).count();
        assert_eq!(sign_count, 2, "one level of chunks, one final read");
        assert_eq!(g.pbs_count(), 60 + 2 * 4);
    }
}
