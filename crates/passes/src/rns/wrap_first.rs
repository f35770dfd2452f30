//! The wrap-first system of a product: the wrapping modulus `2^(p+1)` and
//! one small odd modulus `m`, `[2^(p+1), m]`, for a static rescale whose
//! divisor is the wrapping modulus's low radix (a power of two). The
//! general conversion reads such a system in the order of its moduli
//! (the divisor, `m`, then the rest of `2^(p+1)`), and its saturating
//! chain cannot pack the large last radix: `rns` had to add a third
//! modulus. Here the digits of `V = C + K` come from `2^(p+1)` first, all
//! of them below its top bit read off one fold of the wrapping sum, and
//! the odd modulus gives the top digit `u_hi + 2·⌊V/2^(p+1)⌋`, computed
//! from its residue and the fold by three small tables (`scale::wrap_first`).
//! Two PBS per product term against three, and about twelve per output
//! against about twenty (docs/arithmetic.md, "The wrap-first system").

use super::{plan_chain, ChainPlan, Cover, Product};
use crate::karatsuba::{best_plan, torus};

/// How the top digit of a wrap-first system is formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Top {
    /// `u_hi + 2·a`, radix `2m`, by three small tables beside the top bit
    /// (`3m ≤ 2^p`, [`admits`]).
    Table,
    /// `a` alone, radix `m`: its three terms summed on the torus `m` and
    /// read there; the top bit `u_hi` joins the last power-of-two digit
    /// (any odd `m` from `2^p/3` up to `2^p - 1`).
    Torus,
}

/// The form of the top digit for the odd modulus `m` at `p`, if any.
pub fn top_form(p: u32, m: i64) -> Option<Top> {
    if admits(p, m) {
        Some(Top::Table)
    } else if m >= 3 && m % 2 == 1 && m < 1i64 << p {
        Some(Top::Torus)
    } else {
        None
    }
}

/// The upper radices (above the divisor `low`) and the chain's plan of the
/// wrap-first system `moduli = [2^(p+1), m]` for a product in `c` rescaled
/// by `low` to `out` (stored, at `offset`). [`Top::Table`]: `2^p/low`
/// split into powers of two, the fewest that let the chain pack, then the
/// top digit's radix `2m`. [`Top::Torus`]: `2^(p+1)/low` split so, the last
/// factor at least 4 (it holds the top bit beside a fold digit), then `m`.
/// `None` when `moduli` is not such a system or no chain fits.
pub fn layout(
    p: u32,
    moduli: &[i64],
    low: i64,
    n_div: usize,
    c: (i64, i64),
    out: (i64, i64),
    offset: i64,
) -> Option<(Vec<i64>, ChainPlan)> {
    let wide = 1i64 << (p + 1);
    let &[w, m] = moduli else { return None };
    let form = top_form(p, m)?;
    if w != wide || n_div != 1 || low.count_ones() != 1 || low < 2 || low > wide / 4 {
        return None;
    }
    let (span, top) = match form {
        Top::Table => ((1i64 << p) / low, 2 * m),
        Top::Torus => (wide / low, m),
    };
    splits(span).into_iter().filter(|s| form == Top::Table || s.last().is_some_and(|&f| f >= 4)).find_map(
        |mut upper| {
            upper.push(top);
            let plan = plan_chain(p, &upper, low, c, out, offset, (wide * m) as i128)?;
            Some((upper, plan))
        },
    )
}

/// Whether `m` can give the top digit at `p` by tables: odd, and its three
/// tables' indices within the table domain (`(A + B) mod m` beside
/// `2m·u_hi`: `3m - 1 < 2^p`).
pub fn admits(p: u32, m: i64) -> bool {
    m >= 3 && m % 2 == 1 && 3 * m <= 1i64 << p
}

/// The ways to write `span` (a power of two) as a product of powers of two,
/// fewest factors first, larger factors first among equals.
fn splits(span: i64) -> Vec<Vec<i64>> {
    fn rec(rest: i64, max: i64, cur: &mut Vec<i64>, out: &mut Vec<Vec<i64>>) {
        if rest == 1 {
            out.push(cur.clone());
            return;
        }
        let mut f = rest.min(max);
        while f >= 2 {
            if rest % f == 0 {
                cur.push(f);
                rec(rest / f, rest, cur, out);
                cur.pop();
            }
            f /= 2;
        }
    }
    let mut out = Vec::new();
    if span == 1 {
        return vec![vec![]];
    }
    rec(span, span, &mut Vec::new(), &mut out);
    out.sort_by_key(|s| s.len());
    out
}

/// The wrap-first cover of `product` with its PBS, for a static rescale
/// (`shifts` empty) by a power of two, whole (not chunked): the smallest
/// odd `m` whose system covers the range and whose chain fits.
pub fn cover(product: &Product, shifts: &[usize]) -> Option<Cover> {
    let Product { p, nu, shape, c, factors, out, offset } = *product;
    let &[low] = factors else { return None };
    if !shifts.is_empty() {
        return None;
    }
    let wide = 1i64 << (p + 1);
    let outs = (shape.n * shape.cols) as u64;
    (3..1i64 << p).step_by(2).find_map(|m| {
        let moduli = vec![wide, m];
        let (upper, _) = layout(p, &moduli, low, 1, c, out, offset)?;
        let (_, wrap) = best_plan(p, nu, wide, shape, None)?;
        // The residue modulo m as `karatsuba` builds it: summed on the torus
        // where that pays (its read then is the conversion's), else reduced.
        let (plan_m, reduced) = best_plan(p, nu, m, shape, None)?;
        let residue = if torus::pays(p, nu, m, &plan_m, shape.k) {
            torus::summed_pbs(nu, &plan_m, shape) - outs
        } else {
            reduced
        };
        let lower = (upper.len() - 1) as u64;
        let per_output = match top_form(p, m)? {
            // The fold, a table per lower digit, the residue's read (sign
            // and value), the fold's term, their sum modulo m, the top bit,
            // the top digit, and a chain table per upper radix.
            Top::Table => 1 + lower + 2 + 1 + 1 + 1 + 1 + upper.len() as u64,
            // The fold, a table per power-of-two digit and the top bit, the
            // residue's read, the fold's and the top bit's terms, the sum's
            // sign and read (the chain's top table joins the read), and a
            // chain table per power-of-two digit.
            Top::Torus => 1 + lower + 1 + 2 + 1 + 1 + 2 + lower,
        };
        Some(Cover { moduli, pbs: wrap + residue + outs * per_output, chunks: vec![] })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_come_fewest_factors_first() {
        assert_eq!(splits(8), vec![vec![8], vec![4, 2], vec![2, 4], vec![2, 2, 2]]);
        assert_eq!(splits(1), vec![Vec::<i64>::new()]);
    }

    #[test]
    fn logits_take_the_torus_form() {
        // Iris's logits: [8x9]·[9x3] in [-252, 189], ÷8, saturated to
        // [-4, 3]. 32·15 = 480 covers the 442 values; 15 is past the
        // table form (3·15 > 16), so a is summed on the torus 15 and the
        // top bit joins the one digit above the divisor, radix 4.
        assert_eq!(top_form(4, 15), Some(Top::Torus));
        assert_eq!(top_form(4, 5), Some(Top::Table));
        assert_eq!(top_form(4, 17), None);
        let (upper, plan) = layout(4, &[32, 15], 8, 1, (-252, 189), (0, 7), 4).expect("a layout");
        assert_eq!(upper, vec![4, 15]);
        assert!(plan.k_off + 189 < 480 && plan.k_off - 252 >= 0);
        assert!(layout(4, &[32, 13], 8, 1, (-252, 189), (0, 7), 4).is_none(), "416 < 442");
    }

    #[test]
    fn iris_first_layer_needs_no_third_modulus() {
        // [8x5]·[5x8] in [-60, 80], ReLU-saturated to [0, 7] after ÷2:
        // 32·5 = 160 covers the 141 values, and the chain packs with the
        // lower digits 4 and 2.
        let (upper, plan) = layout(4, &[32, 5], 2, 1, (-60, 80), (0, 7), 0).expect("a layout");
        assert_eq!(upper, vec![4, 2, 10]);
        assert!(plan.k_off + 80 < 160);
        // 3·7 > 16: 7 gives its top digit on the torus.
        let (upper, _) = layout(4, &[32, 7], 2, 1, (-60, 80), (0, 7), 0).expect("the torus form");
        assert_eq!(upper.last(), Some(&7));
        assert!(upper[upper.len() - 2] >= 4);
        assert!(layout(4, &[32, 3], 2, 1, (-60, 80), (0, 7), 0).is_none(), "96 < 141");
    }
}
