//! `schedule`: bootstrap scheduling on the lowered graph.
//!
//! In order: (1) tables are moved before the broadcasts that feed them (fewer
//! elements), chains of tables are fused into one (`T2 ∘ T1`, also across
//! layout ops; a torus read read only by tables gives each its own read),
//! equal nodes are merged and dead ones removed, repeated until
//! nothing changes (at most 8 rounds); (2) refresh bootstraps (identity
//! tables) are inserted only where the noise check demands; (3) tables on the
//! same input are grouped into one many-LUT bootstrap where the input is small
//! enough (tfhe-rs many-LUT needs `input < 2^p / k` for `k` tables);
//! (4) independent bootstraps are grouped into waves by bootstrap depth for
//! parallel execution. Fusing is exact because `check` proves every input of
//! the inner table lies in `[0, 2^p)`.

use std::collections::HashMap;

use serde::Serialize;
use silc_ir::{semantics, text, Graph, Op, Rewriter, SideTable, Table, Type, ValueId};

use crate::check;

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScheduleReport {
    pub pbs_before: u64,
    pub pbs_after: u64,
    pub fused_tables: usize,
    pub merged_nodes: usize,
    pub removed_nodes: usize,
    pub refreshes: usize,
    pub many_lut_groups: usize,
    pub waves: usize,
    /// Bootstraps in the widest wave.
    pub widest_wave: u64,
    /// Bootstraps in each wave, in order: what bounds how many cores (or
    /// MPI ranks) a step can keep busy.
    pub wave_widths: Vec<u64>,
    /// Values per batch the client computes and encrypts (`forms`).
    pub forms: usize,
}

/// Gives `new` the logical reading (offset) that `old` had.
fn retype(g: &mut Graph, new: ValueId, old: &Type) {
    let mut t = g.ty(new).clone();
    let (lo, hi) = t.stored();
    t.offset = old.offset;
    t.lo = lo - old.offset;
    t.hi = hi - old.offset;
    g.set_type(new, t);
}

/// `outer ∘ inner` as one table, exactly as two bootstraps would compute it.
fn compose(g: &Graph, inner: silc_ir::TableId, outer: silc_ir::TableId) -> Table {
    let (ti, to) = (g.tables.get(inner), g.tables.get(outer));
    Table {
        name: format!("{}∘{}", to.name, ti.name),
        entries: ti.entries.iter().map(|&v| semantics::lut(&to.entries, v, g.bits)).collect(),
    }
}

/// Layout ops a table can be moved across without changing its meaning.
fn is_movable_layout(op: &Op) -> bool {
    matches!(op, Op::Transpose | Op::Reshape { .. } | Op::Expand { .. } | Op::Slice { .. })
}

/// What two nodes must share to be merged: the op, the logical reading of
/// the result and the (rewritten) operands.
type CseKey = (String, Vec<ValueId>);

fn cse_key(op: &Op, ty: &Type, args: Vec<ValueId>) -> CseKey {
    (format!("{op:?}|{}", ty.offset), args)
}

/// Ops of one operand that act on each element alone, so that they commute
/// with layout ops.
fn elementwise(op: &Op) -> bool {
    matches!(op, Op::Lut { .. } | Op::LutTorus { .. } | Op::AddClear { .. } | Op::MulClear { .. } | Op::Fold)
}

/// Whether every user of `v` is a table, directly or through movable layout
/// ops that only tables read in turn.
fn tables_only_read(g: &Graph, v: ValueId) -> bool {
    let users = g.users(v);
    !users.is_empty()
        && users.iter().all(|&u| match g.node(u).op {
            Op::Lut { .. } => true,
            ref op if is_movable_layout(op) => tables_only_read(g, u),
            _ => false,
        })
}

/// One round of fusion, table hoisting and CSE. Returns the graph and counts.
fn simplify_round(g: &Graph) -> (Graph, usize, usize) {
    let mut rw = Rewriter::new(g);
    let mut seen: HashMap<CseKey, ValueId> = HashMap::new();
    let (mut fused, mut merged) = (0, 0);
    for id in g.ids() {
        let node = g.node(id);
        if let Op::Lut { table: outer } = node.op {
            // Walk down through movable layout ops to what the table reads.
            let mut chain = Vec::new();
            let mut cur = node.args[0];
            while is_movable_layout(&g.node(cur).op) && g.users(cur).len() == 1 {
                chain.push(cur);
                cur = g.node(cur).args[0];
            }
            // A torus read whose every reader is a table, through layout ops
            // shared or not, answers each of them in a read of its own: `k`
            // reads (sharing the sign) where there were a read and `k`
            // tables. The tables could not share a many-LUT bootstrap: the
            // read's answers fill more than half the domain.
            let mut shared = Vec::new();
            let mut under = cur;
            while is_movable_layout(&g.node(under).op) && tables_only_read(g, under) {
                shared.push(under);
                under = g.node(under).args[0];
            }
            if let Op::TorusRead { table: read, torus: None } = g.node(under).op {
                let k = g.users(under).len() + shared.iter().map(|&c| g.users(c).len() - 1).sum::<usize>();
                let (_, hi) = g.ty(under).stored();
                if tables_only_read(g, under) && k >= 2 && (hi + 1) * k as i64 > 1i64 << g.bits {
                    fused += 1;
                    let table = rw.new.intern(compose(&rw.new, read, outer));
                    let args = g.node(under).args.iter().map(|&a| rw.get(a)).collect();
                    let mut v = rw.new.push(Op::TorusRead { table, torus: None }, args, node.loc);
                    for &c in shared.iter().rev().chain(chain.iter().rev()) {
                        v = rw.new.push(g.node(c).op.clone(), vec![v], g.node(c).loc);
                    }
                    retype(&mut rw.new, v, &node.ty);
                    rw.map_to(id, v);
                    continue;
                }
            }
            // Only an inner table whose input lies in its domain composes:
            // beyond it (a constant table reading a wrapping sum) the
            // negacyclic answer of `outer ∘ inner` is not `outer` of the
            // negated inner answer.
            let in_domain = |v: ValueId| {
                let (lo, hi) = g.ty(v).stored();
                lo >= 0 && hi < 1i64 << g.bits
            };
            let inner = match g.node(cur).op {
                Op::Lut { table } if g.users(cur).len() == 1 && in_domain(g.node(cur).args[0]) => Some(table),
                _ => None,
            };
            // A torus read answers any function of its residue in its one
            // bootstrap: the table after it joins it.
            if let Op::TorusRead { table: read, torus: None } = g.node(cur).op {
                if g.users(cur).len() == 1 {
                    fused += 1;
                    let table = rw.new.intern(compose(&rw.new, read, outer));
                    let args = g.node(cur).args.iter().map(|&a| rw.get(a)).collect();
                    let mut v = rw.new.push(Op::TorusRead { table, torus: None }, args, node.loc);
                    for &c in chain.iter().rev() {
                        v = rw.new.push(g.node(c).op.clone(), vec![v], g.node(c).loc);
                    }
                    retype(&mut rw.new, v, &node.ty);
                    rw.map_to(id, v);
                    continue;
                }
            }
            let expands = chain.iter().any(|&c| matches!(g.node(c).op, Op::Expand { .. }));
            let shrinks = g.ty(cur).len() < node.ty.len();
            if inner.is_some() || (expands && shrinks) {
                let (table, src) = match inner {
                    Some(t) => {
                        fused += 1;
                        (compose(&rw.new, t, outer), g.node(cur).args[0])
                    }
                    None => (rw.new.tables.get(outer).clone(), cur),
                };
                let mut v = rw.new.lut(table, rw.get(src), node.loc);
                for &c in chain.iter().rev() {
                    v = rw.new.push(g.node(c).op.clone(), vec![v], g.node(c).loc);
                }
                retype(&mut rw.new, v, &node.ty);
                rw.map_to(id, v);
                continue;
            }
        }
        // A table that only an external product reads joins the product's
        // refresh, a blind rotation that answers any table (Iris's ReLU
        // mask on the deltas of its first layer: 64 PBS).
        if let Op::ExtDot { m, transpose, table: None } = node.op {
            let b = node.args[1];
            if let Op::Lut { table } = g.node(b).op {
                let x = g.node(b).args[0];
                let (lo, hi) = g.ty(x).stored();
                if g.users(b).len() == 1 && lo >= 0 && hi < 1i64 << g.bits {
                    fused += 1;
                    let off = g.ty(b).offset;
                    let t = rw.new.tables.get(table);
                    let logical = Table {
                        name: format!("{}-{off}", t.name),
                        entries: t.entries.iter().map(|e| e - off).collect(),
                    };
                    let table = Some(rw.new.intern(logical));
                    let args = vec![rw.get(node.args[0]), rw.get(x)];
                    let v = rw.new.add(Op::ExtDot { m, transpose, table }, args, node.ty.clone(), node.loc);
                    rw.map_to(id, v);
                    continue;
                }
            }
        }
        // A slice of an elementwise op that nothing else reads is the op of
        // the slices: the elements sliced away are not computed (a
        // reference class's softmax gradient, which trains nothing, took
        // its output and quarter-square tables: Iris 24 PBS).
        if let Op::Slice { .. } = node.op {
            let x = node.args[0];
            let xn = g.node(x);
            let same = xn.args.iter().all(|&a| g.ty(a).shape == xn.ty.shape);
            if (elementwise(&xn.op) || matches!(xn.op, Op::Add | Op::Sub)) && same && g.users(x).len() == 1 {
                let args: Vec<ValueId> = xn
                    .args
                    .iter()
                    .map(|&a| {
                        let ty = g.ty(a).with_shape(node.ty.shape.clone());
                        rw.new.add(node.op.clone(), vec![rw.get(a)], ty, node.loc)
                    })
                    .collect();
                let ty = xn.ty.with_shape(node.ty.shape.clone());
                let v = rw.new.add(xn.op.clone(), args, ty, xn.loc);
                rw.map_to(id, v);
                continue;
            }
        }
        // An elementwise op of a transpose whose equal op of the
        // untransposed value exists is the transpose of that op (Iris's
        // second layer took the binomial term of each hidden activation
        // modulo 15 twice, once per orientation: 80 PBS). Only then: moved
        // alone, it would leave tables that shared a many-LUT bootstrap on
        // different inputs (Digits at bits 8: 256 PBS).
        if elementwise(&node.op) && matches!(g.node(node.args[0]).op, Op::Transpose) {
            let x = rw.get(g.node(node.args[0]).args[0]);
            if let Some(&e) = seen.get(&cse_key(&node.op, &node.ty, vec![x])) {
                merged += 1;
                let t = rw.new.add(Op::Transpose, vec![e], node.ty.clone(), node.loc);
                rw.map_to(id, t);
                continue;
            }
        }
        if !matches!(node.op, Op::Input { .. } | Op::Output { .. }) {
            let args: Vec<ValueId> = node.args.iter().map(|&a| rw.get(a)).collect();
            let key = cse_key(&node.op, &node.ty, args);
            if let Some(&v) = seen.get(&key) {
                merged += 1;
                rw.map_to(id, v);
                continue;
            }
            let v = rw.copy(id);
            seen.insert(key, v);
            continue;
        }
        rw.copy(id);
    }
    (rw.finish(), fused, merged)
}

/// Removes nodes that no output depends on.
pub(crate) fn dead_code(g: &Graph) -> (Graph, usize) {
    let mut live = vec![false; g.len()];
    for id in g.ids().collect::<Vec<_>>().into_iter().rev() {
        let n = g.node(id);
        if matches!(n.op, Op::Output { .. } | Op::Input { .. }) || live[id.index()] {
            live[id.index()] = true;
            for &a in &n.args {
                live[a.index()] = true;
            }
        }
    }
    let mut rw = Rewriter::new(g);
    let mut removed = 0;
    for id in g.ids() {
        if live[id.index()] {
            rw.copy(id);
        } else {
            removed += 1;
        }
    }
    // Drop tables no node uses any more, renumbering the rest.
    (compact_tables(&rw.finish()), removed)
}

fn compact_tables(g: &Graph) -> Graph {
    let mut out = Graph::new(g.name.clone(), g.bits);
    let mut remap: HashMap<silc_ir::TableId, silc_ir::TableId> = HashMap::new();
    let mut keep = |t: silc_ir::TableId, out: &mut Graph| {
        *remap.entry(t).or_insert_with(|| out.tables.intern(g.tables.get(t).clone()))
    };
    for id in g.ids() {
        let n = g.node(id);
        let op = match &n.op {
            Op::Lut { table } => Op::Lut { table: keep(*table, &mut out) },
            Op::LutMany { tables } => Op::LutMany { tables: tables.iter().map(|&t| keep(t, &mut out)).collect() },
            Op::LutTorus { table, m } => Op::LutTorus { table: keep(*table, &mut out), m: *m },
            Op::TorusRead { table, torus } => Op::TorusRead { table: keep(*table, &mut out), torus: *torus },
            Op::ExtDot { m, transpose, table: Some(table) } => {
                Op::ExtDot { m: *m, transpose: *transpose, table: Some(keep(*table, &mut out)) }
            }
            op => op.clone(),
        };
        out.add(op, n.args.clone(), n.ty.clone(), n.loc);
    }
    out
}

/// Inserts identity bootstraps on the noisiest operands of flagged inputs.
fn refresh(g: &Graph, nu: f64) -> (Graph, usize) {
    let (analysis, violations) = check::check(g, nu);
    let flagged: Vec<String> = violations
        .iter()
        .filter(|v| matches!(v.kind, check::ViolationKind::Noise { .. }))
        .map(|v| v.value.clone())
        .collect();
    if flagged.is_empty() {
        return (g.clone(), 0);
    }
    let bound = 1i64 << g.bits;
    let identity = Table::from_fn("refresh", g.bits, |x| x);
    let mut rw = Rewriter::new(g);
    let mut count = 0;
    for id in g.ids() {
        let node = g.node(id);
        if !flagged.contains(&id.to_string()) {
            rw.copy(id);
            continue;
        }
        let args: Vec<ValueId> = node
            .args
            .iter()
            .map(|&a| {
                let (lo, hi) = analysis.ranges[a];
                let new = rw.get(a);
                // A torus residue is refreshed by a read, which `karatsuba`
                // plans; a violation there stays a violation.
                if analysis.noise2[a] > 1.0 && lo >= 0 && hi < bound && g.ty(a).torus.is_none() {
                    count += 1;
                    let v = rw.new.lut(identity.clone(), new, node.loc);
                    retype(&mut rw.new, v, g.ty(a));
                    v
                } else {
                    new
                }
            })
            .collect();
        let v = rw.new.add(node.op.clone(), args, node.ty.clone(), node.loc);
        rw.map_to(id, v);
    }
    (rw.finish(), count)
}

/// Groups tables of one input into many-LUT bootstraps where tfhe-rs allows.
fn many_lut(g: &Graph) -> (Graph, usize) {
    let bound = 1i64 << g.bits;
    let mut by_input: HashMap<ValueId, Vec<ValueId>> = HashMap::new();
    for id in g.ids() {
        // A table declared with an offset (a logical value, see
        // `nonlinear::typed_lut`) stays alone: a many-LUT slot is typed by its
        // stored integer.
        if let (Op::Lut { .. }, 0) = (&g.node(id).op, g.ty(id).offset) {
            by_input.entry(g.node(id).args[0]).or_default().push(id);
        }
    }
    let mut groups: HashMap<ValueId, Vec<ValueId>> = HashMap::new();
    for (input, luts) in by_input {
        let k = luts.len().next_power_of_two() as i64;
        let (lo, hi) = g.ty(input).stored();
        if luts.len() >= 2 && lo >= 0 && hi < bound / k {
            groups.insert(input, luts);
        }
    }
    if groups.is_empty() {
        return (g.clone(), 0);
    }
    let n_groups = groups.len();
    let mut rw = Rewriter::new(g);
    let mut done: HashMap<ValueId, ValueId> = HashMap::new();
    for id in g.ids() {
        let node = g.node(id);
        let group = match node.op {
            Op::Lut { .. } => groups.get(&node.args[0]),
            _ => None,
        };
        let Some(members) = group else {
            rw.copy(id);
            continue;
        };
        let input = node.args[0];
        let many = *done.entry(input).or_insert_with(|| {
            let tables = members.iter().map(|&m| match g.node(m).op {
                Op::Lut { table } => table,
                _ => unreachable!("grouped only tables"),
            });
            let op = Op::LutMany { tables: tables.collect() };
            rw.new.push(op, vec![rw.get(input)], node.loc)
        });
        let slot = members.iter().position(|&m| m == id).expect("member of its group");
        let shape = node.ty.shape.clone();
        let s = rw.new.push(Op::Slice { axis: 0, start: slot, len: 1 }, vec![many], node.loc);
        let v = rw.new.push(Op::Reshape { shape }, vec![s], node.loc);
        retype(&mut rw.new, v, &node.ty);
        rw.map_to(id, v);
    }
    (rw.finish(), n_groups)
}

/// Bootstrap depth of every value (0 for values computed before any bootstrap).
pub fn waves(g: &Graph) -> SideTable<u32> {
    let mut depth = SideTable::with_len(g.len(), 0u32);
    for id in g.ids() {
        let n = g.node(id);
        // A form comes with the job: the server has it before any wave.
        let d = if matches!(n.op, Op::Form { .. }) { 0 } else { n.args.iter().map(|&a| depth[a]).max().unwrap_or(0) };
        depth.set(id, if n.op.is_bootstrap() { d + 1 } else { d });
    }
    depth
}

/// Options of the pass.
#[derive(Clone, Debug)]
pub struct Config {
    pub fuse: bool,
    pub many_lut: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { fuse: true, many_lut: true }
    }
}

pub fn run(g: &Graph, nu: f64, config: &Config) -> (Graph, ScheduleReport) {
    let mut report = ScheduleReport { pbs_before: g.pbs_count(), ..Default::default() };
    let mut cur = g.clone();
    if config.fuse {
        for _ in 0..8 {
            let before = text::print(&cur);
            let (next, fused, merged) = simplify_round(&cur);
            let (next, removed) = dead_code(&next);
            report.fused_tables += fused;
            report.merged_nodes += merged;
            report.removed_nodes += removed;
            cur = next;
            if text::print(&cur) == before {
                break;
            }
        }
    } else {
        let (next, removed) = dead_code(&cur);
        report.removed_nodes += removed;
        cur = next;
    }
    for _ in 0..3 {
        let (next, n) = refresh(&cur, nu);
        report.refreshes += n;
        cur = next;
        if n == 0 {
            break;
        }
    }
    if config.many_lut {
        let (next, groups) = many_lut(&cur);
        report.many_lut_groups = groups;
        cur = next;
    }
    count_waves(&cur, &mut report);
    (cur, report)
}

/// The server's waves of `g` and its bootstraps, in `report` (a `form`'s
/// cone is the client's, see `Graph::client_only`).
pub fn count_waves(cur: &Graph, report: &mut ScheduleReport) {
    let depth = waves(cur);
    let client = cur.client_only();
    let mut per_wave: HashMap<u32, u64> = HashMap::new();
    for id in cur.ids() {
        let n = cur.node(id);
        if n.op.is_bootstrap() && !client[id.index()] {
            let count = match &n.op {
                Op::LutMany { tables } => (n.ty.len() / tables.len()) as u64,
                _ => n.ty.len() as u64,
            };
            *per_wave.entry(depth[id]).or_default() += count;
        }
    }
    report.waves = per_wave.len();
    report.widest_wave = per_wave.values().copied().max().unwrap_or(0);
    let mut widths: Vec<(u32, u64)> = per_wave.into_iter().collect();
    widths.sort();
    report.wave_widths = widths.into_iter().map(|(_, w)| w).collect();
    report.pbs_after = cur.pbs_count();
}
