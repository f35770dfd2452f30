//! The digits of a wrap-first system `[2^(p+1), m]` (`rns::wrap_first`).
//! With `V = C + K` in `[0, 2^(p+1)·m)`, `u = V mod 2^(p+1)` is the wrapping
//! sum plus `K`: one fold gives `u mod 2^p`, whose tables are the digits
//! above the divisor, and the top bit `u_hi` is a constant table of the
//! sum. The rest, `a = ⌊V/2^(p+1)⌋ < m`, is `(V − u)·2^-(p+1) mod m`: a read
//! of the residue modulo `m` answering `(r + K)·2^-(p+1)`, a table of the
//! fold answering `−(u mod 2^p)·2^-(p+1)`, their sum reduced, and, beside
//! `2m·u_hi`, one table giving the top digit `u_hi + 2a`. Where `m` is too
//! large for those tables (`3m > 2^p`, `rns::wrap_first::Top::Torus`), the
//! same three terms (the top bit's as a constant table of the sum, whose
//! negacyclic answer differs by its term between the halves) are summed on
//! the torus `m` and read there, and `u_hi` joins the last digit of the
//! fold. The chain then runs over the digits as over any others.

use silc_ir::{semantics, Graph, Loc, Op, Table, ValueId};

use crate::karatsuba::torus::{lut_torus, read};
use crate::karatsuba::wrap;
use crate::rns::wrap_first::{top_form, Top};

/// The upper digits of `V = C + K` in the radices `upper` (the powers of
/// two above `low`, then `2m`; in the torus form, an odd `m`), from
/// `residues = [wrapping sum, r mod m]`.
pub(super) fn digits(
    g: &mut Graph,
    residues: &[ValueId],
    (low, upper): (i64, &[i64]),
    k_off: i64,
    loc: Loc,
) -> Vec<ValueId> {
    let p = g.bits;
    let (wide, half) = (1i64 << (p + 1), 1i64 << p);
    let top_radix = *upper.last().expect("a top radix");
    if top_form(p, top_radix) == Some(Top::Torus) {
        return torus_digits(g, residues, (low, upper), k_off, loc);
    }
    let m = top_radix / 2;
    let r = residues[1];
    let (s, u_lo) = shifted_and_folded(g, residues[0], k_off, loc);
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

/// The torus form ([`Top::Torus`]): `upper` is powers of two whose product
/// is `2^(p+1)/low`, then `m`. The digits of `u = V mod 2^(p+1)` above
/// `low` come from the fold, the last with the top bit added; `a` is
/// `(r + K)·2^-(p+1) − u_lo·2^-(p+1) − 2^p·u_hi·2^-(p+1) mod m`, its three
/// terms answered at `t/m` on the torus and their sum read there.
fn torus_digits(
    g: &mut Graph,
    residues: &[ValueId],
    (low, upper): (i64, &[i64]),
    k_off: i64,
    loc: Loc,
) -> Vec<ValueId> {
    let p = g.bits;
    let (wide, half) = (1i64 << (p + 1), 1i64 << p);
    let (pow2, m) = (&upper[..upper.len() - 1], upper[upper.len() - 1]);
    let r = residues[1];
    let (s, u_lo) = shifted_and_folded(g, residues[0], k_off, loc);
    let mut out = Vec::new();
    let mut below = low;
    for (i, &n) in pow2.iter().enumerate() {
        if i + 1 < pow2.len() {
            out.push(g.lut(Table::from_fn(format!("wdigit{below}/{n}"), p, move |v| v / below % n), u_lo, loc));
        } else {
            // `⌊u/below⌋ = ⌊u_lo/below⌋ + (n/2)·u_hi` (`below·n/2 = 2^p`).
            let lo = g.lut(Table::from_fn(format!("wdigit{below}/{n}"), p, move |v| v / below), u_lo, loc);
            let hi = wrap::top(g, s, n / 2, loc);
            out.push(g.push(Op::Add, vec![lo, hi], loc));
        }
        below *= n;
    }
    let inv = semantics::mod_inverse(wide.rem_euclid(m), m);
    let a =
        super::fine::of_residue(g, r, m, &format!("wa{m}"), Some(m), &move |x| ((x + k_off) * inv).rem_euclid(m), loc);
    let b = lut_torus(g, Table::from_fn(format!("wneg{m}"), p, move |v| (-v * inv).rem_euclid(m)), u_lo, m, loc);
    // The top bit's term `c·u_hi`: a constant table `t` answers `t` below
    // half the torus and `-t` above, `-2t ≡ c (mod m)` apart.
    let c = (-half * inv).rem_euclid(m);
    let t = (-c * semantics::mod_inverse(2, m)).rem_euclid(m);
    let hi = lut_torus(g, Table::from_fn(format!("wbit{m}"), p, move |_| t), s, m, loc);
    let hi = g.push(Op::AddClear { c: -t }, vec![hi], loc);
    let ab = g.push(Op::Add, vec![a, b], loc);
    let sum_a = g.push(Op::Add, vec![ab, hi], loc);
    out.push(read(g, sum_a, m, false, loc));
    out
}

/// `s = sum + K`, the wrapping `u = V mod 2^(p+1)`, and its fold `u mod 2^p`.
fn shifted_and_folded(g: &mut Graph, sum: ValueId, k_off: i64, loc: Loc) -> (ValueId, ValueId) {
    let wide = 2i64 << g.bits;
    let s = g.push(Op::AddClear { c: k_off.rem_euclid(wide) }, vec![sum], loc);
    (s, g.push(Op::Fold, vec![s], loc))
}
