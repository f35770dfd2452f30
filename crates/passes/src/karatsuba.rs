//! `karatsuba`: lowers every residue matrix product `ModMatMul{m}` to ≤ p-bit
//! table lookups and leveled sums, choosing per modulus the cheapest product:
//!
//! - **packed**: `T[a·m + b] = a·b mod m`, one PBS; needs `m² ≤ 2^p` and the
//!   packing's 2-norm `√(m²+1)` within the noise bound ν;
//! - **quarter squares**: `a·b = ⌊(a+b)²/4⌋ - ⌊(a-b)²/4⌋`, two PBS (one table
//!   on `a+b`, one on `a-b+m-1` that outputs the negated square mod m). The
//!   two halves are accumulated as separate values in `[0, m)`, not as one
//!   term in `[0, 2m−2]`: at p = 4 three values mod 5 share a reduction, where
//!   a whole term mod 5 could not share one with anything;
//! - **binomial**: `a·b = C(a+b, 2) − C(a, 2) − C(b, 2)` with `C(x, 2) =
//!   x(x−1)/2`, an integer identity, so it holds modulo any m. One PBS per
//!   product (a table on `a+b`); the other two terms depend on one operand
//!   each, so they are one table per operand element, summed once per row
//!   of `a` and once per column of `b` and added to every output of that
//!   row or column as two more values. Half the product tables of quarter
//!   squares, and half their accumulated values. The identity needs no
//!   residues: on the **raw** operands (their sum within `2^p` entries) the
//!   tables answer modulo m directly, and the operands' residue tables go;
//! - **Karatsuba**: split residues into `h`-bit limbs `a = a1·2^h + a0` and use
//!   three limb products `a1·b1`, `a0·b0`, `(a1+a0)(b1+b0)`, each one packed
//!   table whose output is already multiplied by its weight mod m; three PBS.
//!
//! - **wrapping** (only for `m = 2^p` or `2^(p+1)`, see [`wrap`]): quarter
//!   squares (two PBS) or binomial terms (one PBS) of the raw operands,
//!   whose terms are summed with no reduction at all, because leveled sums
//!   wrap exactly modulo `2^(p+1)`; a `fold` per chunk reads the sum modulo
//!   `2^p`, and modulo `2^(p+1)` a chunk is refreshed by three PBS instead.
//!   Needs operands whose stored widths add up to less than `2^p`.
//!
//! A bias row (a constant column `c` of one operand, see `lower::bias_column`)
//! is not a product: its terms are `c·b mod m`, one table or none.
//!
//! Products are accumulated along the reduction axis in chunks small enough
//! that no partial sum leaves `[0, 2^p)` nor exceeds the noise bound, each chunk
//! reduced mod m by a table, repeatedly, until one residue per output remains.
//! Where that costs more than two PBS per output, an odd modulus's terms are
//! answered at the torus position `r/m` instead and summed with no reduction
//! at all (`karatsuba/torus`); two PBS read each sum.
//!
//! A residue product followed by an `add_dither` (dithered rounding, see
//! `rns`) is summed on the torus whatever it costs, and the dither is added
//! to each output's sum before the sum is read: a clear addition.

mod plan;
pub use plan::{best_plan, product_plans, reduction_pbs, Dims, Method, ProductPlan};
use plan::{best_raw_plan, chunk_for};
pub mod external;
pub(crate) mod torus;
pub use torus::{fine_own_sums, OwnSums};
pub(crate) mod wrap;

use silc_ir::{Graph, Op, Rewriter, Table, ValueId};

/// Options of the pass.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Force one product method (`packed`, `quarter-squares`, `binomial`,
    /// `raw-binomial`, `karatsuba`, `wrapping`, `wrapping-binomial`)
    /// where it is feasible, for tests and comparisons.
    pub force: Option<String>,
    /// Build the residue products of a sample by external products
    /// (`karatsuba::external`).
    pub external: bool,
}

/// Lowers every `ModMatMul` of `g`.
pub fn run(g: &Graph, nu: f64, config: &Config) -> Graph {
    let mut rw = Rewriter::new(g);
    let pairs = if config.external { external::pairs(g, nu) } else { Default::default() };
    let mut sums = std::collections::HashMap::new();
    for id in g.ids() {
        let node = g.node(id);
        if let Op::AddDither { modulus: Some(_), .. } = node.op {
            // Already added to its product's torus sum, below.
            let arg = node.args[0];
            assert!(
                matches!(g.node(arg).op, Op::ModMatMul { .. }) && g.users(arg) == [id],
                "internal error: a residue's dither must follow its product, the product's only user"
            );
            let product = rw.get(arg);
            rw.map_to(id, product);
            continue;
        }
        let Op::ModMatMul { modulus } = node.op else {
            rw.copy(id);
            continue;
        };
        if let Some(&member) = pairs.get(&id) {
            let new = external::lower(&mut rw, id, member, &mut sums);
            rw.map_to(id, new);
            continue;
        }
        let (a, b) = (rw.get(node.args[0]), rw.get(node.args[1]));
        // A dither joins the product's sum on the torus (`rns` chose a
        // system where every residue is summed there).
        let dither = torus_dither(g, id);
        // The fine sum of a two-scale conversion, on the raw operands.
        let new = if silc_ir::semantics::fine_modulus(g.bits, modulus).is_some() {
            let sum = torus::lower_fine(&mut rw.new, a, b, modulus, nu, refreshed_own_sums(g, id, nu), node.loc);
            match dither {
                Some(op) => rw.new.push(op, vec![sum], node.loc),
                None => sum,
            }
        } else if let Some(op) = dither {
            torus::lower_dithered(&mut rw.new, a, b, modulus, nu, op, node.loc)
        } else {
            lower_product(&mut rw.new, a, b, modulus, nu, config.force.as_deref(), node.loc)
        };
        rw.map_to(id, new);
    }
    rw.finish()
}

/// The dither of residue product `id` (its only user, an `add_dither` of
/// the residue), as it joins the product's sum on the torus.
pub(crate) fn torus_dither(g: &Graph, id: ValueId) -> Option<Op> {
    match g.users(id)[..] {
        [u] => match g.node(u).op {
            Op::AddDither { stream, lo, hi, modulus: Some(_) } => Some(Op::AddDither { stream, lo, hi, modulus: None }),
            _ => None,
        },
        _ => None,
    }
}

/// Whether the fine sum `id` of a two-scale system (`rns::fine`) refreshes
/// its rows' and columns' own sums to fit the noise bound, which depends
/// on the form (`rns::fine::layout`) its conversion takes. A sum whose
/// conversion has no layout is not refreshed (and the checker says so if
/// it does not fit).
fn refreshed_own_sums(g: &Graph, id: ValueId, nu: f64) -> bool {
    let form = || {
        // Through the product's dither, if it has one.
        let users = g.users(id);
        let users = match users[..] {
            [u] if matches!(g.node(u).op, Op::AddDither { .. }) => g.users(u),
            _ => users,
        };
        let conversion = users.into_iter().find(|&u| matches!(g.node(u).op, Op::FromResidues { .. }))?;
        let Op::FromResidues { moduli, n_div, c_lo, c_hi, low, .. } = &g.node(conversion).op else { return None };
        let ty = g.ty(conversion);
        let (_, wide, _) =
            crate::rns::fine::layout(g.bits, moduli, *low, *n_div, (*c_lo, *c_hi), ty.stored(), ty.offset)?;
        let k = g.ty(g.node(id).args[0]).shape[1];
        torus::fine_own_sums(nu, k, wide)
    };
    form() == Some(torus::OwnSums::Refreshed)
}

fn lower_product(
    g: &mut Graph,
    a: ValueId,
    b: ValueId,
    m: i64,
    nu: f64,
    force: Option<&str>,
    loc: silc_ir::Loc,
) -> ValueId {
    let p = g.bits;
    let dims = Dims::of(g, a, b);
    // `rns` gives residues in [0, m), or the raw operands to methods that read them.
    let residues = [a, b].iter().all(|&v| {
        let ty = g.ty(v);
        ty.offset == 0 && ty.lo >= 0 && ty.hi < m
    });
    let plan = if residues { best_plan(p, nu, m, dims, force) } else { best_raw_plan(p, nu, m, dims, force) }
        .or_else(|| if residues { best_plan(p, nu, m, dims, None) } else { best_raw_plan(p, nu, m, dims, None) })
        .unwrap_or_else(|| panic!("internal error: no product method for modulus {m} at {p} bits"))
        .0;
    if let Method::Wrapping { binomial } = plan.method {
        return wrap::lower(g, a, b, m, nu, binomial, loc);
    }
    if torus::pays(p, nu, m, &plan, dims.k) {
        return torus::lower(g, a, b, m, nu, &plan, loc);
    }
    let terms = terms_with_bias(g, a, b, loc, &|g, x, y| product_terms(g, x, y, m, &plan, nu, loc), &|g, x, c| {
        if residues {
            times_constant(g, x, c, m, loc)
        } else {
            // A raw operand's terms `c·x` are reduced into [0, m) by a table
            // (the residue sums cannot take a raw value as it is).
            wrap::times_constant_table(g, x, c, m, loc)
        }
    });
    accumulate(g, terms, m, plan.chunk, nu, loc)
}

/// The terms `[n, k, cols]` of `a·b`: `product(x, y)` for the encrypted
/// operands, and where `a` has a constant column `c` (a bias row, see
/// `lower::bias_column`), `scale(y, c)` for its terms, computed once on `b`
/// instead of as products.
pub(crate) fn terms_with_bias(
    g: &mut Graph,
    a: ValueId,
    b: ValueId,
    loc: silc_ir::Loc,
    product: &dyn Fn(&mut Graph, ValueId, ValueId) -> ValueId,
    scale: &dyn Fn(&mut Graph, ValueId, i64) -> ValueId,
) -> ValueId {
    let (n, k, cols) = (g.ty(a).shape[0], g.ty(a).shape[1], g.ty(b).shape[1]);
    match constant_column(g, a) {
        // `[a', c]·b = a'·b[..k-1] + c·b[k-1]`: the constant's terms are
        // `c·b`, on `b`'s last row, shared by all n rows.
        Some((rest, c, false)) => {
            let b_rest = g.push(Op::Slice { axis: 0, start: 0, len: k - 1 }, vec![b], loc);
            let b_last = g.push(Op::Slice { axis: 0, start: k - 1, len: 1 }, vec![b], loc);
            let t = product(g, rest, b_rest);
            let scaled = scale(g, b_last, c); // [1, cols]
            let extra = g.push(Op::Expand { axis: 0, n }, vec![scaled], loc); // [n, 1, cols]
            g.push(Op::Concat { axis: 1 }, vec![t, extra], loc)
        }
        // `[a'ᵀ; cᵀ]·b`: the last output row is `c·Σ_rows b`, its terms `c·b`.
        Some((rest, c, true)) => {
            let t = product(g, rest, b);
            let scaled = scale(g, b, c); // [k, cols]
            let mut extra = g.push(Op::Reshape { shape: vec![1, k, cols] }, vec![scaled], loc);
            // Products with more values than k (quarter squares' two halves,
            // binomial corrections) give the row as many: the constant's k,
            // then noiseless zeros.
            let values = g.ty(t).shape[1];
            if values > k {
                let first = g.push(Op::Slice { axis: 1, start: 0, len: 1 }, vec![extra], loc);
                let zero = g.push(Op::MulClear { c: 0 }, vec![first], loc);
                let mut parts = vec![extra];
                parts.extend(std::iter::repeat_n(zero, values - k));
                extra = g.push(Op::Concat { axis: 1 }, parts, loc);
            }
            g.push(Op::Concat { axis: 0 }, vec![t, extra], loc)
        }
        None => product(g, a, b),
    }
}

/// If `a` is `[a', c]` (a constant last column, see `lower::bias_column`),
/// or the transpose of one, returns `a'` (transposed likewise), `c mod m`'s
/// value and whether it was transposed.
fn constant_column(g: &mut Graph, a: ValueId) -> Option<(ValueId, i64, bool)> {
    let (inner, transposed) = match g.node(a).op {
        Op::Transpose => (g.node(a).args[0], true),
        _ => (a, false),
    };
    let node = g.node(inner).clone();
    let (Op::Concat { axis: 1 }, [.., last]) = (&node.op, node.args.as_slice()) else {
        return None;
    };
    let ty = g.ty(*last);
    if ty.lo != ty.hi || ty.shape[1] != 1 || node.args.len() < 2 {
        return None;
    }
    let c = ty.lo; // logical: a residue has offset 0, a raw column may not
    let loc = node.loc;
    let rest = if node.args.len() == 2 {
        node.args[0]
    } else {
        g.push(Op::Concat { axis: 1 }, node.args[..node.args.len() - 1].to_vec(), loc)
    };
    let rest = if transposed { g.push(Op::Transpose, vec![rest], loc) } else { rest };
    Some((rest, c, transposed))
}

/// `c·x mod m` for residues `x`: `x` itself when `c ≡ 1` (no table, so a
/// bias row costs nothing), else one table.
fn times_constant(g: &mut Graph, x: ValueId, c: i64, m: i64, loc: silc_ir::Loc) -> ValueId {
    let c = c.rem_euclid(m);
    if c == 1 {
        return x;
    }
    let p = g.bits;
    g.lut(Table::from_fn(format!("cmul{c}_{m}"), p, |v| (v * c).rem_euclid(m)), x, loc)
}

/// `a` (`[n, k]`) and `b` (`[k, cols]`) broadcast to `[n, k, cols]`.
pub(crate) fn spread(g: &mut Graph, a: ValueId, b: ValueId, loc: silc_ir::Loc) -> (ValueId, ValueId) {
    let (n, cols) = (g.ty(a).shape[0], g.ty(b).shape[1]);
    let ea = g.push(Op::Expand { axis: 2, n: cols }, vec![a], loc);
    let eb = g.push(Op::Expand { axis: 0, n }, vec![b], loc);
    (ea, eb)
}

/// A packed product of residues: the index `m·a + b` (`[n, k, cols]`) and
/// its table `a·b mod m`.
pub(crate) fn packed(g: &mut Graph, a: ValueId, b: ValueId, m: i64, loc: silc_ir::Loc) -> (ValueId, Table) {
    let (ea, eb) = spread(g, a, b, loc);
    let index = g.push(Op::Pack { scale: m }, vec![ea, eb], loc);
    (index, Table::from_fn(format!("mulmod{m}"), g.bits, |x| ((x / m) * (x % m)).rem_euclid(m)))
}

/// What a binomial product `a·b = C(a+b, 2) − C(a, 2) − C(b, 2)` mod `m`
/// looks up: the operands shifted to start at 0 (residues already do; the
/// tables add the low ends back), the index `a + b` (`[n, k, cols]`) with
/// its table, and each operand's own table `−C(x, 2)`.
pub(crate) struct Binomial {
    pub a0: ValueId,
    pub b0: ValueId,
    pub sum: ValueId,
    pub table: Table,
    pub own: (Table, Table),
    /// The low ends `a0` and `b0` were shifted by (`own_table`'s `lo`).
    pub lo: (i64, i64),
}

/// An operand's own binomial term `−C(v + lo, 2) mod m`, for `v` shifted
/// to start at 0.
pub(crate) fn own_table(p: u32, m: i64, lo: i64) -> Table {
    let name = if lo == 0 { "nbin".to_string() } else { format!("nbin{lo}_") };
    Table::from_fn(format!("{name}{m}"), p, move |v| (-((v + lo) * (v + lo - 1) / 2)).rem_euclid(m))
}

pub(crate) fn binomial(g: &mut Graph, a: ValueId, b: ValueId, m: i64, loc: silc_ir::Loc) -> Binomial {
    let p = g.bits;
    let (a0, la, _) = wrap::from_zero(g, a, loc);
    let (b0, lb, _) = wrap::from_zero(g, b, loc);
    let (ea, eb) = spread(g, a0, b0, loc);
    let sum = g.push(Op::Add, vec![ea, eb], loc);
    let c2 = |x: i64| x * (x - 1) / 2;
    let table = Table::from_fn(format!("bin{m}"), p, |s| c2(s + la + lb).rem_euclid(m));
    Binomial { a0, b0, sum, table, own: (own_table(p, m, la), own_table(p, m, lb)), lo: (la, lb) }
}

/// The terms `[n, k, cols]` of `a·b` mod `m` by `plan`'s method (`[n, 2k,
/// cols]` for quarter squares' two halves, `[n, k+2, cols]` for binomial
/// products and their two corrections).
fn product_terms(
    g: &mut Graph,
    a: ValueId,
    b: ValueId,
    m: i64,
    plan: &ProductPlan,
    nu: f64,
    loc: silc_ir::Loc,
) -> ValueId {
    let p = g.bits;
    let modt = |name: &str, f: &dyn Fn(i64) -> i64| Table::from_fn(format!("{name}{m}"), p, |x| f(x).rem_euclid(m));
    let spread = |g: &mut Graph, ra: ValueId, rb: ValueId| spread(g, ra, rb, loc);
    match plan.method {
        Method::Packed => {
            let (index, table) = packed(g, a, b, m, loc);
            g.lut(table, index, loc)
        }
        Method::QuarterSquares => {
            let (ea, eb) = spread(g, a, b);
            let sum = g.push(Op::Add, vec![ea, eb], loc);
            let diff = g.push(Op::Sub, vec![ea, eb], loc);
            let diff = g.push(Op::AddClear { c: m - 1 }, vec![diff], loc);
            let sq_sum = g.lut(modt("qsq+", &|s| s * s / 4), sum, loc);
            let sq_diff = g.lut(
                modt("qsq-", &|d| {
                    let x = d - (m - 1);
                    -(x * x / 4)
                }),
                diff,
                loc,
            );
            // Both halves go to the sum as values of their own: [n, 2k, cols].
            g.push(Op::Concat { axis: 1 }, vec![sq_sum, sq_diff], loc)
        }
        Method::Binomial { .. } => {
            let bin = binomial(g, a, b, m, loc);
            let terms = g.lut(bin.table, bin.sum, loc);
            let chunk = plan.chunk;
            // Each correction joins the terms as one fresh value: a sum
            // short enough to need no reduction is refreshed all the same.
            let reduce = |g: &mut Graph, t: ValueId| {
                let (rows, k, cols) = (g.ty(t).shape[0], g.ty(t).shape[1], g.ty(t).shape[2]);
                let mut sum = accumulate(g, t, m, chunk, nu, loc);
                if k > 1 && !matches!(g.node(g.node(sum).args[0]).op, Op::Lut { .. }) {
                    sum = g.lut(modt("mod", &|x| x), sum, loc);
                }
                g.push(Op::Reshape { shape: vec![rows, 1, cols] }, vec![sum], loc)
            };
            let corrections = binomial_corrections(g, bin.a0, bin.b0, bin.own, &reduce, loc);
            g.push(Op::Concat { axis: 1 }, vec![terms, corrections], loc)
        }
        Method::Wrapping { .. } => unreachable!("lowered by `wrap`"),
        Method::Karatsuba { h } => {
            let mask = (1i64 << h) - 1;
            let s = 1i64 << (h + 1);
            let limbs = |g: &mut Graph, r: ValueId| {
                let hi = g.lut(Table::from_fn(format!("limb_hi{h}"), p, |x| x >> h), r, loc);
                let lo = g.lut(Table::from_fn(format!("limb_lo{h}"), p, |x| x & mask), r, loc);
                let sum = g.push(Op::Add, vec![hi, lo], loc);
                (hi, lo, sum)
            };
            let (a1, a0, asum) = limbs(g, a);
            let (b1, b0, bsum) = limbs(g, b);
            let w_hi = ((1i64 << (2 * h)) - (1i64 << h)).rem_euclid(m);
            let w_lo = (1 - (1i64 << h)).rem_euclid(m);
            let w_mid = (1i64 << h).rem_euclid(m);
            let product = |g: &mut Graph, x: ValueId, y: ValueId, weight: i64, name: &str| {
                let (ex, ey) = spread(g, x, y);
                let packed = g.push(Op::Pack { scale: s }, vec![ex, ey], loc);
                let t = Table::from_fn(format!("{name}{m}"), p, |v| ((v / s) * (v % s) * weight).rem_euclid(m));
                g.lut(t, packed, loc)
            };
            let hh = product(g, a1, b1, w_hi, "kara_hh");
            let ll = product(g, a0, b0, w_lo, "kara_ll");
            let mid = product(g, asum, bsum, w_mid, "kara_mid");
            let s1 = g.push(Op::Add, vec![hh, ll], loc);
            g.push(Op::Add, vec![s1, mid], loc)
        }
    }
}

/// The corrections of a binomial product `a·b` (`[n, k]·[k, cols]`), as
/// `[n, 2v, cols]`: `Σ_k own.0(a)` for each row and `Σ_k own.1(b)` for each
/// column, spread over that row's or column's outputs. `reduce` sums
/// `[rows, k, cols]` along axis 1 into `[rows, v, cols]` fresh values.
pub(crate) fn binomial_corrections(
    g: &mut Graph,
    a: ValueId,
    b: ValueId,
    own: (Table, Table),
    reduce: &dyn Fn(&mut Graph, ValueId) -> ValueId,
    loc: silc_ir::Loc,
) -> ValueId {
    let (n, k, cols) = (g.ty(a).shape[0], g.ty(a).shape[1], g.ty(b).shape[1]);
    let ca = g.lut(own.0, a, loc);
    let ca = g.push(Op::Reshape { shape: vec![n, k, 1] }, vec![ca], loc);
    let rows = reduce(g, ca); // [n, v, 1]
    let v = g.ty(rows).shape[1];
    let rows = g.push(Op::Reshape { shape: vec![n, v] }, vec![rows], loc);
    let rows = g.push(Op::Expand { axis: 2, n: cols }, vec![rows], loc);
    let cb = g.lut(own.1, b, loc);
    let cb = g.push(Op::Reshape { shape: vec![1, k, cols] }, vec![cb], loc);
    let columns = reduce(g, cb); // [1, v, cols]
    let columns = g.push(Op::Reshape { shape: vec![v, cols] }, vec![columns], loc);
    let columns = g.push(Op::Expand { axis: 0, n }, vec![columns], loc);
    g.push(Op::Concat { axis: 1 }, vec![rows, columns], loc)
}

/// Sums `terms` (`[n, k, cols]`) along axis 1 into residues mod `m` (`[n, cols]`).
///
/// When the terms are residues themselves (at most `m − 1`, fresh: `chunk`
/// is the residues' own), each level reduces its full chunks and carries
/// the few values left over to the next level as they are, so every table
/// folds a whole chunk: `⌈(len − 1)/(chunk − 1)⌉` tables, against one per
/// group and level (a 10-long sum of residues mod 5 takes 5 tables, not 7).
/// Other terms (Karatsuba's, wider and noisier) are reduced group by group.
fn accumulate(g: &mut Graph, terms: ValueId, m: i64, chunk: usize, nu: f64, loc: silc_ir::Loc) -> ValueId {
    let p = g.bits;
    let reduce = Table::from_fn(format!("mod{m}"), p, |x| x.rem_euclid(m));
    let after = chunk_for(p, nu, m - 1, 1.0).max(1);
    if chunk == after && chunk >= 2 {
        let mut cur = terms;
        loop {
            let len = g.ty(cur).shape[1];
            if len <= chunk {
                let summed = g.push(Op::ReduceSum { axis: 1, chunk: len }, vec![cur], loc);
                let (lo, hi) = g.ty(summed).stored();
                cur = if hi >= m || lo < 0 { g.lut(reduce, summed, loc) } else { summed };
                break;
            }
            let full = len / chunk * chunk;
            let head =
                if full == len { cur } else { g.push(Op::Slice { axis: 1, start: 0, len: full }, vec![cur], loc) };
            let sums = g.push(Op::ReduceSum { axis: 1, chunk }, vec![head], loc);
            // Reduced, and so fresh for the next level.
            let reduced = g.lut(reduce.clone(), sums, loc);
            cur = if full == len {
                reduced
            } else {
                let rest = g.push(Op::Slice { axis: 1, start: full, len: len - full }, vec![cur], loc);
                g.push(Op::Concat { axis: 1 }, vec![reduced, rest], loc)
            };
        }
        let shape = vec![g.ty(cur).shape[0], g.ty(cur).shape[2]];
        return g.push(Op::Reshape { shape }, vec![cur], loc);
    }
    let mut cur = terms;
    let mut chunk = chunk;
    loop {
        let len = g.ty(cur).shape[1];
        let summed = if chunk > 1 || len == 1 { g.push(Op::ReduceSum { axis: 1, chunk }, vec![cur], loc) } else { cur };
        let (lo, hi) = g.ty(summed).stored();
        // Reduced when the range needs it, and refreshed before another
        // level sums it again.
        let again = summed != cur && g.ty(summed).shape[1] > 1;
        cur = if hi >= m || lo < 0 || again { g.lut(reduce.clone(), summed, loc) } else { summed };
        if g.ty(cur).shape[1] == 1 {
            break;
        }
        assert!(after >= 2, "internal error: residues mod {m} cannot be summed at {p} bits");
        chunk = after;
    }
    let shape = vec![g.ty(cur).shape[0], g.ty(cur).shape[2]];
    g.push(Op::Reshape { shape }, vec![cur], loc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use silc_ir::{Loc, Role, Type};

    /// Table lookups (PBS) `accumulate` builds for `len` residues mod `m` at
    /// p = 4, ν = 5.
    fn reduction_tables(m: i64, len: usize) -> usize {
        let mut g = Graph::new("acc", 4);
        let loc = Loc::default();
        let ty = Type::enc(vec![1, len, 1], 0, m - 1);
        let terms = g.add(Op::Input { name: "t".into(), role: Role::Data }, vec![], ty, loc);
        let chunk = chunk_for(4, 5.0, m - 1, 1.0);
        accumulate(&mut g, terms, m, chunk, 5.0, loc);
        g.ids().filter(|&i| matches!(g.node(i).op, Op::Lut { .. })).map(|i| g.ty(i).len()).sum()
    }

    #[test]
    fn leftover_residues_are_carried_so_every_table_folds_a_whole_chunk() {
        // Mod 5, three residues (≤ 12) per table: ⌈(len − 1)/2⌉ tables.
        assert_eq!(reduction_tables(5, 10), 5); // 7 when every group was reduced
        assert_eq!(reduction_tables(5, 18), 9);
        assert_eq!(reduction_tables(5, 3), 1);
        // Mod 7, two per table: len − 1 tables.
        assert_eq!(reduction_tables(7, 33), 32);
        // Mod 3, seven per table: 8 residues take 2 tables, not 3.
        assert_eq!(reduction_tables(3, 8), 2);
        // A single residue needs none.
        assert_eq!(reduction_tables(5, 1), 0);
    }
}
