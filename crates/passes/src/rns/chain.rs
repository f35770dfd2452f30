//! The saturating chain's plan (see [`crate::scale`]): the offset `K` that
//! makes a product non-negative and rounds it at its divisor, the digits of
//! `J − offset` in the upper radices, and each level's clamp bounds, with the
//! rule that a level's packed index `(y − L)·n + e` fits `p` bits. `rns` and
//! its systems ask it whether a choice of moduli admits a chain; `scale`
//! builds the chain it plans. A block-scaling candidate's chain reads the
//! same digits with fewer moduli dropped ([`plan_shift`]).

/// The offset `K = ⌊D/2⌋ + D·J` that makes `C + K` non-negative while keeping
/// `floor((C + K)/D) = floor((C + ⌊D/2⌋)/D) + J`.
pub fn rounding_offset(c_lo: i64, d: i64) -> (i64, i64) {
    let need = -c_lo - d / 2;
    let j = if need > 0 { (need + d - 1) / d } else { 0 };
    (d / 2 + d * j, j)
}

/// The plan of the saturating chain over the upper mixed-radix digits (see
/// [`crate::scale`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ChainPlan {
    /// The offset `K = ⌊D/2⌋ + D·J` added to the product before conversion.
    pub k_off: i64,
    pub j: i64,
    /// Digits of `J - offset` in the upper radices (the last holds the rest).
    pub a: Vec<i64>,
    /// `(L_i, H_i)` per level, level 0 being the output range.
    pub bounds: Vec<(i64, i64)>,
}

/// Bounds per level for the digits `a` of `J - offset`: a level's clamp range
/// is as small as the next level's exactness allows,
/// `L_{i+1} = floor((L_i - n_i + 1 + a_i)/n_i)`, `H_{i+1} = ceil((H_i + a_i)/n_i)`;
/// `None` when a level's packed index `(y - L)·n + e` would not fit in `p` bits.
fn chain_bounds(p: u32, upper: &[i64], (lo, hi): (i64, i64), a: &[i64]) -> Option<Vec<(i64, i64)>> {
    let mut bounds = vec![(lo, hi)];
    for i in 0..upper.len().saturating_sub(1) {
        let (n, (l, h)) = (upper[i], bounds[i]);
        let next = ((l - n + 1 + a[i]).div_euclid(n), (h + a[i] + n - 1).div_euclid(n));
        if (next.1 - next.0 + 1) * n > 1i64 << p {
            return None;
        }
        bounds.push(next);
    }
    Some(bounds)
}

/// Finds the smallest admissible `J` (so `C + K` stays in `[0, M)`) for which
/// the chain fits in `p` bits. `out` is the stored output range and `offset`
/// its offset; `m_total` the product of all moduli.
pub fn plan_chain(
    p: u32,
    upper: &[i64],
    d: i64,
    (c_lo, c_hi): (i64, i64),
    out: (i64, i64),
    offset: i64,
    m_total: i128,
) -> Option<ChainPlan> {
    let (_, j_min) = rounding_offset(c_lo, d);
    for j in j_min..j_min + 4096 {
        let k_off = d / 2 + d * j;
        if c_hi as i128 + k_off as i128 >= m_total {
            return None;
        }
        if let Some(plan) = chain_with(p, upper, k_off, j, out, offset) {
            return Some(plan);
        }
    }
    None
}

/// The chain over `upper` for a given `K = ⌊D/2⌋ + D·J`, if it fits.
pub(super) fn chain_with(p: u32, upper: &[i64], k_off: i64, j: i64, out: (i64, i64), offset: i64) -> Option<ChainPlan> {
    let mut rest = j - offset;
    let mut a = Vec::new();
    for &n in &upper[..upper.len() - 1] {
        a.push(rest.rem_euclid(n));
        rest = rest.div_euclid(n);
    }
    a.push(rest);
    chain_bounds(p, upper, out, &a).map(|bounds| ChainPlan { k_off, j, a, bounds })
}

/// The chain of a block-scaling candidate: the digits of the same `V = C + K`
/// (`K` planned for the full divisor) read with only the first `shift` moduli
/// dropped, i.e. divided by `D_j = m_1·…·m_shift`. This rounds half up at
/// `D_j` only if `K ≡ ⌊D_j/2⌋ (mod D_j)`, which holds when `D/D_j` is odd or
/// `D_j` holds the even factor; `None` otherwise, or when the chain does not
/// fit in `p` bits.
pub fn plan_shift(p: u32, moduli: &[i64], shift: usize, k_off: i64, out: (i64, i64), offset: i64) -> Option<ChainPlan> {
    let dj: i64 = moduli[..shift].iter().product();
    if (k_off - dj / 2).rem_euclid(dj) != 0 {
        return None;
    }
    chain_with(p, &moduli[shift..], k_off, (k_off - dj / 2) / dj, out, offset)
}
