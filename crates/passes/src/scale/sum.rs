//! `scale::sum`: adds the mixed-radix numbers of a chunked product's chunks
//! (`rns::chunks`), digit position by digit position, least significant
//! first. At each position the chunks' digits and the carries from below are
//! summed in groups that stay inside the table domain and the noise bound;
//! each group sum `s` becomes its digit `s mod r` (which goes back into the
//! position) and its carry `⌊s/r⌋` (which goes up), two PBS, until one
//! digit remains. The carries out of the last position add up to the top
//! digit. Radices too wide for two digits to share a table were split first
//! (`rns::chunks::split_radix`), at two PBS per digit.

use silc_ir::{Graph, Loc, Op, Table, ValueId};

use crate::rns::chunks::split_radix;

/// The digits of one chunk (one per conversion radix of `radix`) in the sum
/// radices: a digit of a radix `split_radix` splits becomes two.
pub(crate) fn split_digits(g: &mut Graph, digits: &[ValueId], radix: &[i64], loc: Loc) -> Vec<ValueId> {
    let p = g.bits;
    let mut out = Vec::new();
    for (&d, &r) in digits.iter().zip(radix) {
        match split_radix(p, r) {
            None => out.push(d),
            Some((low, _)) => {
                out.push(g.lut(Table::from_fn(format!("mod{low}"), p, move |v| v % low), d, loc));
                out.push(g.lut(Table::from_fn(format!("div{low}"), p, move |v| v / low), d, loc));
            }
        }
    }
    out
}

/// The digits of the sum of `numbers` (each one digit per radix of
/// `radix`, least significant first), one per radix and a top digit, whose
/// value is at most `top_max < 2^(p-1)`.
pub(crate) fn add(
    g: &mut Graph,
    numbers: &[Vec<ValueId>],
    radix: &[i64],
    top_max: i64,
    nu: f64,
    loc: Loc,
) -> Vec<ValueId> {
    let p = g.bits;
    let size = 1i64 << p;
    // A digit is a fresh table output, or (the high part of `2^(p+1)`) a sum
    // of two: squared norm at most 2 each.
    let max_terms = ((nu * nu / 2.0).floor() as usize).max(2);
    let mut carries: Vec<ValueId> = Vec::new();
    let mut out = Vec::new();
    for (i, &r) in radix.iter().enumerate() {
        let mut pending: Vec<ValueId> = numbers.iter().map(|n| n[i]).chain(carries.drain(..)).collect();
        loop {
            if let [only] = pending[..] {
                if g.ty(only).stored().1 < r {
                    out.push(only);
                    break;
                }
            }
            let (group, rest) = take_group(g, &pending, size - 1, max_terms);
            let s = sum(g, &group, loc);
            let digit = g.lut(Table::from_fn(format!("digit{r}"), p, move |v| v % r), s, loc);
            carries.push(g.lut(Table::from_fn(format!("carry{r}"), p, move |v| v / r), s, loc));
            pending = std::iter::once(digit).chain(rest).collect();
        }
    }
    // Every partial sum of the (non-negative) carries is at most the top
    // digit's value, so a clamp to `top_max` changes no value; it only keeps
    // the ranges provable.
    let clamp = Table::from_fn(format!("clamp{top_max}"), p, move |v| v.min(top_max));
    let mut pending: Vec<ValueId> = carries
        .into_iter()
        .map(|c| if g.ty(c).stored().1 > top_max { g.lut(clamp.clone(), c, loc) } else { c })
        .collect();
    while pending.len() > 1 {
        let (group, rest) = take_group(g, &pending, size - 1, max_terms);
        let mut s = sum(g, &group, loc);
        if g.ty(s).stored().1 > top_max {
            s = g.lut(clamp.clone(), s, loc);
        }
        pending = std::iter::once(s).chain(rest).collect();
    }
    let top = match pending.pop() {
        Some(t) => t,
        // No carry at all (one number): the top digit is zero.
        None => g.push(Op::MulClear { c: 0 }, vec![out[0]], loc),
    };
    out.push(top);
    out
}

/// The longest prefix of `values` (at least two) whose stored maxima add up
/// to at most `limit`, with at most `max_terms` values; and the rest.
fn take_group(g: &Graph, values: &[ValueId], limit: i64, max_terms: usize) -> (Vec<ValueId>, Vec<ValueId>) {
    let mut total = 0;
    let mut n = 0;
    for &v in values {
        let hi = g.ty(v).stored().1;
        if n >= max_terms || (n >= 1 && total + hi > limit) {
            break;
        }
        total += hi;
        n += 1;
    }
    assert!(n >= 2 || values.len() == 1, "internal error: two digits of a chunk sum do not fit one table");
    (values[..n].to_vec(), values[n..].to_vec())
}

fn sum(g: &mut Graph, values: &[ValueId], loc: Loc) -> ValueId {
    let mut s = values[0];
    for &v in &values[1..] {
        s = g.push(Op::Add, vec![s, v], loc);
    }
    s
}
