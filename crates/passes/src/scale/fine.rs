//! The digits of a two-scale system `[d, 2^(p+1)·d]`
//! (`semantics::fine_divisor`): a residue `r = C mod d`, and the fine sum
//! `C mod 2^(p+1)·d` held at `C/(2^(p+1)·d)` on the torus
//! (`karatsuba::torus::lower_fine`). With `V = C + K`, tables of `r` give
//! `V mod d`'s digits in `d`'s radices, and one more gives
//! `(K − V mod d)` at the fine scale: added to the fine sum it leaves
//! `d·⌊V/d⌋` there, which is `⌊V/d⌋` on the message grid (`on_grid`), the
//! top digit: read whole when `V < d·2^p`, else (the wide form, `V <
//! d·2^(p+1)`, `semantics::fine_radices`) as its low bit and the rest. Where
//! `r` was read from a torus sum, its tables are second reads of that sum
//! (one PBS each, the sign shared); else tables of the grid residue.
//!
//! Three PBS per output at most against about a dozen for the conversion
//! of three moduli, and two PBS per product term against three
//! (docs/arithmetic.md, "The two-scale read, measured").

use silc_ir::{Graph, Loc, Op, Table, ValueId};

/// The digits of `V = C + K` in `radix` (`d`'s radices, then `2^p`, or in
/// the `wide` form `2, 2^p`: `semantics::fine_radices`), from
/// `residues = [r, fine]`; `c_hi` bounds `C`.
pub(super) fn digits(
    g: &mut Graph,
    residues: &[ValueId],
    d: i64,
    (radix, wide): (&[i64], bool),
    (k_off, c_hi): (i64, i64),
    loc: Loc,
) -> Vec<ValueId> {
    let p = g.bits;
    let fine = (1i64 << (p + 1)) * d;
    let (r, sum) = (residues[0], residues[1]);
    let v_mod = move |x: i64| (x + k_off).rem_euclid(d);
    let mut out = Vec::new();
    let mut below = 1i64;
    let top_digits = if wide { 2 } else { 1 };
    for &n in &radix[..radix.len() - top_digits] {
        let name = format!("digit{d}/{n}");
        out.push(of_residue(g, r, d, &name, None, &move |x| v_mod(x) / below % n, loc));
        below *= n;
    }
    let neg = of_residue(g, r, d, &format!("fine{d}"), Some(fine), &move |x| (k_off - v_mod(x)).rem_euclid(fine), loc);
    let exact = g.push(Op::Add, vec![sum, neg], loc);
    let hi = (c_hi + k_off) / d;
    let q = g.push(Op::OnGrid { d, hi }, vec![exact], loc);
    if wide {
        // `q` anywhere on the grid, `[0, 2^(p+1))`: its low bit and the
        // rest, as the wide modulus's digits are read.
        out.extend(super::split_wide(g, q, 2, loc));
    } else {
        out.push(q);
    }
    out
}

/// `f(r)` for the residue `r` modulo `d`, on the grid or at `f(r)/t` on the
/// torus `t`: a second read of the torus sum `r` was read from, else a
/// table of `r` itself.
pub(super) fn of_residue(
    g: &mut Graph,
    r: ValueId,
    d: i64,
    name: &str,
    torus: Option<i64>,
    f: &dyn Fn(i64) -> i64,
    loc: Loc,
) -> ValueId {
    let p = g.bits;
    // Only a plain read: a table after it would change what `f` reads.
    let plain = super::read_back(g, r).filter(|(_, _, v)| v.iter().enumerate().all(|(i, &e)| e == i as i64));
    match plain {
        Some((sum, sign, _)) => {
            let shape = g.ty(r).shape.clone();
            let sum = g.push(Op::Reshape { shape: shape.clone() }, vec![sum], loc);
            let sign = g.push(Op::Reshape { shape }, vec![sign], loc);
            let table = g.intern(Table { name: format!("read{name}"), entries: (0..d).map(f).collect() });
            g.push(Op::TorusRead { table, torus }, vec![sum, sign], loc)
        }
        None => {
            let table = Table::from_fn(name.to_string(), p, |x| f(x.rem_euclid(d)));
            match torus {
                None => g.lut(table, r, loc),
                Some(m) => {
                    let table = g.intern(table);
                    g.push(Op::LutTorus { table, m }, vec![r], loc)
                }
            }
        }
    }
}
