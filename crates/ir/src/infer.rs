//! Type inference: the shape and the interval of every op's result from its
//! operands' types.
//!
//! Ranges form an interval lattice (join = the smallest interval holding both),
//! and every transfer function here is sound: the true range of each element
//! lies inside the inferred one. Low-level arithmetic works on stored integers
//! (logical + offset); high-level ops on logical values; layout ops keep their
//! operand's offset. Passes use [`infer`] to type the nodes they create, and the
//! verifier checks declared types against it.

use crate::graph::{Graph, ValueId};
use crate::op::Op;
use crate::semantics;
use crate::types::{Type, Vis};

/// The join of two intervals.
pub fn join((a, b): (i64, i64), (c, d): (i64, i64)) -> (i64, i64) {
    (a.min(c), b.max(d))
}

/// Infers the type of `op` applied to `args` in `g`. Errors describe the
/// mismatch (wrong shapes, wrong arity) in words.
pub fn infer(g: &Graph, op: &Op, args: &[ValueId]) -> Result<Type, String> {
    if let Some(n) = op.arity() {
        if n != args.len() {
            return Err(format!("`{}` takes {n} operand(s), found {}", op.name(), args.len()));
        }
    } else if args.is_empty() {
        return Err(format!("`{}` needs at least one operand", op.name()));
    }
    let t: Vec<&Type> = args.iter().map(|&a| g.ty(a)).collect();
    let vis = if t.iter().any(|t| t.vis == Vis::Enc) { Vis::Enc } else { Vis::Clear };
    let stored = |i: usize| t[i].stored();
    let same_shape = |what: &str| -> Result<Vec<usize>, String> {
        for x in &t[1..] {
            if x.shape != t[0].shape {
                return Err(format!("{what}: operand shapes {:?} and {:?} differ", t[0].shape, x.shape));
            }
        }
        Ok(t[0].shape.clone())
    };
    let mk = |shape: Vec<usize>, (lo, hi): (i64, i64)| Ok(Type { vis, shape, lo, hi, offset: 0, torus: None });
    let p = g.bits;
    let torus = torus_rule(op, &t, p)?;
    let ty = match op {
        Op::Input { .. } => Err("inputs declare their type".into()),
        Op::Output { .. } => Ok(t[0].clone()),
        Op::Form { axis, .. } => {
            if *axis >= t[0].shape.len() {
                return Err(format!("form's batch axis {axis} is beyond its shape {:?}", t[0].shape));
            }
            Ok(t[0].clone())
        }
        Op::MatMul => {
            let (a, b) = (t[0], t[1]);
            if a.shape.len() != 2 || b.shape.len() != 2 || a.shape[1] != b.shape[0] {
                return Err(format!("matmul of shapes {:?} and {:?}", a.shape, b.shape));
            }
            let k = a.shape[1] as i64;
            let corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi];
            let lo = *corners.iter().min().unwrap();
            let hi = *corners.iter().max().unwrap();
            mk(vec![a.shape[0], b.shape[1]], (lo.min(0) * k, hi.max(0) * k))
        }
        Op::Transpose => {
            if t[0].shape.len() != 2 {
                return Err(format!("transpose of a {}-d tensor", t[0].shape.len()));
            }
            Ok(t[0].with_shape(vec![t[0].shape[1], t[0].shape[0]]))
        }
        Op::Rescale { factors, bits, shifts, relu } => {
            check_shifts(shifts, factors.len())?;
            check_relu(*relu, shifts)?;
            let bounds = semantics::rescale_bounds(*bits, *relu);
            mk(
                t[0].shape.clone(),
                rescale_range(&semantics::rescale_divisors(factors, shifts), bounds, t[0].lo, t[0].hi),
            )
        }
        Op::Relu => mk(t[0].shape.clone(), (t[0].lo.max(0), t[0].hi.max(0))),
        Op::ReluBackward => {
            let shape = same_shape("relu_backward")?;
            mk(shape, (t[0].lo.min(0), t[0].hi.max(0)))
        }
        Op::CeGrad { grad_max, .. } => {
            let shape = same_shape("ce_grad")?;
            if shape.len() != 2 {
                return Err("ce_grad takes [batch, classes] tensors".into());
            }
            mk(shape, (-grad_max, *grad_max))
        }
        Op::LogisticGrad { grad_max, .. } => {
            let shape = same_shape("logistic_grad")?;
            if shape.len() != 2 || shape[1] != 1 {
                return Err("logistic_grad takes [batch, 1] tensors (a logit difference and class 0's label)".into());
            }
            mk(shape, (-grad_max, *grad_max))
        }
        Op::SgdUpdate { lo_bits: 0, .. } => {
            let shape = same_shape("sgd_update")?;
            mk(shape, (t[0].lo, t[0].hi))
        }
        Op::SgdUpdate { .. } => {
            let (w, g) = (&t[0].shape, &t[1].shape);
            if w.len() != 3 || w[0] != 2 || w[1..] != g[..] {
                return Err(format!("sgd_update of a two-digit weight: shapes {w:?} and {g:?}"));
            }
            mk(w.clone(), (t[0].lo, t[0].hi))
        }
        Op::ModMatMul { modulus } => {
            let (a, b) = (t[0], t[1]);
            if a.shape.len() != 2 || b.shape.len() != 2 || a.shape[1] != b.shape[0] {
                return Err(format!("mod_matmul of shapes {:?} and {:?}", a.shape, b.shape));
            }
            mk(vec![a.shape[0], b.shape[1]], (0, modulus - 1))
        }
        Op::FromResidues { moduli, n_div, c_lo, c_hi, bits, shifts, relu, low, chunks } => {
            let (wide, first) = (1i64 << (p + 1), moduli.first() == Some(&(1i64 << (p + 1))));
            let low_ok = *low == 2 || (first && low.count_ones() == 1 && *low > 2 && *low <= wide / 4);
            if let Some(d) = semantics::fine_divisor(p, moduli) {
                if d % *low != 0 {
                    return Err(format!("low={low}: a two-scale system over {d} splits it by a factor of {d}"));
                }
                if !chunks.is_empty() {
                    return Err("a two-scale from_residues is not cut into chunks".into());
                }
            } else if !low_ok {
                return Err(format!(
                    "low={low}: the modulus {wide} gives a radix of 2, or, first, a power of two up to {}",
                    wide / 4
                ));
            }
            let radices = semantics::radices(p, moduli, *low);
            let q = chunks.len().max(1);
            if moduli.len() * q != args.len() || *n_div > radices.len() {
                return Err(format!(
                    "from_residues has {} moduli and {} chunk(s), so {} operands, not {}",
                    moduli.len(),
                    q,
                    moduli.len() * q,
                    args.len()
                ));
            }
            if !chunks.is_empty() {
                if !shifts.is_empty() {
                    return Err("a chunked from_residues cannot be block-scaled (shifts and chunks)".into());
                }
                let m: i128 = moduli.iter().map(|&m| m as i128).product();
                let ranges = semantics::chunk_ranges(*c_lo, *c_hi, chunks)
                    .ok_or_else(|| format!("[{c_lo}, {c_hi}] is not a product range cut into chunks {chunks:?}"))?;
                if let Some((lo, hi)) = ranges.iter().find(|(lo, hi)| (hi - lo) as i128 >= m) {
                    return Err(format!("a chunk ranges over [{lo}, {hi}], wider than the moduli's product {m}"));
                }
            }
            check_shifts(shifts, *n_div)?;
            check_relu(*relu, shifts)?;
            let shape = same_shape("from_residues")?;
            let bounds = semantics::rescale_bounds(*bits, *relu);
            mk(shape, rescale_range(&semantics::rescale_divisors(&radices[..*n_div], shifts), bounds, *c_lo, *c_hi))
        }
        Op::Add => {
            let shape = same_shape("add")?;
            let (a, b) = (stored(0), stored(1));
            mk(shape, (a.0 + b.0, a.1 + b.1))
        }
        Op::AddExclusive { idle } => {
            let shape = same_shape("add_exclusive")?;
            let (a, b) = (stored(0), stored(1));
            let [ia, ib] = idle[..] else {
                return Err(format!("add_exclusive takes 2 idle values, not {}", idle.len()));
            };
            // One operand in its range beside the other's idle value. (Both
            // idle lies within this too when an operand can be idle; when one
            // cannot, the other always is.)
            mk(shape, ((a.0 + ib).min(ia + b.0), (a.1 + ib).max(ia + b.1)))
        }
        Op::Sub => {
            let shape = same_shape("sub")?;
            let (a, b) = (stored(0), stored(1));
            mk(shape, (a.0 - b.1, a.1 - b.0))
        }
        Op::AddClear { c } => {
            let a = stored(0);
            mk(t[0].shape.clone(), (a.0 + c, a.1 + c))
        }
        Op::AddDither { lo, hi, modulus, .. } => {
            if lo > hi {
                return Err(format!("add_dither's range [{lo}, {hi}] is empty"));
            }
            match modulus {
                Some(m) => mk(t[0].shape.clone(), (0, m - 1)),
                None => {
                    let a = stored(0);
                    mk(t[0].shape.clone(), (a.0 + lo, a.1 + hi))
                }
            }
        }
        Op::MulClear { c } => {
            let a = stored(0);
            mk(t[0].shape.clone(), ((a.0 * c).min(a.1 * c), (a.0 * c).max(a.1 * c)))
        }
        Op::Pack { scale } => {
            let shape = same_shape("pack")?;
            let (a, b) = (stored(0), stored(1));
            let s = *scale;
            mk(shape, ((a.0 * s).min(a.1 * s) + b.0, (a.0 * s).max(a.1 * s) + b.1))
        }
        Op::ReduceSum { axis, chunk } => {
            let mut shape = t[0].shape.clone();
            if *axis >= shape.len() || *chunk == 0 {
                return Err(format!("reduce_sum over axis {axis} (chunk {chunk}) of shape {shape:?}"));
            }
            let n = (*chunk).min(shape[*axis]).max(1) as i64;
            shape[*axis] = shape[*axis].div_ceil(*chunk);
            let (lo, hi) = stored(0);
            mk(shape, (if lo < 0 { lo * n } else { lo }, if hi > 0 { hi * n } else { hi }))
        }
        Op::Lut { table } => {
            let tab = g.tables.get(*table);
            if tab.entries.len() != 1usize << p {
                return Err(format!("table {table} has {} entries, not 2^{p}", tab.entries.len()));
            }
            mk(t[0].shape.clone(), lut_range(&tab.entries, stored(0), p))
        }
        Op::OnGrid { hi, .. } => mk(t[0].shape.clone(), (0, *hi)),
        // Whatever the input (it may wrap): its low p bits.
        Op::Fold => mk(t[0].shape.clone(), (0, (1i64 << p) - 1)),
        Op::LutMany { tables } => {
            let mut r: Option<(i64, i64)> = None;
            for tid in tables {
                let tab = g.tables.get(*tid);
                if tab.entries.len() != 1usize << p {
                    return Err(format!("table {tid} has {} entries, not 2^{p}", tab.entries.len()));
                }
                let x = lut_range(&tab.entries, stored(0), p);
                r = Some(r.map_or(x, |r| join(r, x)));
            }
            let mut shape = vec![tables.len()];
            shape.extend(&t[0].shape);
            mk(shape, r.unwrap_or((0, 0)))
        }
        Op::Reshape { shape } => {
            if shape.iter().product::<usize>() != t[0].len() {
                return Err(format!("reshape of {:?} to {shape:?}", t[0].shape));
            }
            Ok(t[0].with_shape(shape.clone()))
        }
        Op::Expand { axis, n } => {
            let mut shape = t[0].shape.clone();
            if *axis > shape.len() {
                return Err(format!("expand at axis {axis} of shape {shape:?}"));
            }
            shape.insert(*axis, *n);
            Ok(t[0].with_shape(shape))
        }
        Op::Slice { axis, start, len } => {
            let mut shape = t[0].shape.clone();
            if *axis >= shape.len() || start + len > shape[*axis] || *len == 0 {
                return Err(format!("slice {start}..{} of axis {axis} of shape {shape:?}", start + len));
            }
            shape[*axis] = *len;
            // One slot of a many-LUT result: that table's own range, not the union.
            if let (Op::LutMany { tables }, 0, 1) = (&g.node(args[0]).op, *axis, *len) {
                let src = g.node(args[0]).args[0];
                let r = lut_range(&g.tables.get(tables[*start]).entries, g.ty(src).stored(), p);
                return Ok(Type { shape, lo: r.0 - t[0].offset, hi: r.1 - t[0].offset, ..t[0].clone() });
            }
            Ok(t[0].with_shape(shape))
        }
        Op::Concat { axis } => {
            let mut shape = t[0].shape.clone();
            if *axis >= shape.len() {
                return Err(format!("concat along axis {axis} of shape {shape:?}"));
            }
            let mut range = (t[0].lo, t[0].hi);
            for x in &t[1..] {
                let mut s = x.shape.clone();
                if s.len() != shape.len() || x.offset != t[0].offset || x.torus != t[0].torus {
                    return Err("concat of tensors of different rank, offset or torus".into());
                }
                s[*axis] = shape[*axis];
                if s != shape {
                    return Err(format!("concat of shapes {:?} and {:?}", t[0].shape, x.shape));
                }
                shape[*axis] += x.shape[*axis];
                range = join(range, (x.lo, x.hi));
            }
            Ok(Type { vis, shape, lo: range.0, hi: range.1, offset: t[0].offset, torus: t[0].torus })
        }
        Op::LutTorus { table, m } => {
            let tab = g.tables.get(*table);
            if tab.entries.len() != 1usize << p {
                return Err(format!("table {table} has {} entries, not 2^{p}", tab.entries.len()));
            }
            if let Some(e) = tab.entries.iter().find(|&&e| !(0..*m).contains(&e)) {
                return Err(format!("lut_torus answers residues modulo {m}: table {table} holds {e}"));
            }
            Ok(Type { vis, ..Type::enc_torus(t[0].shape.clone(), *m) })
        }
        Op::TorusSign => mk(t[0].shape.clone(), (1i64 << (p - 1), 3 << (p - 1))),
        Op::ExtDot { m, transpose, .. } => {
            let (a, b) = (t[0], t[1]);
            let (rows, k) = match (&a.shape[..], transpose) {
                ([r, k], false) | ([k, r], true) => (*r, *k),
                _ => return Err(format!("ext_dot's first operand is a matrix, not of shape {:?}", a.shape)),
            };
            match b.shape[..] {
                [bk, cols] if bk == k => Ok(Type { vis, ..Type::enc_torus(vec![rows, cols], *m) }),
                _ => Err(format!(
                    "ext_dot of shapes {:?}{} and {:?}",
                    a.shape,
                    if *transpose { "ᵀ" } else { "" },
                    b.shape
                )),
            }
        }
        Op::Coarsen { by } => {
            let m = t[0].torus.expect("torus_rule: a torus operand");
            Ok(Type { vis, ..Type::enc_torus(t[0].shape.clone(), m / by) })
        }
        Op::TorusRead { table, torus: out } => {
            let shape = same_shape("torus_read")?;
            let (slo, shi) = t[1].stored();
            if t[1].torus.is_some() || slo < 1i64 << (p - 1) || shi > 3 << (p - 1) {
                return Err(format!("torus_read's second operand is a torus_sign, not {}", t[1]));
            }
            let m = t[0].torus.expect("torus_rule: a torus operand");
            // The sign must be the sign of this very residue: the read's
            // position depends on it, and the simulator takes it for granted.
            let sign = g.node(unshaped(g, args[1]));
            if !matches!(sign.op, Op::TorusSign) || unshaped(g, sign.args[0]) != unshaped(g, args[0]) {
                return Err("torus_read's second operand must be the torus_sign of its first".into());
            }
            let tab = g.tables.get(*table);
            if tab.entries.len() != m as usize {
                return Err(format!(
                    "torus_read of residues modulo {m} takes a table of {m} entries, not {}",
                    tab.entries.len()
                ));
            }
            let lo = *tab.entries.iter().min().expect("m ≥ 3 entries");
            let hi = *tab.entries.iter().max().expect("m ≥ 3 entries");
            match out {
                Some(o) if lo < 0 || hi >= *o => {
                    Err(format!("torus_read answers residues modulo {o}: table {table} holds {lo}..{hi}"))
                }
                Some(o) => Ok(Type { vis, ..Type::enc_torus(shape, *o) }),
                None if lo < 0 || hi >= 1i64 << (p + 1) => {
                    Err(format!("torus_read answers on the message grid: table {table} holds {lo}..{hi}"))
                }
                None => mk(shape, (lo, hi)),
            }
        }
    }?;
    // Leveled arithmetic on torus residues wraps modulo their `m`.
    Ok(match torus {
        Some(m) if !matches!(op, Op::TorusSign | Op::TorusRead { .. }) && !op.is_layout() => {
            Type { lo: 0, hi: m - 1, offset: 0, torus: Some(m), ..ty }
        }
        _ => ty,
    })
}

/// `v` with its reshapes peeled off.
fn unshaped(g: &Graph, v: ValueId) -> ValueId {
    let mut v = v;
    while let Op::Reshape { .. } = g.node(v).op {
        v = g.node(v).args[0];
    }
    v
}

/// Which ops take residues held at a torus position (`Type::torus`), and
/// the `m` they share: leveled arithmetic and layout keep it, the two read
/// bootstraps take it (an odd `m` below `2^p`, the ones whose folded
/// positions stay a window apart), `on_grid` takes a fine sum off the
/// torus `2^(p+1)·d`, and nothing else may.
fn torus_rule(op: &Op, t: &[&Type], p: u32) -> Result<Option<i64>, String> {
    let first = match op {
        Op::TorusSign | Op::TorusRead { .. } => {
            let m = t[0].torus.ok_or_else(|| format!("`{}` reads a torus residue, not {}", op.name(), t[0]))?;
            if m % 2 == 0 || m < 3 || m >= 1i64 << p {
                return Err(format!(
                    "a torus residue modulo {m} cannot be read at {p} bits: odd moduli from 3 to {}",
                    (1i64 << p) - 1
                ));
            }
            return Ok(Some(m));
        }
        // A two-scale conversion takes its fine sum where it lies.
        Op::FromResidues { moduli, .. } => {
            for (i, x) in t.iter().enumerate() {
                let m = moduli[i % moduli.len().max(1)];
                if x.torus.is_some() && (x.torus != Some(m) || semantics::fine_modulus(p, m).is_none()) {
                    return Err(format!("`from_residues` takes a torus value only as a fine sum, not {x}"));
                }
            }
            return Ok(None);
        }
        // An external product answers on the torus it names, of operands
        // on the grid.
        Op::ExtDot { .. } => {
            if let Some(x) = t.iter().find(|x| x.torus.is_some()) {
                return Err(format!("ext_dot multiplies values on the grid, not {x}"));
            }
            return Ok(None);
        }
        Op::Coarsen { by } => {
            let m = t[0].torus.ok_or_else(|| format!("coarsen takes a torus residue, not {}", t[0]))?;
            if m % by != 0 || m / by < 2 {
                return Err(format!("coarsen {{by={by}}} of a residue modulo {m}: {by} must divide {m}"));
            }
            return Ok(None);
        }
        // A fine sum brought onto the grid leaves the torus.
        Op::OnGrid { d, hi } => {
            let fine = (1i64 << (p + 1)).saturating_mul(*d);
            if t[0].torus != Some(fine) {
                return Err(format!("on_grid {{d={d}}} takes a value on the torus {fine}, not {}", t[0]));
            }
            if *hi >= 2i64 << p {
                return Err(format!("on_grid declares [0, {hi}], beyond the grid [0, {}]", (2i64 << p) - 1));
            }
            return Ok(None);
        }
        _ => t.iter().find_map(|x| x.torus),
    };
    let Some(m) = first else { return Ok(None) };
    let leveled = matches!(
        op,
        Op::Add
            | Op::AddExclusive { .. }
            | Op::Sub
            | Op::AddClear { .. }
            | Op::AddDither { modulus: None, .. }
            | Op::MulClear { .. }
            | Op::ReduceSum { .. }
            | Op::Form { .. }
    );
    if !leveled && (!op.is_layout() || matches!(op, Op::Output { .. })) {
        return Err(format!("`{}` cannot take a torus residue (modulo {m})", op.name()));
    }
    if let Some(x) = t.iter().find(|x| x.torus != Some(m)) {
        return Err(format!("`{}` mixes a torus residue modulo {m} with {x}", op.name()));
    }
    Ok(Some(m))
}

/// Output interval of a bootstrap of `entries` over stored inputs `lo..=hi`,
/// including TFHE's negacyclic answers for inputs in the padding half.
pub fn lut_range(entries: &[i64], (lo, hi): (i64, i64), p: u32) -> (i64, i64) {
    let size = 1i64 << p;
    let in_range = |x: i64| entries[x as usize];
    if lo >= 0 && hi < size {
        let s = &entries[lo as usize..=hi as usize];
        return (*s.iter().min().unwrap(), *s.iter().max().unwrap());
    }
    // Out of the table's domain: anything the negacyclic wrap can give.
    let full = 1i64 << (p + 1);
    let mut r = (i64::MAX, i64::MIN);
    let span = (hi - lo).min(full - 1);
    for d in 0..=span {
        let v = semantics::lut(entries, lo + d, p);
        r = join(r, (v, v));
    }
    let _ = in_range;
    r
}

/// The range of a rescale over `[lo, hi]`. A block-scaled rescale (more than
/// one candidate divisor) is given the whole signed `bits` range: its values
/// are meant to fill it, and the lowering plans its chains for that range.
fn rescale_range(divisors: &[i64], bounds: (i64, i64), lo: i64, hi: i64) -> (i64, i64) {
    match divisors {
        [d] => (semantics::rescale_to(lo, *d, bounds), semantics::rescale_to(hi, *d, bounds)),
        _ => bounds,
    }
}

/// A ReLU rescale is static: block scaling's flags are planned for signed
/// bounds only.
fn check_relu(relu: bool, shifts: &[usize]) -> Result<(), String> {
    if relu && !shifts.is_empty() {
        return Err("a relu rescale cannot be block scaled".into());
    }
    Ok(())
}

/// Block-scaling shifts are ascending prefix lengths ending at the full divisor.
fn check_shifts(shifts: &[usize], n: usize) -> Result<(), String> {
    if shifts.is_empty() {
        return Ok(());
    }
    if !shifts.windows(2).all(|w| w[0] < w[1]) || shifts.last() != Some(&n) {
        return Err(format!("shifts {shifts:?} must ascend and end at the {n} factor(s) of the divisor"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Residues held at a torus position: what may take them, and a read
    /// whose sign belongs to another residue, are refused with the reason.
    #[test]
    fn torus_residues_are_typed_and_their_reads_checked() {
        let head =
            "graph t bits=4\nt0 = table \"bin5\" [0 0 1 3 1 0 0 1 3 1 0 0 1 3 1 0]\nt1 = table \"read5\" [0..4]\n\
                    %0 = input {name=\"a\", role=data} : enc[2] u4 [0, 15]\n\
                    %1 = lut_torus %0 {table=t0, m=5} : enc[2] u3 [0, 4] torus 5\n\
                    %2 = add %1, %1 : enc[2] u3 [0, 4] torus 5\n";
        let good = format!(
            "{head}%3 = torus_sign %2 : enc[2] u5 [8, 24]\n%4 = torus_read %2, %3 {{table=t1}} : enc[2] u3 [0, 4]\n"
        );
        crate::read::read(&good).expect("a read of the sum with its own sign");
        let other = format!(
            "{head}%3 = torus_sign %1 : enc[2] u5 [8, 24]\n%4 = torus_read %2, %3 {{table=t1}} : enc[2] u3 [0, 4]\n"
        );
        let err = crate::read::read(&other).expect_err("the sign of another residue").to_string();
        assert!(err.contains("torus_sign of its first"), "{err}");
        let lut = format!("{head}%3 = lut %2 {{table=t0}} : enc[2] u3 [0, 4]\n");
        let err = crate::read::read(&lut).expect_err("a grid table on a torus residue").to_string();
        assert!(err.contains("cannot take a torus residue"), "{err}");
        let even = head
            .replace("m=5} : enc[2] u3 [0, 4] torus 5", "m=6} : enc[2] u3 [0, 5] torus 6")
            .replace("add %1, %1 : enc[2] u3 [0, 4] torus 5", "add %1, %1 : enc[2] u3 [0, 5] torus 6")
            + "%3 = torus_sign %2 : enc[2] u5 [8, 24]\n";
        let err = crate::read::read(&even).expect_err("an even modulus").to_string();
        assert!(err.contains("cannot be read"), "{err}");
    }
}
