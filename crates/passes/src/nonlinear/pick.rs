//! A block-scaled gradient's candidates, proven exclusive, so that a table
//! reading the gradient can be composed into each candidate's keep table.
//!
//! `scale` ends a block rescale with `C(K_0(x_0) + … + K_{n-1}(x_{n-1}))`:
//! each `x_c = S_c(I) + y_c` packs candidate `c`'s result `y_c` beside its
//! selection bit (a table `S_c` of one shared index `I`), `K_c` keeps the
//! result where the bit is set and answers 0 elsewhere, and `C` clamps the
//! sum. When at most one `K_c(x_c)` can be non-zero, a table `F` of the
//! gradient equals, up to a constant, the sum of the composed tables
//! `F∘C∘K_c`: every part that is not chosen answers `F(C(0))`. That is one
//! bootstrap per element where there were `n + 1` (the keeps and `F`) for
//! `n`. [`exclusive_parts`] proves the premise by enumerating every index
//! value and every value of every `y_c`, so nothing is taken on trust from
//! table names.

use silc_ir::{Graph, Op, TableId, ValueId};

/// `grad = C(Σ K_c(x_c))` with at most one part non-zero.
pub(super) struct Picked {
    /// The clamping table `C`'s entries.
    clamp: Vec<i64>,
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
}

impl Picked {
    /// Composes `f`, a function of the stored gradient, into every part.
    /// Each `G_c = F∘C∘K_c − m_c`, with `m_c` its least value over `x_c`'s
    /// range. A part not chosen answers `F(C(0)) − m_c`, so the sum exceeds
    /// `F(grad)` by the constant `Σ_c (F(C(0)) − m_c) − F(C(0))` whichever
    /// part is chosen, and also when none is.
    pub fn compose(&self, f: impl Fn(i64) -> i64) -> Option<Composed> {
        let at = |t: &[i64], v: i64| usize::try_from(v).ok().and_then(|i| t.get(i).copied());
        let zero = f(at(&self.clamp, 0)?);
        let (mut tables, mut widths, mut excess) = (Vec::new(), Vec::new(), -zero);
        for (_, (lo, hi), keep) in &self.parts {
            let reach = (*lo..=*hi).map(|v| Some(f(at(&self.clamp, at(keep, v)?)?))).collect::<Option<Vec<_>>>()?;
            let (min, max) = (*reach.iter().min()?, *reach.iter().max()?);
            let table = (0..keep.len() as i64)
                .map(|v| match at(keep, v).and_then(|k| at(&self.clamp, k)) {
                    Some(c) if (*lo..=*hi).contains(&v) => f(c) - min,
                    _ => 0,
                })
                .collect();
            tables.push(table);
            widths.push(max - min);
            excess += zero - min;
        }
        Some(Composed { tables, widths, excess })
    }

    /// Each part's keep input `x_c`, an id of the graph given to
    /// [`exclusive_parts`].
    pub fn inputs(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.parts.iter().map(|p| p.0)
    }
}

/// The parts of `grad` if it is a selection whose parts are provably
/// exclusive and read by nothing else (otherwise composing would add
/// bootstraps instead of saving one).
pub(super) fn exclusive_parts(g: &Graph, grad: ValueId) -> Option<Picked> {
    let Op::Lut { table: clamp } = g.node(grad).op else { return None };
    let sum = g.node(grad).args[0];
    if g.users(sum).len() != 1 || !matches!(g.node(sum).op, Op::Add) {
        return None;
    }
    let mut parts = Vec::new();
    let mut selections = Vec::new();
    for &kept in &g.node(sum).args {
        let Op::Lut { table: keep } = g.node(kept).op else { return None };
        if g.users(kept) != [sum] {
            return None;
        }
        let x = g.node(kept).args[0];
        let (sel, index, y) = selection(g, x)?;
        parts.push((x, g.ty(x).stored(), keep));
        selections.push((sel, index, y));
    }
    let index = selections[0].1;
    if selections.iter().any(|s| s.1 != index) || parts.len() < 2 {
        return None;
    }
    let top = 1i64 << g.bits;
    let (ilo, ihi) = g.ty(index).stored();
    if ilo < 0 || ihi >= top {
        return None;
    }
    for i in ilo..=ihi {
        let mut live = 0;
        for (&(_, _, keep), &(sel, _, y)) in parts.iter().zip(&selections) {
            let (keep, sel) = (&g.tables.get(keep).entries, g.tables.get(sel).entries[i as usize]);
            let (ylo, yhi) = g.ty(y).stored();
            let mut nonzero = false;
            for v in ylo + sel..=yhi + sel {
                if !(0..top).contains(&v) {
                    return None;
                }
                nonzero |= keep[v as usize] != 0;
            }
            live += usize::from(nonzero);
        }
        if live > 1 {
            return None;
        }
    }
    let entries = |t: TableId| g.tables.get(t).entries.clone();
    Some(Picked { clamp: entries(clamp), parts: parts.into_iter().map(|(x, r, k)| (x, r, entries(k))).collect() })
}

/// `x = B(S(I)) + y`, where `B` only broadcasts a one-element table result:
/// `(S, I, y)`.
fn selection(g: &Graph, x: ValueId) -> Option<(TableId, ValueId, ValueId)> {
    if !matches!(g.node(x).op, Op::Add) {
        return None;
    }
    let found: Vec<_> = g
        .node(x)
        .args
        .iter()
        .enumerate()
        .filter_map(|(side, &a)| {
            let mut v = a;
            while matches!(g.node(v).op, Op::Expand { .. } | Op::Reshape { .. }) {
                v = g.node(v).args[0];
            }
            let one = g.ty(v).shape.iter().product::<usize>() == 1;
            match g.node(v).op {
                Op::Lut { table } if one && v != a => Some((table, g.node(v).args[0], g.node(x).args[1 - side])),
                _ => None,
            }
        })
        .collect();
    match found[..] {
        [one] => Some(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use silc_ir::{Loc, Role, Table, Type};

    /// Two candidates in `[0, 8)` packed beside selection bits of one index,
    /// kept, summed and clamped, as `scale` builds them. `select1` decides
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
        let sum = g.push(Op::Add, kept, loc);
        let grad = g.lut(Table::from_fn("clamp8", p, |v| v.min(7)), sum, loc);
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
