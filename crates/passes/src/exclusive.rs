//! Proof that at most one of several table outputs leaves its idle value:
//! the premise of a block selection's parts (`nonlinear::pick`) and of
//! `add_exclusive`, whose range is the hull of its parts (`check`).
//!
//! Each part is a table `T_c` read at `x_c = B(S_c(I)) + y_c`: a selection
//! table `S_c` of one index `I` shared by all parts, broadcast by layout ops
//! `B` beside the candidate `y_c`. The proof enumerates every value of `I`
//! and, for each part, every value of `y_c`, and counts the parts whose
//! table can answer anything but its idle value there; at most one may.
//! Nothing is read from table names, and the ranges are the caller's (the
//! checker passes its own, recomputed from the inputs). Tables may be plain
//! or a slot of a many-LUT bootstrap (as `schedule` groups them).
//! Tested through its two users: `nonlinear::pick`'s unit tests and
//! `tests/checker.rs`.

use silc_ir::{Graph, Op, ValueId};

/// One part: the table's entries, the value it reads, its idle answer.
pub struct Part<'a> {
    pub table: &'a [i64],
    pub x: ValueId,
    pub idle: i64,
}

/// The table a value is the output of, and the value it reads: a `lut`, or
/// one slot of a `lut_many` (sliced along its leading axis, then reshaped
/// as `schedule::many_lut` leaves it).
pub fn table_of(g: &Graph, v: ValueId) -> Option<(&[i64], ValueId)> {
    let n = g.node(v);
    match &n.op {
        Op::Lut { table } => Some((&g.tables.get(*table).entries, n.args[0])),
        Op::Reshape { .. } => {
            let s = g.node(n.args[0]);
            let Op::Slice { axis: 0, start, len: 1 } = s.op else { return None };
            let m = g.node(s.args[0]);
            match &m.op {
                Op::LutMany { tables } => Some((&g.tables.get(*tables.get(start)?).entries, m.args[0])),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The tables under `add_exclusive` operands `args` idle at `idle`: an
/// operand that is itself an `add_exclusive` (as `scale` nests them for
/// three or more candidates) stands for its own operands, and its idle
/// value must be the sum of theirs. At most one of the tables leaving its
/// idle value is then what every enclosing sum needs.
pub fn flatten<'g>(g: &'g Graph, args: &[ValueId], idle: &[i64]) -> Result<Vec<Part<'g>>, String> {
    if args.len() != idle.len() {
        return Err(format!("{} operands but {} idle values", args.len(), idle.len()));
    }
    let mut parts = Vec::new();
    for (&v, &i) in args.iter().zip(idle) {
        match &g.node(v).op {
            Op::AddExclusive { idle: inner } => {
                if inner.iter().sum::<i64>() != i {
                    return Err(format!("{v} is idle at {}, not {i}", inner.iter().sum::<i64>()));
                }
                parts.extend(flatten(g, &g.node(v).args, inner)?);
            }
            _ => {
                let (table, x) = table_of(g, v).ok_or_else(|| format!("{v} is not a table's answer"))?;
                parts.push(Part { table, x, idle: i });
            }
        }
    }
    Ok(parts)
}

/// `x = B(S(I)) + y`, where `B` only broadcasts a one-element table answer:
/// `(S's entries, I, y)`.
fn selection(g: &Graph, x: ValueId) -> Option<(&[i64], ValueId, ValueId)> {
    if !matches!(g.node(x).op, Op::Add) {
        return None;
    }
    let args = &g.node(x).args;
    let found: Vec<_> = args
        .iter()
        .enumerate()
        .filter_map(|(side, &a)| {
            let mut v = a;
            while matches!(g.node(v).op, Op::Expand { .. })
                || (matches!(g.node(v).op, Op::Reshape { .. }) && table_of(g, v).is_none())
            {
                v = g.node(v).args[0];
            }
            let one = g.ty(v).shape.iter().product::<usize>() == 1;
            let (table, index) = table_of(g, v)?;
            (one && v != a).then_some((table, index, args[1 - side]))
        })
        .collect();
    match found[..] {
        [one] => Some(one),
        _ => None,
    }
}

/// `Ok` when at most one part can answer other than its idle value, for
/// every value of the shared index; else why not.
pub fn prove(g: &Graph, parts: &[Part], range: &dyn Fn(ValueId) -> (i64, i64)) -> Result<(), String> {
    if parts.len() < 2 {
        return Err("fewer than two parts".into());
    }
    let mut selections = Vec::new();
    for (c, part) in parts.iter().enumerate() {
        let s = selection(g, part.x)
            .ok_or_else(|| format!("part {c} does not read a selection table's answer plus a candidate"))?;
        selections.push(s);
    }
    let index = selections[0].1;
    if selections.iter().any(|s| s.1 != index) {
        return Err("the parts' selections read different indices".into());
    }
    let top = 1i64 << g.bits;
    let (ilo, ihi) = range(index);
    if ilo < 0 || ihi >= top {
        return Err(format!("the index {index} may leave [0, {top})"));
    }
    for i in ilo..=ihi {
        let mut live = Vec::new();
        for (c, (part, &(sel, _, y))) in parts.iter().zip(&selections).enumerate() {
            let sel = sel[i as usize];
            let (ylo, yhi) = range(y);
            let mut moves = false;
            for v in ylo + sel..=yhi + sel {
                if !(0..top).contains(&v) {
                    return Err(format!("part {c} reads {v}, outside its table's domain [0, {top})"));
                }
                moves |= part.table[v as usize] != part.idle;
            }
            if moves {
                live.push(c);
            }
        }
        if live.len() > 1 {
            return Err(format!("at index value {i}, parts {live:?} may leave their idle values together"));
        }
    }
    Ok(())
}
