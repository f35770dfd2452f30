//! `check`: proves that every bootstrap input lies in `[0, 2^p)` and that the
//! linear combination feeding it stays within the noise bound ν.
//!
//! Two forward analyses over the graph, results in side tables:
//! - **ranges**, an interval lattice recomputed from the inputs with
//!   [`silc_ir::infer`] (declared types are not trusted);
//! - **noise**, the squared 2-norm of each value as a combination of fresh
//!   ciphertexts (a fresh encryption or a bootstrap output has norm 1; `a ± b`
//!   adds squared norms; multiplying by a clear `c` multiplies by `c²`; an
//!   `ext_dot` of `k` terms of client values up to `|x|` has
//!   `k·(x²·r + e(x))`, a refresh's answer `r` and the external product's
//!   own `e`, both of `params::external`, which also prices the refreshes:
//!   each element of its second operand is a bootstrap input here).
//!
//! Outputs must also decrypt: their stored range must lie in `[0, 2^p)`.
//! An `add_exclusive` is given the hull of its operands as its range; its
//! premise (one operand at a time leaves its idle value) is proven here by
//! enumeration on the checker's own ranges ([`crate::exclusive`]).
//! The one exception to the range rule is `fold`, built to read a sum that
//! wraps modulo `2^(p+1)`; its input is still held to the noise bound.

use crate::exclusive;
use crate::params::external;
use serde::Serialize;
use silc_ir::{infer, Graph, Loc, Op, SideTable, ValueId};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ViolationKind {
    /// A bootstrap input (or an output) may leave `[0, 2^p)`.
    Range { lo: i64, hi: i64, bound: i64 },
    /// A bootstrap input's 2-norm exceeds ν.
    Noise { norm: f64, nu: f64 },
    /// An `add_exclusive` whose operands are not proven to leave their
    /// idle values one at a time (`crate::exclusive`): its range is unsound.
    Exclusive { reason: String },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    pub value: String,
    pub op: String,
    pub kind: ViolationKind,
    pub loc: Loc,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            ViolationKind::Range { lo, hi, bound } => {
                let why = match self.op.as_str() {
                    "output" | "input" => "so it would not decrypt to its value",
                    _ => "where a bootstrap would answer with a negated entry",
                };
                write!(f, "{} ({}) may hold values in [{lo}, {hi}], outside [0, {bound}) {why}", self.value, self.op)
            }
            ViolationKind::Noise { norm, nu } => write!(
                f,
                "{} ({}) feeds a bootstrap with noise 2-norm {norm:.2}, above the bound ν = {nu:.2}",
                self.value, self.op
            ),
            ViolationKind::Exclusive { reason } => {
                write!(f, "{} ({}) adds operands not proven exclusive: {reason}", self.value, self.op)
            }
        }
    }
}

/// The analyses' results, keyed by value id.
pub struct Analysis {
    pub ranges: SideTable<(i64, i64)>,
    pub noise2: SideTable<f64>,
}

/// Runs both analyses.
pub fn analyse(g: &Graph) -> Analysis {
    let mut ranges = SideTable::with_len(g.len(), (0, 0));
    let mut noise2 = SideTable::with_len(g.len(), 0.0);
    // A scratch graph would be needed to re-infer with computed ranges; instead
    // infer on a copy whose types are replaced as we go.
    let mut work = g.clone();
    for id in g.ids() {
        let n = g.node(id);
        let ty = match &n.op {
            Op::Input { .. } => n.ty.clone(),
            op => infer::infer(&work, op, &n.args).unwrap_or_else(|_| n.ty.clone()),
        };
        // Keep the declared offset: it is how the next op reads the value.
        let mut t = ty.clone();
        if !matches!(n.op, Op::Input { .. }) && (n.op.is_high_level() || n.op.is_layout()) {
            t.offset = n.ty.offset;
        } else if !matches!(n.op, Op::Input { .. }) {
            // Low ops compute stored integers; re-express with the declared offset.
            let (lo, hi) = ty.stored();
            t.offset = n.ty.offset;
            t.lo = lo - t.offset;
            t.hi = hi - t.offset;
        }
        ranges.set(id, t.stored());
        work.set_type(id, t);
        let arg = |i: usize| noise2[n.args[i]];
        let nz = match &n.op {
            // A form is the client's fresh encryption.
            Op::Input { .. }
            | Op::Form { .. }
            | Op::Lut { .. }
            | Op::LutMany { .. }
            | Op::LutTorus { .. }
            | Op::TorusSign
            | Op::TorusRead { .. } => 1.0,
            // The input plus a fresh bootstrap output.
            Op::Fold => arg(0) + 1.0,
            Op::Add | Op::AddExclusive { .. } | Op::Sub => arg(0) + arg(1),
            Op::MulClear { c } => arg(0) * (*c as f64).powi(2),
            Op::Pack { scale } => arg(0) * (*scale as f64).powi(2) + arg(1),
            // One group over a concatenation along the summed axis: each
            // part counts with its own norm (`karatsuba::torus` sums
            // products, row and column terms of different norms this way).
            Op::ReduceSum { axis, chunk } if *chunk >= g.ty(n.args[0]).shape[*axis] => {
                concat_sum_noise2(g, &noise2, n.args[0], *axis)
            }
            Op::ReduceSum { axis, chunk } => arg(0) * (*chunk).min(g.ty(n.args[0]).shape[*axis]) as f64,
            Op::Concat { .. } => n.args.iter().map(|&a| noise2[a]).fold(0.0, f64::max),
            // Each term: the refreshed operand's noise times x², and the
            // external product's own (`params::external`).
            Op::ExtDot { transpose, .. } => {
                let a = work.ty(n.args[0]);
                let k = a.shape[usize::from(!*transpose)] as f64;
                let x = a.lo.abs().max(a.hi.abs());
                k * ((x * x) as f64 * external::refresh_ratio() + external::product_ratio(x))
            }
            Op::Coarsen { by } => arg(0) * (*by as f64).powi(2),
            // High-level ops are bootstrapped internally; their outputs are fresh.
            op if op.is_high_level() => 1.0,
            _ => arg(0),
        };
        noise2.set(id, nz);
    }
    Analysis { ranges, noise2 }
}

/// The squared norm of the sum of `v` along `axis`: per part where `v`
/// concatenates along that axis, else its norm times the length.
fn concat_sum_noise2(g: &Graph, noise2: &SideTable<f64>, v: ValueId, axis: usize) -> f64 {
    match &g.node(v).op {
        Op::Concat { axis: a } if *a == axis => {
            g.node(v).args.iter().map(|&x| concat_sum_noise2(g, noise2, x, axis)).sum()
        }
        _ => noise2[v] * g.ty(v).shape[axis] as f64,
    }
}

/// The largest 2-norm of any value feeding a bootstrap: what a parameter set's
/// noise bound must cover.
pub fn max_bootstrap_norm(g: &Graph) -> f64 {
    let a = analyse(g);
    g.ids()
        .filter(|&i| g.node(i).op.is_bootstrap() || matches!(g.node(i).op, Op::ExtDot { .. }))
        .map(|i| bootstrap_input_noise2(g, &a, i).sqrt())
        .fold(0.0, f64::max)
}

/// The squared norm of what bootstrap `id` rotates: its operand, or for a
/// `torus_read` the residue minus its sign.
fn bootstrap_input_noise2(g: &Graph, a: &Analysis, id: ValueId) -> f64 {
    let n = g.node(id);
    match n.op {
        Op::TorusRead { .. } => a.noise2[n.args[0]] + a.noise2[n.args[1]],
        Op::ExtDot { .. } => a.noise2[n.args[1]],
        _ => a.noise2[n.args[0]],
    }
}

/// `add_exclusive`'s premise for operands `args` idle at `idle`.
fn exclusive_premise(g: &Graph, a: &Analysis, args: &[ValueId], idle: &[i64]) -> Result<(), String> {
    exclusive::prove(g, &exclusive::flatten(g, args, idle)?, &|v| a.ranges[v])
}

/// Every violation in `g` at noise bound `nu`.
pub fn check(g: &Graph, nu: f64) -> (Analysis, Vec<Violation>) {
    let a = analyse(g);
    let bound = 1i64 << g.bits;
    let mut out = Vec::new();
    let describe = |id: ValueId| (id.to_string(), g.node(id).op.name().to_string(), g.node(id).loc);
    for id in g.ids() {
        let n = g.node(id);
        if let Op::AddExclusive { idle } = &n.op {
            if let Err(reason) = exclusive_premise(g, &a, &n.args, idle) {
                let (value, op, loc) = describe(id);
                out.push(Violation { value, op, kind: ViolationKind::Exclusive { reason }, loc });
            }
        }
        let feeds: Vec<ValueId> = match &n.op {
            Op::Lut { .. } | Op::LutMany { .. } | Op::Fold | Op::LutTorus { .. } => vec![n.args[0]],
            // Each element of the second operand is refreshed by a blind rotation.
            Op::ExtDot { .. } => vec![n.args[1]],
            // A torus residue is read wherever it lies; only its noise counts.
            Op::TorusSign | Op::TorusRead { .. } => {
                let norm2 = bootstrap_input_noise2(g, &a, id);
                if norm2 > nu * nu + 1e-9 {
                    let (value, op, loc) = describe(n.args[0]);
                    out.push(Violation { value, op, kind: ViolationKind::Noise { norm: norm2.sqrt(), nu }, loc });
                }
                continue;
            }
            Op::Output { .. } | Op::Input { .. } => vec![id],
            _ => continue,
        };
        // A fold, and a constant table (whose negacyclic answer is the sign
        // of the half its input lies in, see `karatsuba::wrap::top`), read
        // any stored value: their input need not be in range.
        let any_input = match &n.op {
            Op::Fold => true,
            Op::Lut { table } | Op::LutTorus { table, .. } => {
                g.tables.get(*table).entries.windows(2).all(|w| w[0] == w[1])
            }
            _ => false,
        };
        for v in feeds {
            let (lo, hi) = a.ranges[v];
            let (value, op, loc) = describe(v);
            if (lo < 0 || hi >= bound) && !any_input {
                out.push(Violation {
                    value: value.clone(),
                    op: op.clone(),
                    kind: ViolationKind::Range { lo, hi, bound },
                    loc,
                });
            }
            let rotates = n.op.is_bootstrap() || matches!(n.op, Op::ExtDot { .. });
            if rotates && a.noise2[v] > nu * nu + 1e-9 {
                out.push(Violation { value, op, kind: ViolationKind::Noise { norm: a.noise2[v].sqrt(), nu }, loc });
            }
        }
    }
    (a, out)
}
