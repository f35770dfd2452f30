//! The window read of a wrap-first system `[2^(p+1), m]`
//! (`rns::wrap_first`): a static rescale whose result changes over at most
//! `2^p` consecutive values of `C` and is saturated on either side, as a
//! product rescaled by 2 to `p - 1` bits is (Iris's hidden layer and the
//! deltas it is sent back).
//!
//! With `W = C − c0` placed so that the window is `W ∈ [0, 2^p)`, the
//! result is `F(r)` when `q = ⌊W/2^p⌋` is 0, the lower bound when `q < 0`
//! and the upper when `q > 0`, where `r = W mod 2^p`. The wrapping sum
//! gives `r` by one fold and `q mod 2` by one constant table (its top
//! bit); the residue modulo `m` gives `q mod m = (W − r)·2^-p mod m`, read
//! on the torus `m` with `r`'s term added there when the residue is a
//! torus sum, else by two small tables. `(q mod m, q mod 2)` tell every
//! `q` of the product apart when it spans at most `2m` values. One table
//! of them says whether `q ≠ 0` (as `2^(p-1)`), one gives the bound the
//! result takes outside the window (or the lower one inside); a table of
//! `r` gives `F(r)` less the lower bound, and a last table of that plus
//! the flag keeps it or zeroes it. Their sum is the result: eight or nine
//! bootstraps per output where the general wrap-first chain takes ten or
//! eleven (docs/arithmetic.md, "The window read").

use silc_ir::{semantics, Graph, Loc, Op, Table, ValueId};

use crate::karatsuba::torus::lut_torus;
use crate::karatsuba::wrap;

/// Where the window lies and what the result is in and around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// The odd modulus beside `2^(p+1)`.
    m: i64,
    /// `W = C − c0`.
    c0: i64,
    /// The stored result below and above the window.
    below: i64,
    above: i64,
    /// The stored result at `W = r`, `r` in `[0, 2^p)`.
    inside: Vec<i64>,
    /// The range of `q = ⌊W/2^p⌋` over the product.
    q: (i64, i64),
}

/// The window of the system `moduli` for a product in `c` whose stored
/// result is `out(C)`, if it has one that the tables can hold: `None`
/// when `moduli` is not `[2^(p+1), m]` with `3m ≤ 2^p`, the result changes
/// over more than `2^p` values or by more than `2^(p-1)` steps, or `q`
/// spans more than `2m` values. Every `C` of the product is checked
/// against the read's integers before the window is returned.
pub fn plan(p: u32, moduli: &[i64], (c_lo, c_hi): (i64, i64), out: &dyn Fn(i64) -> i64) -> Option<Window> {
    let (size, half) = (1i64 << p, 1i64 << (p - 1));
    let &[w, m] = moduli else { return None };
    if w != 2 * size || m < 3 || m % 2 == 0 || 3 * m > size || c_hi - c_lo > 1 << 20 {
        return None;
    }
    let (below, above) = (out(c_lo), out(c_hi));
    let first = (c_lo..=c_hi).find(|&c| out(c) != below)?;
    let last = (c_lo..=c_hi).rev().find(|&c| out(c) != above)?;
    if last - first >= size {
        return None;
    }
    // Every placement of the window over the changes, the one whose `q`
    // spans the fewest values first.
    let span = |c0: i64| (c_hi - c0).div_euclid(size) - (c_lo - c0).div_euclid(size) + 1;
    let c0 = (last - size + 1..=first).min_by_key(|&c0| span(c0))?;
    let q = ((c_lo - c0).div_euclid(size), (c_hi - c0).div_euclid(size));
    if q.1 - q.0 + 1 > 2 * m {
        return None;
    }
    let inside: Vec<i64> = (0..size).map(|r| out(c0 + r)).collect();
    if inside.iter().any(|&v| v < below || v - below >= half) || above - below >= half {
        return None;
    }
    let window = Window { m, c0, below, above, inside, q };
    (c_lo..=c_hi).all(|c| window.result(p, c) == out(c)).then_some(window)
}

impl Window {
    /// `q` from its residues modulo `m` and 2, within the product's range.
    fn q_of(&self, q_mod_m: i64, bit: i64) -> Option<i64> {
        (self.q.0..=self.q.1).find(|&q| q.rem_euclid(self.m) == q_mod_m && q.rem_euclid(2) == bit)
    }

    /// The index `t + 2m·bit` of the two tables of `q`, from `t = q mod
    /// m` (or that plus `m`, before a reduction the tables make) and the
    /// top bit.
    fn q_from_index(&self, v: i64) -> Option<i64> {
        let (bit, t) = if v >= 2 * self.m { (1, v - 2 * self.m) } else { (0, v) };
        self.q_of(t.rem_euclid(self.m), bit)
    }

    /// `2^(p-1)·[q ≠ 0]`.
    fn outside(&self, p: u32, v: i64) -> i64 {
        self.q_from_index(v).map_or(0, |q| if q == 0 { 0 } else { 1i64 << (p - 1) })
    }

    /// The bound the result takes with this `q` (the lower one inside).
    fn bound(&self, v: i64) -> i64 {
        self.q_from_index(v).map_or(self.below, |q| if q > 0 { self.above } else { self.below })
    }

    /// The read's result for `C`, by the integers its tables compute.
    fn result(&self, p: u32, c: i64) -> i64 {
        let size = 1i64 << p;
        let w = c - self.c0;
        let (r, q) = (w.rem_euclid(size), w.div_euclid(size));
        let index = q.rem_euclid(self.m) + 2 * self.m * q.rem_euclid(2);
        let kept = self.inside[r as usize] - self.below + self.outside(p, index);
        let kept = if kept < 1i64 << (p - 1) { kept } else { 0 };
        kept + self.bound(index)
    }
}

/// The stored result of `window` from `residues = [wrapping sum, residue
/// modulo m]`.
pub(super) fn lower(g: &mut Graph, residues: &[ValueId], window: &Window, loc: Loc) -> ValueId {
    let p = g.bits;
    let (size, half) = (1i64 << p, 1i64 << (p - 1));
    let (m, c0) = (window.m, window.c0);
    let s = g.push(Op::AddClear { c: (-c0).rem_euclid(2 * size) }, vec![residues[0]], loc);
    let r = g.push(Op::Fold, vec![s], loc);
    let bit = wrap::top(g, s, 2 * m, loc);
    let inv = semantics::mod_inverse(size.rem_euclid(m), m);
    let t = match super::read_back(g, residues[1]) {
        // The residue is a torus sum's: `(C − c0 − r) mod m` is summed
        // there and read as `q mod m`.
        Some((sum, _, f)) if f.iter().enumerate().all(|(i, &e)| e == i as i64) => {
            let shape = g.ty(residues[1]).shape.clone();
            let sum = g.push(Op::Reshape { shape }, vec![sum], loc);
            let term = Table::from_fn(format!("wr{m}"), p, move |v| (-c0 - v).rem_euclid(m));
            let term = lut_torus(g, term, r, m, loc);
            let w = g.push(Op::Add, vec![sum, term], loc);
            let sign = g.push(Op::TorusSign, vec![w], loc);
            let table = g.intern(Table { name: format!("wq{m}"), entries: (0..m).map(|x| (x * inv) % m).collect() });
            g.push(Op::TorusRead { table, torus: None }, vec![w, sign], loc)
        }
        _ => {
            let a = super::fine::of_residue(
                g,
                residues[1],
                m,
                &format!("wq{m}"),
                None,
                &move |x| ((x - c0) * inv).rem_euclid(m),
                loc,
            );
            let b = g.lut(Table::from_fn(format!("wr{m}"), p, move |v| (-v * inv).rem_euclid(m)), r, loc);
            let t = g.push(Op::Add, vec![a, b], loc);
            if 4 * m - 2 < size {
                t
            } else {
                g.lut(Table::from_fn(format!("mod{m}"), p, move |v| v.rem_euclid(m)), t, loc)
            }
        }
    };
    let index = g.push(Op::Add, vec![t, bit], loc);
    let flag = g.lut(Table::from_fn("win_out", p, |v| window.outside(p, v)), index, loc);
    let below = window.below;
    let inside = window.inside.clone();
    let f = g.lut(Table::from_fn("win_in", p, move |v| inside[v as usize] - below), r, loc);
    let kept = g.push(Op::Add, vec![f, flag], loc);
    // The last two tables answer on the torus `2^(p+1)`, where the grid
    // lies: their sum is in `[0, above − below]` for every `C` (`plan`
    // proved it), which interval arithmetic on a plain sum cannot see.
    let grid = 2 * size;
    let keep = Table::from_fn("win_keep", p, move |v| if v < half { v } else { 0 });
    let kept = lut_torus(g, keep, kept, grid, loc);
    let bound = lut_torus(g, Table::from_fn("win_bound", p, |v| window.bound(v) - below), index, grid, loc);
    let sum = g.push(Op::Add, vec![kept, bound], loc);
    let y = g.push(Op::OnGrid { d: 1, hi: window.above - below }, vec![sum], loc);
    g.push(Op::AddClear { c: below }, vec![y], loc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A product in `[-24, 24]` rescaled by 2 to 3 signed bits (stored at
    /// offset 4): a window at `p = 4` with `m = 3`, whose `q` spans four
    /// values; ReLU-saturated in `[-60, 80]` it needs `m = 5` (nine values).
    #[test]
    fn windows_of_rescales_by_two() {
        let signed = |c: i64| semantics::rescale(c, 2, 3) + 4;
        let w = plan(4, &[32, 3], (-24, 24), &signed).expect("a window");
        assert_eq!(w.q.1 - w.q.0 + 1, 4);
        assert!(plan(4, &[32, 3], (-60, 80), &signed).is_none(), "q spans ten values, 3 tells six apart");
        let relu = |c: i64| semantics::rescale_to(c, 2, (0, 7));
        let w = plan(4, &[32, 5], (-60, 80), &relu).expect("a window");
        assert_eq!(w.q.1 - w.q.0 + 1, 9, "placed so that q spans nine values");
        assert!(plan(4, &[32, 5], (-60, 80), &|c| semantics::rescale_to(c, 1, (0, 7))).is_some());
        assert!(plan(4, &[32, 5], (-60, 80), &|c| semantics::rescale_to(c, 4, (-8, 7))).is_none(), "16 steps");
        assert!(plan(4, &[32, 7], (-60, 80), &relu).is_none(), "3·7 > 16");
    }
}
