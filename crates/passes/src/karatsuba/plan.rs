//! How one residue product is computed, and what it costs: the methods
//! (packed, quarter squares, binomial, Karatsuba, wrapping), their plans
//! (PBS per product, term sizes, chunk lengths) and the reduction and
//! correction tables each needs per output. `rns` prices moduli with these
//! functions, and `karatsuba` builds the cheapest plan they find, so the
//! price and the circuit cannot drift apart.

use super::{torus, wrap};
use silc_ir::{Graph, ValueId};
/// How one residue product is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Method {
    Packed,
    QuarterSquares,
    /// Limbs of `h` bits.
    Karatsuba {
        h: u32,
    },
    /// `C(a+b, 2)` less the operands' own terms, on residues or on the raw
    /// operands.
    Binomial {
        raw: bool,
    },
    /// Products of the raw operands (quarter squares, or binomial terms
    /// when `binomial`), summed modulo `2^p` or `2^(p+1)` with no reduction.
    Wrapping {
        binomial: bool,
    },
}

/// The dimensions of a `[n,k]×[k,cols]` product, and the stored widths of its
/// operands added, `(hi_a - lo_a) + (hi_b - lo_b)`, which decides whether the
/// wrapping method applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub n: usize,
    pub k: usize,
    pub cols: usize,
    pub raw_width: i64,
}

impl Dims {
    /// The dimensions of `a·b` in `g`.
    pub fn of(g: &Graph, a: ValueId, b: ValueId) -> Dims {
        let (ta, tb) = (g.ty(a), g.ty(b));
        Dims { n: ta.shape[0], k: ta.shape[1], cols: tb.shape[1], raw_width: (ta.hi - ta.lo) + (tb.hi - tb.lo) }
    }
}

impl Method {
    /// Whether the method reads the raw operands rather than their residues.
    pub fn reads_raw(self) -> bool {
        matches!(self, Method::Wrapping { .. } | Method::Binomial { raw: true })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Packed => "packed",
            Method::QuarterSquares => "quarter-squares",
            Method::Karatsuba { .. } => "karatsuba",
            Method::Binomial { raw: false } => "binomial",
            Method::Binomial { raw: true } => "raw-binomial",
            Method::Wrapping { binomial: false } => "wrapping",
            Method::Wrapping { binomial: true } => "wrapping-binomial",
        }
    }
}

/// A product method with its costs, for one modulus at one precision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProductPlan {
    pub method: Method,
    /// PBS per scalar product.
    pub pbs_per_product: u64,
    /// Largest value of one accumulated term, and its squared 2-norm.
    pub term_max: i64,
    pub term_norm2: f64,
    /// Values summed before a reduction table.
    pub chunk: usize,
    /// Accumulated values per product: 2 for quarter squares, whose two
    /// halves are summed separately, else 1.
    pub values: usize,
    /// Values added to every output besides its products: the row's and the
    /// column's own terms of binomial products, one value each (two modulo
    /// `2^(p+1)`), else 0.
    pub extra_values: usize,
    /// Tables per operand element: its residue (limbs count separately)
    /// and, for binomial products, its own term `C(x, 2)`.
    pub tables_per_operand: u64,
}

fn bits_of(x: i64) -> u32 {
    64 - (x.max(0) as u64).leading_zeros()
}

/// Terms that can be summed before the sum leaves `[0, 2^p)` or the noise bound.
pub(super) fn chunk_for(p: u32, nu: f64, term_max: i64, term_norm2: f64) -> usize {
    let by_range = ((1i64 << p) - 1) / term_max.max(1);
    let by_noise = (nu * nu / term_norm2).floor() as i64;
    by_range.min(by_noise).max(0) as usize
}

/// Every feasible product method for modulus `m` at precision `p`, for
/// operands whose stored widths add up to `raw_width`.
pub fn product_plans(p: u32, nu: f64, m: i64, raw_width: i64, forced: Option<&str>) -> Vec<ProductPlan> {
    let size = 1i64 << p;
    let nu2 = nu * nu;
    let mut plans = Vec::new();
    let mut push = |method: Method, pbs: u64, term_max: i64, term_norm2: f64, values: usize, tables: u64| {
        let chunk = chunk_for(p, nu, term_max, term_norm2);
        if chunk >= 1 {
            plans.push(ProductPlan {
                method,
                pbs_per_product: pbs,
                term_max,
                term_norm2,
                chunk,
                values,
                extra_values: if matches!(method, Method::Binomial { .. }) { 2 } else { 0 },
                tables_per_operand: tables,
            });
        }
    };
    if m * m <= size && (m * m + 1) as f64 <= nu2 {
        push(Method::Packed, 1, m - 1, 1.0, 1, 1);
    }
    if 2 * m - 1 <= size {
        push(Method::QuarterSquares, 2, m - 1, 1.0, 2, 1);
        // One residue table per operand element, one correction table too.
        push(Method::Binomial { raw: false }, 1, m - 1, 1.0, 1, 2);
    }
    // On the raw operands: the correction tables only.
    if raw_width < size && m < size {
        push(Method::Binomial { raw: true }, 1, m - 1, 1.0, 1, 1);
    }
    let h = bits_of(m - 1).div_ceil(2);
    let s = 1i64 << (h + 1); // limb sums are below 2^(h+1)
    if h >= 1 && s * s <= size && (2 * s * s + 2) as f64 <= nu2 {
        push(Method::Karatsuba { h }, 3, 3 * (m - 1), 3.0, 1, 2);
    }
    // The wrapping product: terms are never reduced. Modulo 2^p, `chunk`
    // counts the products a fold reads (leaving room for the fold and for
    // the conversion's table); modulo 2^(p+1), those summed before a refresh
    // (leaving room for the fold inside it).
    // Binomial terms are one fresh table output each (squared norm 1), and
    // each operand element pays one correction table.
    for (modulus, spare, min_nu2) in [(size, 2.0, 4.0), (2 * size, 1.0, 5.0)] {
        if m == modulus && raw_width < size && nu2 >= min_nu2 {
            for binomial in [false, true] {
                let norm2 = if binomial { 1.0 } else { 2.0 };
                plans.push(ProductPlan {
                    method: Method::Wrapping { binomial },
                    pbs_per_product: if binomial { 1 } else { 2 },
                    term_max: 2 * m - 2,
                    term_norm2: norm2,
                    chunk: ((nu2 - spare) / norm2).floor() as usize,
                    values: 1,
                    extra_values: if !binomial {
                        0
                    } else if m == size {
                        2
                    } else {
                        4
                    },
                    tables_per_operand: u64::from(binomial),
                });
            }
        }
    }
    if let Some(f) = forced {
        plans.retain(|pl| pl.method.name() == f);
    }
    plans
}

/// Reduction tables per output element to fold `k` products (and the
/// plan's extra values) into one residue.
pub fn reduction_pbs(p: u32, nu: f64, m: i64, k: usize, plan: &ProductPlan) -> u64 {
    let k = k + plan.extra_values;
    if let Method::Wrapping { .. } = plan.method {
        if m == 1i64 << p {
            return wrap::fold_plan(nu, k, plan.term_norm2).iter().map(|s| s.pbs()).sum();
        }
        // The refresh tree, and the conversion's reading of the sum (at most
        // three PBS to pre-multiply it, four for its two digits; see `scale`).
        return wrap::wide_pbs(nu, k, plan.term_norm2).map_or(u64::MAX / 4, |pbs| pbs + 7);
    }
    residue_reduction_pbs(p, nu, m, k * plan.values, plan.chunk)
}

/// Tables that reduce `values` residues mod `m`, summed `chunk` at a time
/// and then as many as fit, into one.
///
/// This counts one table per group and level, an upper bound on what
/// `accumulate` builds when it carries leftover residues to the next level.
/// The exact count was tried: it made `rns` pick, for Iris's first product
/// at bits 4, the moduli 2·3·5·7 over 3·5·32, whose compiled step is 95
/// PBS dearer (the model does not price the conversion's extra radix), so
/// the bound stays.
fn residue_reduction_pbs(p: u32, nu: f64, m: i64, values: usize, chunk: usize) -> u64 {
    let after = chunk_for(p, nu, m - 1, 1.0).max(1);
    let mut groups = values.div_ceil(chunk) as u64;
    let mut total = groups;
    while groups > 1 {
        if after < 2 {
            return u64::MAX / 4; // cannot add two residues: infeasible
        }
        groups = groups.div_ceil(after as u64);
        total += groups;
    }
    total
}

/// The cheapest plan for a `[n,k]×[k,cols]` product mod `m`, with its PBS.
pub fn best_plan(p: u32, nu: f64, m: i64, dims: Dims, forced: Option<&str>) -> Option<(ProductPlan, u64)> {
    cheapest(p, nu, m, dims, product_plans(p, nu, m, dims.raw_width, forced))
}

/// The cheapest plan among those that read the raw operands.
pub(super) fn best_raw_plan(p: u32, nu: f64, m: i64, dims: Dims, forced: Option<&str>) -> Option<(ProductPlan, u64)> {
    let mut plans = product_plans(p, nu, m, dims.raw_width, forced);
    plans.retain(|pl| pl.method.reads_raw());
    cheapest(p, nu, m, dims, plans)
}

fn cheapest(p: u32, nu: f64, m: i64, dims: Dims, plans: Vec<ProductPlan>) -> Option<(ProductPlan, u64)> {
    let Dims { n, k, cols, .. } = dims;
    plans
        .into_iter()
        .map(|pl| {
            let outs = (n * cols) as u64;
            let (reduce, correct) = (reduction_pbs(p, nu, m, k, &pl), correction_pbs(p, nu, m, k, &pl));
            if reduce >= u64::MAX / 8 || correct >= u64::MAX / 8 {
                // A modulus no reduction table can sum (two residues modulo
                // 15 at p = 4 overflow the table) may still be summed on the
                // torus; else the plan is infeasible.
                let cost = if torus::pays(p, nu, m, &pl, k) { torus::summed_pbs(nu, &pl, dims) } else { u64::MAX };
                return (pl, cost);
            }
            let cost = outs * k as u64 * pl.pbs_per_product
                + outs * reduce
                + ((n * k + k * cols) as u64) * pl.tables_per_operand
                + (n + cols) as u64 * correct;
            (pl, cost)
        })
        .filter(|(_, c)| *c < u64::MAX / 8)
        .min_by_key(|(pl, c)| (*c, pl.pbs_per_product))
}

/// Tables that sum one row's (or one column's) `k` correction terms of a
/// binomial product into one value; 0 for the other methods.
fn correction_pbs(p: u32, nu: f64, m: i64, k: usize, plan: &ProductPlan) -> u64 {
    match plan.method {
        Method::Binomial { .. } => residue_reduction_pbs(p, nu, m, k, plan.chunk),
        Method::Wrapping { binomial: true } if k == 1 => 0,
        Method::Wrapping { binomial: true } if m == 1i64 << p => {
            wrap::fold_plan(nu, k, 1.0).iter().map(|s| s.pbs()).sum::<u64>() + 1
        }
        Method::Wrapping { binomial: true } => wrap::wide_pbs(nu, k, 1.0).map_or(u64::MAX / 4, |pbs| pbs + 3),
        _ => 0,
    }
}
