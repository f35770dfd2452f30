//! A block-scaled gradient's candidates, proven exclusive, so that a table
//! reading the gradient can be composed into each candidate's keep table.
//!
//! `scale` ends a block rescale with `K_0(x_0) ⊕ … ⊕ K_{n-1}(x_{n-1})`, a
//! tree of `add_exclusive`: each `x_c = S_c(I) + y_c` packs candidate `c`'s
//! result `y_c` beside its selection bit (a table `S_c` of one shared index
//! `I`), and `K_c` keeps the result where the bit is set and answers 0
//! elsewhere. When at most one `K_c(x_c)` can be non-zero, a table `F` of
//! the gradient equals, up to a constant, the sum of the composed tables
//! `F∘K_c`: every part that is not chosen answers `F(0)`. That is one
//! bootstrap per element where there were `n + 1` (the keeps and `F`) for
//! `n`. [`exclusive_parts`] proves the premise with [`crate::exclusive`],
//! which enumerates every index value and every value of every `y_c`, so
//! nothing is taken on trust from table names. Where the composed parts'
//! plain sum would leave the tables' domain, `nonlinear` adds them with
//! `add_exclusive`, whose range is their hull, and `check` proves the same
//! premise again on the composed tables.

use crate::exclusive;
use silc_ir::{Graph, Op, ValueId};

/// `grad = Σ K_c(x_c)` with at most one part non-zero.
pub(super) struct Picked {
    /// Each part: the keep table's input `x_c` (an id of the graph given to
    /// [`exclusive_parts`]), its stored range, and the entries of `K_c`.
    parts: Vec<(ValueId, (i64, i64), Vec<i64>)>,
}

/// `F` composed into every part: `Σ_c G_c(x_c) = F(grad) + excess`, each
/// `G_c` in `[0, widths[c]]`.
pub(super) struct Composed {
    /// The composed tables' entries, in the order of [`Picked::inputs`].
    pub tables: Vec<Vec<i64>>,
    pub widths: Vec<i64>,
    pub excess: i64,
    /// What each part answers where its candidate is not chosen,
    /// `F(0) − m_c`: the idle values of an `add_exclusive` of the parts.
    pub idle: Vec<i64>,
}

impl Picked {
    /// Composes `f`, a function of the stored gradient, into every part.
    /// Each `G_c = F∘K_c − m_c`, with `m_c` its least value over `x_c`'s
    /// range. A part not chosen answers `F(0) − m_c`, so the sum exceeds
    /// `F(grad)` by the constant `Σ_c (F(0) − m_c) − F(0)` whichever part is
    /// chosen, and also when none is.
    pub fn compose(&self, f: impl Fn(i64) -> i64) -> Option<Composed> {
        let at = |t: &[i64], v: i64| usize::try_from(v).ok().and_then(|i| t.get(i).copied());
        let zero = f(0);
        let (mut tables, mut widths, mut excess) = (Vec::new(), Vec::new(), -zero);
        let mut idle = Vec::new();
        for (_, (lo, hi), keep) in &self.parts {
            let reach = (*lo..=*hi).map(|v| Some(f(at(keep, v)?))).collect::<Option<Vec<_>>>()?;
            let (min, max) = (*reach.iter().min()?, *reach.iter().max()?);
            let table = (0..keep.len() as i64)
                .map(|v| match at(keep, v) {
                    Some(k) if (*lo..=*hi).contains(&v) => f(k) - min,
                    _ => 0,
                })
                .collect();
            tables.push(table);
            widths.push(max - min);
            excess += zero - min;
            idle.push(zero - min);
        }
        Some(Composed { tables, widths, excess, idle })
    }

    /// Each part's keep input `x_c`, an id of the graph given to
    /// [`exclusive_parts`].
    pub fn inputs(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.parts.iter().map(|p| p.0)
    }
}

/// The parts of `grad` if it is a selection whose parts are provably
/// exclusive ([`crate::exclusive::prove`], each keep idle at 0) and read by
/// nothing else (otherwise composing would add bootstraps instead of saving
/// one).
pub(super) fn exclusive_parts(g: &Graph, grad: ValueId) -> Option<Picked> {
    let Op::AddExclusive { idle } = &g.node(grad).op else { return None };
    if g.users(grad).len() != 1 || !only_read_within(g, grad) || idle.iter().any(|&i| i != 0) {
        return None;
    }
    let parts = exclusive::flatten(g, &g.node(grad).args, idle).ok()?;
    exclusive::prove(g, &parts, &|v| g.ty(v).stored()).ok()?;
    Some(Picked { parts: parts.iter().map(|p| (p.x, g.ty(p.x).stored(), p.table.to_vec())).collect() })
}

/// Whether every operand under the `add_exclusive` tree at `v` (its inner
/// sums and its keep tables) is read by that tree alone.
fn only_read_within(g: &Graph, v: ValueId) -> bool {
    g.node(v)
        .args
        .iter()
        .all(|&a| g.users(a) == [v] && (!matches!(g.node(a).op, Op::AddExclusive { .. }) || only_read_within(g, a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use silc_ir::{Loc, Role, Table, Type};

    /// Two candidates in `[0, 8)` packed beside selection bits of one index,
    /// kept and summed, as `scale` builds them. `select1` decides
    /// whether candidate 1 is chosen at each index value.
    fn selection_graph(select1: impl Fn(i64) -> i64) -> (Graph, ValueId) {
        let (p, loc) = (4, Loc::default());
        let mut g = Graph::new("pick", p);
        let input = |g: &mut Graph, name: &str, lo, hi, shape: Vec<usize>| {
            g.add(Op::Input { name: name.into(), role: Role::Data }, vec![], Type::enc(shape, lo, hi), loc)
        };
        let index = input(&mut g, "index", 0, 1, vec![1]);
        let ys = [input(&mut g, "y0", 0, 7, vec![3]), input(&mut g, "y1", 0, 7, vec![3])];
        let keep = Table::from_fn("keep", p, |v| if v >= 8 { v - 8 } else { 0 });
        let mut kept = Vec::new();
        for (c, y) in ys.into_iter().enumerate() {
            let table = if c == 0 {
                Table::from_fn("select0", p, |i| if i == 0 { 8 } else { 0 })
            } else {
                Table::from_fn("select1", p, &select1)
            };
            let sel = g.lut(table, index, loc);
            let sel = g.push(Op::Expand { axis: 0, n: 3 }, vec![sel], loc);
            let sel = g.push(Op::Reshape { shape: vec![3] }, vec![sel], loc);
            let both = g.push(Op::Add, vec![sel, y], loc);
            kept.push(g.lut(keep.clone(), both, loc));
        }
        let grad = g.push(Op::AddExclusive { idle: vec![0, 0] }, kept, loc);
        // Its one reader (the SGD update, in a step).
        g.push(Op::Output { name: "grad".into() }, vec![grad], loc);
        (g, grad)
    }

    #[test]
    fn one_chosen_candidate_composes_exactly() {
        let (g, grad) = selection_graph(|i| if i == 1 { 8 } else { 0 });
        let picked = exclusive_parts(&g, grad).expect("the candidates are exclusive");
        let f = |e: i64| 9 - 2 * e / 3;
        let composed = picked.compose(f).expect("composable");
        assert_eq!(composed.tables.len(), 2);
        for i in 0..=1 {
            for y0 in 0..8 {
                for y1 in 0..8 {
                    let x = [if i == 0 { 8 } else { 0 } + y0, if i == 1 { 8 } else { 0 } + y1];
                    let chosen = if i == 0 { y0 } else { y1 };
                    let sum: i64 = composed.tables.iter().zip(x).map(|(t, x)| t[x as usize]).sum();
                    assert_eq!(sum - composed.excess, f(chosen));
                    for (t, w) in composed.tables.iter().zip(&composed.widths) {
                        assert!(t.iter().all(|&v| (0..=*w).contains(&v)));
                    }
                }
            }
        }
    }

    #[test]
    fn candidates_that_may_both_be_kept_are_refused() {
        // Candidate 1 is also kept at index 0, where candidate 0 is.
        let (g, grad) = selection_graph(|_| 8);
        assert!(exclusive_parts(&g, grad).is_none());
    }
}
