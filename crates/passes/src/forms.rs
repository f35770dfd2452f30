//! `forms`: the bootstraps of the samples alone move to the client.
//!
//! Some of a step's tables read only the training data: the operands' own
//! terms of a binomial product (`C(x, 2)` per feature and modulus), their
//! reads and folds, the label's margin. The server would compute them
//! again for every batch of every epoch, yet the client, who holds the
//! data in the clear, can compute each once and encrypt it beside the
//! sample. This pass finds them and marks each frontier value with a
//! `form` op: its operand's value, which the server takes from the job.
//!
//! A value qualifies when it is a bootstrap's answer (for a many-LUT, each
//! table's slice) and its batch axis is
//! known: every slice along that axis depends on one sample only (the
//! analysis [`batch_axis`] follows the axis through elementwise, layout and
//! reduction ops; a sum across samples, a dither, which changes with the
//! step, or anything read from a weight disqualifies). Every such value
//! gets a form, and a form that only feeds the cone of other forms is
//! dropped again, so the job carries the frontier only. Nothing else
//! changes: the operand's cone stays in the graph for the simulator and
//! for `silc encrypt`, which compute the forms in the clear, and
//! `Graph::client_only` tells the server and the cost report to skip it.
//!
//! The first operand of an `ext_dot` is always a form, of the GGSW kind
//! (`form {kind=ggsw}`): only the client can make GGSW ciphertexts.

use std::collections::HashMap;

use silc_ir::{Graph, Op, Rewriter, Role, ValueId};

/// How a value depends on the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dep {
    /// On a weight, or on the step (a dither): only the server has it.
    Server,
    /// On the data alone, but mixing samples, or along an axis the
    /// analysis does not follow.
    Batch,
    /// On the data alone; the slice at index `i` along this axis depends on
    /// sample `i` only.
    Sample(usize),
}

/// The axis of `shape` that `to` gives the axis `axis` of `from` after a
/// reshape, if the elements before and along it keep their order.
fn reshaped_axis(from: &[usize], axis: usize, to: &[usize]) -> Option<usize> {
    let before: usize = from[..axis].iter().product();
    let n = from[axis];
    let mut prefix = 1;
    for (b, &d) in to.iter().enumerate() {
        if prefix == before && d == n {
            return Some(b);
        }
        prefix *= d;
        if prefix > before {
            return None;
        }
    }
    None
}

/// The [`Dep`] of every value of `g`.
fn batch_axis(g: &Graph) -> Vec<Dep> {
    let mut dep = vec![Dep::Server; g.len()];
    for id in g.ids() {
        let n = g.node(id);
        let args: Vec<Dep> = n.args.iter().map(|a| dep[a.index()]).collect();
        let same = |args: &[Dep]| match args.first() {
            Some(&Dep::Sample(a)) if args.iter().all(|&d| d == Dep::Sample(a)) => Dep::Sample(a),
            _ => Dep::Batch,
        };
        let arg_shape = |i: usize| &g.ty(n.args[i]).shape;
        dep[id.index()] = if let Op::Input { role, .. } = &n.op {
            if *role == Role::Weight {
                Dep::Server
            } else {
                Dep::Sample(0)
            }
        } else if args.contains(&Dep::Server) || matches!(n.op, Op::AddDither { .. } | Op::Output { .. }) {
            Dep::Server
        } else {
            match (&n.op, same(&args)) {
                (_, Dep::Batch) | (_, Dep::Server) => Dep::Batch,
                (
                    Op::AddClear { .. }
                    | Op::MulClear { .. }
                    | Op::Lut { .. }
                    | Op::Fold
                    | Op::LutTorus { .. }
                    | Op::TorusSign
                    | Op::OnGrid { .. }
                    | Op::Add
                    | Op::Sub
                    | Op::AddExclusive { .. }
                    | Op::Pack { .. }
                    | Op::TorusRead { .. },
                    d,
                ) => d,
                (Op::LutMany { .. }, Dep::Sample(a)) => Dep::Sample(a + 1),
                (Op::ReduceSum { axis, .. }, Dep::Sample(a)) if *axis != a => Dep::Sample(a),
                (Op::Slice { axis, len, .. }, Dep::Sample(a)) if *axis != a || *len == arg_shape(0)[a] => {
                    Dep::Sample(a)
                }
                (Op::Concat { axis }, Dep::Sample(a)) if *axis != a => Dep::Sample(a),
                (Op::Expand { axis, .. }, Dep::Sample(a)) => Dep::Sample(if *axis <= a { a + 1 } else { a }),
                (Op::Transpose, Dep::Sample(a)) => Dep::Sample(1 - a),
                (Op::Reshape { shape }, Dep::Sample(a)) => {
                    reshaped_axis(arg_shape(0), a, shape).map_or(Dep::Batch, Dep::Sample)
                }
                _ => Dep::Batch,
            }
        };
    }
    dep
}

/// Whether each value depends on the samples alone, one sample per slice
/// along some axis: what a form may hold (`karatsuba::external` asks it of
/// an `ext_dot`'s first operand).
pub(crate) fn of_one_sample(g: &Graph) -> Vec<bool> {
    batch_axis(g).into_iter().map(|d| matches!(d, Dep::Sample(_))).collect()
}

/// The columns of a sample-only matrix `v` along `axis`, each named by the
/// value it comes from and its index there, through slices and
/// concatenations along that axis (how `rns::chunks` cuts a product).
fn columns(g: &Graph, v: ValueId, axis: usize) -> Vec<(ValueId, usize)> {
    let n = g.node(v);
    match n.op {
        Op::Slice { axis: along, start, len } if along == axis => {
            columns(g, n.args[0], axis)[start..start + len].to_vec()
        }
        Op::Concat { axis: along } if along == axis => n.args.iter().flat_map(|&a| columns(g, a, axis)).collect(),
        _ => (0..g.ty(v).shape[axis]).map(|i| (v, i)).collect(),
    }
}

/// Each `ext_dot` first operand that is a run of columns of another, wider
/// one: that one and where the run starts.
fn chunks_of_wholes(g: &Graph, dep: &[Dep]) -> HashMap<ValueId, (ValueId, usize)> {
    let firsts: Vec<ValueId> = g
        .ids()
        .filter(|&i| matches!(g.node(i).op, Op::ExtDot { .. }))
        .map(|i| g.node(i).args[0])
        .filter(|&a| matches!(dep[a.index()], Dep::Sample(0)) && g.ty(a).shape.len() == 2)
        .collect();
    let cols: HashMap<ValueId, Vec<(ValueId, usize)>> = firsts.iter().map(|&a| (a, columns(g, a, 1))).collect();
    let mut out = HashMap::new();
    for &a in &firsts {
        let widest = firsts
            .iter()
            .filter(|&&y| y != a && g.ty(y).shape[0] == g.ty(a).shape[0] && cols[&y].len() > cols[&a].len())
            .filter_map(|&y| Some((y, cols[&y].windows(cols[&a].len()).position(|w| w == cols[&a].as_slice())?)))
            .max_by_key(|&(y, _)| cols[&y].len());
        if let Some(found) = widest {
            out.insert(a, found);
        }
    }
    out
}

/// Inserts `form` ops (see the module's comment); with `bootstraps` false
/// (`--server-forms`) only the GGSW ones. Returns the new graph and the
/// number of forms it carries.
pub fn run(g: &Graph, bootstraps: bool) -> (Graph, usize) {
    let dep = batch_axis(g);
    // 1. A form after every bootstrap of the samples alone.
    let mut rw = Rewriter::new(g);
    let mut k = 0;
    // The GGSW form of each `ext_dot`'s first operand, one per value.
    let mut ggsw: HashMap<ValueId, ValueId> = HashMap::new();
    // Slices of such forms, by the chunk they stand for.
    let mut sliced: HashMap<ValueId, ValueId> = HashMap::new();
    let wholes = chunks_of_wholes(g, &dep);
    for id in g.ids() {
        let n = g.node(id);
        if let Op::ExtDot { .. } = n.op {
            let a = n.args[0];
            // A chunk of a wider first operand (a product cut along its
            // reduction axis) is that slice of the wider one's form: one
            // upload serves both.
            let (whole, start) = wholes.get(&a).copied().filter(|(y, _)| y.index() < id.index()).unwrap_or((a, 0));
            let Dep::Sample(axis) = dep[whole.index()] else {
                panic!("internal error: an ext_dot's first operand {whole} is not of the samples alone")
            };
            let form = *ggsw.entry(whole).or_insert_with(|| {
                let f = Op::Form { name: String::new(), axis, ggsw: true };
                rw.new.push(f, vec![rw.get(whole)], g.node(whole).loc)
            });
            let form = if whole == a {
                form
            } else {
                *sliced.entry(a).or_insert_with(|| {
                    let slice = Op::Slice { axis: 1 - axis, start, len: g.ty(a).shape[1 - axis] };
                    rw.new.push(slice, vec![form], g.node(a).loc)
                })
            };
            let v = rw.new.push(n.op.clone(), vec![form, rw.get(n.args[1])], n.loc);
            rw.map_to(id, v);
            continue;
        }
        let v = rw.copy(id);
        // A many-LUT's answers are read through slices, each typed by its
        // own table: the form goes after the slice.
        let n = g.node(id);
        let answer = match &n.op {
            Op::LutMany { .. } => false,
            Op::Slice { .. } => matches!(g.node(n.args[0]).op, Op::LutMany { .. }),
            op => op.is_bootstrap(),
        };
        if let (true, Dep::Sample(axis)) = (answer && bootstraps, dep[id.index()]) {
            let f = rw.new.push(Op::Form { name: format!("form{k}"), axis, ggsw: false }, vec![v], g.node(id).loc);
            rw.map_to(id, f);
            k += 1;
        }
    }
    let ggsw_forms = ggsw.len();
    let marked = rw.finish();
    // 2. Forms inside another form's cone go; the rest are renumbered.
    let client = marked.client_only();
    let mut rw = Rewriter::new(&marked);
    let mut kept = 0;
    for id in marked.ids() {
        let n = marked.node(id);
        match &n.op {
            Op::Form { .. } if client[id.index()] => {
                let v = rw.get(n.args[0]);
                rw.map_to(id, v);
            }
            Op::Form { axis, ggsw, .. } => {
                let f = Op::Form { name: format!("form{kept}"), axis: *axis, ggsw: *ggsw };
                let v = rw.new.push(f, vec![rw.get(n.args[0])], n.loc);
                rw.map_to(id, v);
                kept += 1;
            }
            _ => {
                rw.copy(id);
            }
        }
    }
    // 3. What an `ext_dot` no longer reads since its operand became (a
    // slice of) a form goes: the client alone computes it.
    let out = rw.finish();
    if ggsw_forms > 0 {
        (crate::schedule::dead_code(&out).0, kept)
    } else {
        (out, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reshape_keeps_the_batch_axis_only_where_its_prefix_does() {
        assert_eq!(reshaped_axis(&[8, 4], 0, &[8, 4, 1]), Some(0));
        assert_eq!(reshaped_axis(&[4, 8, 1], 1, &[4, 8]), Some(1));
        assert_eq!(reshaped_axis(&[1, 4, 8], 2, &[4, 8]), Some(1));
        assert_eq!(reshaped_axis(&[8, 4], 0, &[32]), None);
        assert_eq!(reshaped_axis(&[4, 8], 1, &[2, 2, 8]), Some(2));
        assert_eq!(reshaped_axis(&[4, 8], 1, &[8, 4]), None);
    }
}
