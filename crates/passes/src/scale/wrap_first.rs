//! The digits of a wrap-first system `[2^(p+1), m]` (`rns::wrap_first`).
//! With `V = C + K` in `[0, 2^(p+1)·m)`, `u = V mod 2^(p+1)` is the wrapping
//! sum plus `K`: one fold gives `u mod 2^p`, whose tables are the digits
//! above the divisor, and the top bit `u_hi` is a constant table of the
//! sum. The rest, `a = ⌊V/2^(p+1)⌋ < m`, is `(V − u)·2^-(p+1) mod m`: a read
//! of the residue modulo `m` answering `(r + K)·2^-(p+1)`, a table of the
//! fold answering `−(u mod 2^p)·2^-(p+1)`, their sum reduced, and, beside
//! `2m·u_hi`, one table giving the top digit `u_hi + 2a`. The chain then
//! runs over the digits as over any others.

use silc_ir::{semantics, Graph, Loc, Op, Table, ValueId};

use crate::karatsuba::wrap;

/// The upper digits of `V = C + K` in the radices `upper` (the powers of
/// two above `low`, then `2m`), from `residues = [wrapping sum, r mod m]`.
pub(super) fn digits(
    g: &mut Graph,
    residues: &[ValueId],
    (low, upper): (i64, &[i64]),
    k_off: i64,
    loc: Loc,
) -> Vec<ValueId> {
    let p = g.bits;
    let (wide, half) = (1i64 << (p + 1), 1i64 << p);
    let m = upper.last().expect("a top radix") / 2;
    let (sum, r) = (residues[0], residues[1]);
    let s = g.push(Op::AddClear { c: k_off.rem_euclid(wide) }, vec![sum], loc);
    let u_lo = g.push(Op::Fold, vec![s], loc);
    let mut out = Vec::new();
    let mut below = low;
    for &n in &upper[..upper.len() - 1] {
        out.push(g.lut(Table::from_fn(format!("wdigit{below}/{n}"), p, move |v| v / below % n), u_lo, loc));
        below *= n;
    }
    let inv = semantics::mod_inverse(wide.rem_euclid(m), m);
    let a =
        super::fine::of_residue(g, r, m, &format!("wtop{m}"), None, &move |x| ((x + k_off) * inv).rem_euclid(m), loc);
    let b = g.lut(Table::from_fn(format!("wneg{m}"), p, move |v| (-v * inv).rem_euclid(m)), u_lo, loc);
    let ab = g.push(Op::Add, vec![a, b], loc);
    let t = g.lut(Table::from_fn(format!("mod{m}"), p, move |v| v.rem_euclid(m)), ab, loc);
    let hi = wrap::top(g, s, 2 * m, loc);
    let idx = g.push(Op::Add, vec![t, hi], loc);
    let c_hi = (-half * inv).rem_euclid(m);
    let top = Table::from_fn(format!("wtop{m}/{}", 2 * m), p, move |v| {
        let (bit, t) = if v >= 2 * m { (1, v - 2 * m) } else { (0, v) };
        bit + 2 * (t + bit * c_hi).rem_euclid(m)
    });
    out.push(g.lut(top, idx, loc));
    out
}
