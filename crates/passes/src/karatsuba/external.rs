//! The residue products of a sample by external products
//! (docs/external-products.md): with `karatsuba::Config::external`, the
//! residue products `a·b mod m_i` of one pair of operands, `a` of the
//! samples alone (`forms::of_one_sample`: the client can encrypt it as
//! GGSW) and `b` on the grid, are not built from tables. One `ext_dot`
//! gives their exact sum at `1/M`, `M` the least common multiple of the
//! `m_i`, and each residue is that sum coarsened to `1/m_i` (`coarsen`):
//! kept there for the fine sum of a two-scale system, which `scale::fine`
//! takes on the torus; read onto the grid by the two bootstraps of a torus
//! read for an odd modulus; and for the wrapping modulus `2^(p+1)` already
//! the grid value (`on_grid {d=1}`, no bootstrap). Every conversion then
//! takes its residues as it takes them today: the same integers, the same
//! accuracy. A dither shared by every residue of the pair joins the sum
//! first. These are the first layer's products of every example: its
//! weight gradient's two-scale system and its forward product's chunks.
//! A product of the sample's residues (quarter squares, packed tables)
//! is the same residue of the sample's values ([`raw_of`]), so it joins
//! too, where one `ext_dot` costs fewer bootstraps than its tables
//! ([`pays`]): tiny's forward product modulo 7.

use std::collections::HashMap;

use silc_ir::semantics::fine_modulus;
use silc_ir::{Graph, Op, Rewriter, ValueId};

use super::torus;
use crate::params::external;

/// A residue product to build from an external product's sum.
#[derive(Clone, Copy, Debug)]
pub struct Member {
    /// The first residue product of the same operands (its old id): the
    /// sum is built once, by whichever member comes first.
    pub group: ValueId,
    /// The modulus of the sum: the least common multiple of the group's.
    pub m: i64,
    /// The sample's values the sum multiplies (the product's first operand,
    /// or the raw values its residues were taken of, see [`raw_of`]).
    pub a: ValueId,
}

/// A residue product that may join a group: its id, its modulus and the
/// dither its sum takes.
type Candidate = (ValueId, i64, Option<Op>);

/// The largest sum modulus tried.
const MAX_M: i64 = 1 << 12;

/// Whether the residue modulo `mi` of a sum modulo `m` of `k` products by
/// operands up to `x` in magnitude keeps within the noise bound `nu`: its
/// squared norm is the sum's (`params::external`, as `check` counts it)
/// times `(m/mi)²`. A read adds its fresh sign; a residue the conversion
/// takes as it is (the fine sum, the wrapping residue) keeps room for the
/// leveled sums it may join, a quarter of `ν²`.
fn fits(nu: f64, k: usize, x: i64, m: i64, mi: i64, read: bool) -> bool {
    let sum = k as f64 * ((x * x) as f64 * external::refresh_ratio() + external::product_ratio(x));
    let norm2 = sum * ((m / mi) as f64).powi(2);
    if read {
        norm2 + 1.0 <= nu * nu
    } else {
        norm2 <= nu * nu / 4.0
    }
}

/// The residue products of `g` that external products can build, by id,
/// at the noise bound `nu`.
pub fn pairs(g: &Graph, nu: f64) -> HashMap<ValueId, Member> {
    let p = g.bits;
    let sample = crate::forms::of_one_sample(g);
    // The members of each operand pair, and the dither each one takes.
    let mut groups: Vec<((ValueId, ValueId), Vec<Candidate>)> = Vec::new();
    for id in g.ids() {
        let n = g.node(id);
        let Op::ModMatMul { modulus } = n.op else { continue };
        let b = n.args[1];
        let (lo, hi) = g.ty(b).stored();
        let Some(a) = raw_of(g, n.args[0], modulus) else { continue };
        let src = source(g, a).0;
        if !sample[src.index()] || lo < 0 || hi >= 1i64 << p || g.ty(b).torus.is_some() {
            continue;
        }
        let dither = super::torus_dither(g, id);
        match groups.iter_mut().find(|(k, _)| *k == (a, b)) {
            Some((_, members)) => members.push((id, modulus, dither)),
            None => groups.push(((a, b), vec![(id, modulus, dither)])),
        }
    }
    let mut out = HashMap::new();
    for ((a, _), members) in groups {
        let m = members.iter().fold(1i64, |acc, &(_, mi, _)| acc / crate::lower::gcd(acc, mi) * mi);
        let (src, transpose) = source(g, a);
        let ty = g.ty(src);
        let (k, x) = (ty.shape[usize::from(!transpose)], ty.lo.abs().max(ty.hi.abs()));
        let readable = |mi: i64| {
            let read = !(fine_modulus(p, mi).is_some() || mi == 2i64 << p);
            let form = !read || (mi % 2 == 1 && mi >= 3 && mi < 1i64 << p);
            form && fits(nu, k, x, m, mi, read)
        };
        let one_dither = members.windows(2).all(|w| w[0].2 == w[1].2);
        if m > MAX_M || !one_dither || !members.iter().all(|&(_, mi, _)| readable(mi)) {
            continue;
        }
        // Products of the sample's residues, not of its values: their
        // tables may cost less than the refreshes and reads.
        if members.iter().any(|&(id, _, _)| g.node(id).args[0] != a) && !pays(g, &members) {
            continue;
        }
        let group = members[0].0;
        for &(id, _, _) in &members {
            out.insert(id, Member { group, m, a });
        }
    }
    out
}

/// Whether one `ext_dot` (its operand refreshed once per value,
/// each odd residue read by two bootstraps) costs fewer bootstraps than the
/// tables of the cheapest residue products of `members` (`best_plan`).
fn pays(g: &Graph, members: &[Candidate]) -> bool {
    let p = g.bits;
    let nu = crate::params::for_precision(p).nu();
    let (a, b) = (g.node(members[0].0).args[0], g.node(members[0].0).args[1]);
    let dims = super::Dims::of(g, a, b);
    let outputs = (dims.n * dims.cols) as f64;
    let products = outputs * dims.k as f64;
    let reads: f64 = members
        .iter()
        .filter(|&&(_, mi, _)| fine_modulus(p, mi).is_none() && mi != 2i64 << p)
        .map(|_| 2.0 * outputs)
        .sum();
    let ext = (g.ty(b).len() as f64 * external::REFRESH_PBS + products * external::PRODUCT_PBS).ceil() + reads;
    // The operands' residue tables stay either way (the refreshed operand
    // is one; the sample's are the client's), so they are not counted.
    let tables: f64 = members
        .iter()
        .map(|&(id, mi, _)| {
            let n = g.node(id);
            let dims = super::Dims::of(g, n.args[0], n.args[1]);
            super::best_plan(p, nu, mi, dims, None).map_or(f64::INFINITY, |(plan, pbs)| {
                (pbs - ((dims.n * dims.k + dims.k * dims.cols) as u64) * plan.tables_per_operand) as f64
            })
        })
        .sum();
    ext < tables
}

/// The sample's values whose residues modulo `m` operand `v` holds: `v`
/// itself if it is the sample's values rearranged ([`uploaded`]); or, for
/// residues taken by tables, the existing node they were taken of, found
/// through the same layout ops (a residue table of the sample, the bias
/// column's constant, their concatenation and transpose). A product modulo
/// `m` of those values is the same residue.
fn raw_of(g: &Graph, v: ValueId, m: i64) -> Option<ValueId> {
    let n = g.node(v);
    if uploaded(g, v) && !matches!(n.op, Op::AddClear { .. }) {
        return Some(v);
    }
    let same =
        |op: &Op, args: &[ValueId]| g.ids().find(|&u| g.node(u).op == *op && g.node(u).args == args && uploaded(g, u));
    match &n.op {
        Op::Lut { table } => {
            let u = n.args[0];
            let (tu, tv) = (g.ty(u), g.ty(v));
            let (lo, hi) = tu.stored();
            let entries = &g.tables.get(*table).entries;
            let residues = uploaded(g, u)
                && tv.offset == 0
                && lo >= 0
                && (hi as usize) < entries.len()
                && (lo..=hi).all(|e| entries[e as usize] == (e - tu.offset).rem_euclid(m));
            residues.then_some(u)
        }
        // A constant column: the residue of a constant of the sample's.
        Op::AddClear { .. } => {
            let inner = g.node(n.args[0]);
            let u = *inner.args.first()?;
            let (tu, tv) = (g.ty(u), g.ty(v));
            let constant = matches!(inner.op, Op::MulClear { c: 0 })
                && tv.lo == tv.hi
                && tu.lo == tu.hi
                && uploaded(g, u)
                && (tv.lo - tu.lo).rem_euclid(m) == 0;
            if constant {
                Some(u)
            } else {
                uploaded(g, v).then_some(v)
            }
        }
        Op::Concat { .. } | Op::Transpose => {
            let raw: Option<Vec<ValueId>> = n.args.iter().map(|&a| raw_of(g, a, m)).collect();
            same(&n.op, &raw?)
        }
        _ => None,
    }
}

/// Whether `v` is the sample's own values rearranged (its columns, the
/// bias column's constant): what the client uploads as GGSW anyway. A
/// table of the sample would be one more upload per sample.
fn uploaded(g: &Graph, v: ValueId) -> bool {
    let n = g.node(v);
    match n.op {
        Op::Input { .. } => true,
        Op::Slice { .. }
        | Op::Concat { .. }
        | Op::Transpose
        | Op::Reshape { .. }
        | Op::Expand { .. }
        | Op::MulClear { .. }
        | Op::AddClear { .. } => n.args.iter().all(|&a| uploaded(g, a)),
        _ => false,
    }
}

/// The value a GGSW form holds for operand `a`: `a`, or for a transposed
/// sample the sample itself (one upload serves both products).
fn source(g: &Graph, a: ValueId) -> (ValueId, bool) {
    match g.node(a).op {
        Op::Transpose => (g.node(a).args[0], true),
        _ => (a, false),
    }
}

/// The new value of old residue product `id` of `member`, from its
/// group's sum (`sums` keeps each group's, built by the first member
/// lowered).
pub fn lower(rw: &mut Rewriter<'_>, id: ValueId, member: Member, sums: &mut HashMap<ValueId, ValueId>) -> ValueId {
    let g = rw.old;
    let p = g.bits;
    let n = g.node(id);
    let loc = n.loc;
    let Op::ModMatMul { modulus } = n.op else { unreachable!("pairs: a residue product") };
    let sum = match sums.get(&member.group) {
        Some(&s) => s,
        None => {
            let (src, transpose) = source(g, member.a);
            let args = vec![rw.get(src), rw.get(n.args[1])];
            let mut s = rw.new.push(Op::ExtDot { m: member.m, transpose, table: None }, args, loc);
            if let Some(dither) = super::torus_dither(g, id) {
                s = rw.new.push(dither, vec![s], loc);
            }
            sums.insert(member.group, s);
            s
        }
    };
    let residue = match member.m / modulus {
        1 => sum,
        by => rw.new.push(Op::Coarsen { by }, vec![sum], loc),
    };
    if fine_modulus(p, modulus).is_some() {
        // A fine sum: `scale::fine` takes it on the torus.
        residue
    } else if modulus == 2i64 << p {
        // The wrapping modulus: its torus is the message grid.
        rw.new.push(Op::OnGrid { d: 1, hi: modulus - 1 }, vec![residue], loc)
    } else {
        torus::read(&mut rw.new, residue, modulus, false, loc)
    }
}
