//! Exact integer reference semantics of the ops, shared by every executor and
//! by the passes that build tables, so that there is one definition of each.
//!
//! The high-level functions here are the contract a lowering must meet bit for
//! bit; where the lowering approximates (rounding, saturation, the softmax's
//! reciprocal), the approximation is part of the definition and is spelled out.

/// `floor(a / b)` for `b > 0`.
pub fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// What TFHE computes for one bootstrap of `table` on a stored value `x`,
/// with precision `p` (stored values live modulo `2^(p+1)`, the top bit being
/// the padding bit): `table[x]` for `x < 2^p`, else the negacyclic
/// `-table[x - 2^p]`, reduced modulo `2^(p+1)`.
pub fn lut(entries: &[i64], x: i64, p: u32) -> i64 {
    let full = 1i64 << (p + 1);
    let half = 1i64 << p;
    let x = x.rem_euclid(full);
    if x < half {
        entries[x as usize].rem_euclid(full)
    } else {
        (-entries[(x - half) as usize]).rem_euclid(full)
    }
}

/// `lut_torus`: the table's answer for the stored grid value `x`, as a
/// residue modulo `m` (negacyclic above `2^p`: `-table[x - 2^p] mod m`).
pub fn lut_torus(entries: &[i64], x: i64, m: i64, p: u32) -> i64 {
    let half = 1i64 << p;
    let x = x.rem_euclid(2 * half);
    if x < half {
        entries[x as usize].rem_euclid(m)
    } else {
        (-entries[(x - half) as usize]).rem_euclid(m)
    }
}

/// `torus_sign` of the residue `r` modulo `m`: the constant table `2^(p-1)`
/// at the torus position `r/m + 1/(4m)`, which lies in the upper half
/// exactly when `4r + 1 > 2m` (never equal for odd `m`); the upper half
/// answers `-2^(p-1)`, stored `3·2^(p-1)`.
pub fn torus_sign(r: i64, m: i64, p: u32) -> i64 {
    let q = 1i64 << (p - 1);
    if 4 * r.rem_euclid(m) + 1 > 2 * m {
        3 * q
    } else {
        q
    }
}

/// `on_grid`: the grid value a bootstrap reads from `v` held on the torus
/// `2^(p+1)·d`: the nearest grid position `round(v/d)` (exact for the
/// multiples of `d` the conversion builds), modulo `2^(p+1)`.
pub fn on_grid(v: i64, d: i64, p: u32) -> i64 {
    (v + d / 2).div_euclid(d).rem_euclid(1i64 << (p + 1))
}

/// The torus position, in units of `1/(4m)`, at which `torus_read` looks the
/// residue `r` up: `r/m + 1/(4m)` folded into the lower half, `4r + 1` or
/// `4r + 1 - 2m`. Distinct for every `r` (one is 1, the other 3, modulo 4)
/// and two units apart at least.
pub fn torus_read_position(r: i64, m: i64) -> i64 {
    let x = 4 * r.rem_euclid(m) + 1;
    if x > 2 * m {
        x - 2 * m
    } else {
        x
    }
}

/// What TFHE computes for a `fold` of the stored `x`: `x mod 2^p`, from the
/// negacyclic answer of the constant table `2^(p-1)` added to `x`.
pub fn fold(x: i64, p: u32) -> i64 {
    let half = 1i64 << (p - 1);
    wrap(x + sign_read(x, p) - half, p)
}

/// The constant table `2^(p-1)` looked up at the stored `x` (negacyclic).
fn sign_read(x: i64, p: u32) -> i64 {
    let half = 1i64 << (p - 1);
    if x.rem_euclid(1i64 << (p + 1)) < (1i64 << p) {
        half
    } else {
        (-half).rem_euclid(1i64 << (p + 1))
    }
}

/// Wraps a leveled result into the stored space `[0, 2^(p+1))`.
pub fn wrap(x: i64, p: u32) -> i64 {
    x.rem_euclid(1i64 << (p + 1))
}

/// Signed saturation to `bits` bits.
pub fn saturate(x: i64, bits: u32) -> i64 {
    let hi = (1i64 << (bits - 1)) - 1;
    x.clamp(-hi - 1, hi)
}

/// `Rescale`: `clamp(floor((x + ⌊D/2⌋) / D))` to signed `bits` bits.
pub fn rescale(x: i64, divisor: i64, bits: u32) -> i64 {
    saturate(floor_div(x + divisor / 2, divisor), bits)
}

/// The public dither of element `index` of stream `stream` in the step
/// salted `salt`: an integer in `[lo, hi]`, uniform up to a bias below
/// 2^-60, the same in every executor (`Op::AddDither`). Both executors take
/// the salt from the training loop: the step's index from the first step
/// of the run, so a resumed run continues the same sequence.
pub fn dither(salt: u64, stream: u32, index: usize, lo: i64, hi: i64) -> i64 {
    // SplitMix64's finaliser over the three coordinates, each first spread
    // by a different odd constant.
    let mut z = salt
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((stream as u64).wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add((index as u64).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7))
        .wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let span = (hi - lo + 1) as u64;
    lo + (z % span) as i64
}

/// The saturation bounds of a rescale to `bits` bits: signed, or with `relu`
/// `[0, 2^bits - 1]`, which is ReLU of a signed rescale to `bits + 1` bits.
pub fn rescale_bounds(bits: u32, relu: bool) -> (i64, i64) {
    if relu {
        (0, (1i64 << bits) - 1)
    } else {
        (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
    }
}

/// `clamp(floor((x + ⌊D/2⌋) / D), lo, hi)`.
pub fn rescale_to(x: i64, divisor: i64, (lo, hi): (i64, i64)) -> i64 {
    floor_div(x + divisor / 2, divisor).clamp(lo, hi)
}

/// The radices of the mixed-radix digits of a residue number system over
/// `moduli` at precision `p`: each modulus is its own radix, except
/// `2^(p+1)`, which no table can read whole: it gives the radix `low` (a
/// power of two, 2 unless it is the first modulus and its low part is the
/// divisor) in its place and the radix `2^(p+1)/low` last. The first
/// `n_div` radices of a `from_residues` multiply to its divisor.
///
/// A two-scale system `[d, 2^(p+1)·d]` ([`fine_divisor`]) gives `d`, split
/// as `low · d/low` when `low` is a proper factor of `d`, then `2^p`: the
/// value over `d` is read whole, as one digit below `2^p` (see
/// [`fine_radices`] for the wide form, whose top digit is split).
pub fn radices(p: u32, moduli: &[i64], low: i64) -> Vec<i64> {
    if let Some(d) = fine_divisor(p, moduli) {
        return fine_radices(p, d, low, false);
    }
    let wide = 1i64 << (p + 1);
    let mut out: Vec<i64> = moduli.iter().map(|&m| if m == wide { low } else { m }).collect();
    if moduli.contains(&wide) {
        out.push(wide / low);
    }
    out
}

/// The radices of a two-scale system over `d` (split by `low`, see
/// [`radices`]): then `2^p` for the narrow form, whose value over `d` lies in
/// `[0, 2^p)`, or `2, 2^p` for the wide form, whose value over `d` lies in
/// `[0, 2^(p+1)`), the whole torus, and is read as its low bit and the rest.
pub fn fine_radices(p: u32, d: i64, low: i64, wide: bool) -> Vec<i64> {
    let mut out = if low > 1 && low < d && d % low == 0 { vec![low, d / low] } else { vec![d] };
    if wide {
        out.push(2);
    }
    out.push(1i64 << p);
    out
}

/// `d` when `m = 2^(p+1)·d` is the fine modulus of a two-scale system: `d`
/// odd with `3 ≤ d < 2^p` (the moduli whose torus sums can be read). A sum
/// modulo `m`, held at `v/m`, less the residue `v mod d` read at that scale,
/// is `⌊v/d⌋` on the message grid (docs/arithmetic.md, "Residues at the
/// scale of their modulus").
pub fn fine_modulus(p: u32, m: i64) -> Option<i64> {
    let wide = 1i64 << (p + 1);
    let d = m / wide;
    (m % wide == 0 && d % 2 == 1 && d >= 3 && d < 1i64 << p).then_some(d)
}

/// `d` when `moduli` is a two-scale system `[d, 2^(p+1)·d]`: a residue
/// modulo `d` and the fine sum ([`fine_modulus`]).
pub fn fine_divisor(p: u32, moduli: &[i64]) -> Option<i64> {
    match *moduli {
        [d, m] if fine_modulus(p, m) == Some(d) => Some(d),
        _ => None,
    }
}

/// How many values from 0 up the residues of `moduli` tell apart for the
/// conversion: their product, or for a two-scale system `d·2^p` in its
/// narrow form (the value over `d` stays in the readable half of the grid)
/// and `d·2^(p+1)` in its wide form ([`fine_radices`]).
pub fn covered(p: u32, moduli: &[i64], wide: bool) -> i128 {
    match fine_divisor(p, moduli) {
        Some(d) => d as i128 * (1i128 << (p + u32::from(wide))),
        None => moduli.iter().map(|&m| m as i128).product(),
    }
}

/// The divisors a rescale may use: `Π factors[..j]` for each `j` in `shifts`,
/// finest first; only the full product when `shifts` is empty (static).
pub fn rescale_divisors(factors: &[i64], shifts: &[usize]) -> Vec<i64> {
    if shifts.is_empty() {
        return vec![factors.iter().product()];
    }
    shifts.iter().map(|&j| factors[..j].iter().product()).collect()
}

/// Block-scaled `Rescale` of one block (here: a whole tensor). With the
/// candidate divisors `D_0 < D_1 < … < D_s` of [`rescale_divisors`], the block
/// takes the first `D_j` at which every element stays strictly inside the
/// saturation `bounds` (`lo < rescale(x, D_j) < hi`, see [`rescale_bounds`]),
/// else `D_s`, and returns `rescale(x, D_j)` for every element with the index
/// `j`. An element equal to a bound counts as saturated even when it is
/// exact: the lowering tests the bound, not the exact value, and so does this
/// definition.
pub fn block_rescale(xs: &[i64], divisors: &[i64], (lo, hi): (i64, i64)) -> (Vec<i64>, usize) {
    let last = divisors.len() - 1;
    for (j, &d) in divisors.iter().enumerate() {
        let ys: Vec<i64> = xs.iter().map(|&x| rescale_to(x, d, (lo, hi))).collect();
        if j == last || ys.iter().all(|&y| lo < y && y < hi) {
            return (ys, j);
        }
    }
    unreachable!("the last divisor is always taken")
}

pub fn relu(x: i64) -> i64 {
    x.max(0)
}

/// The backward of a ReLU saturating at `top`: `delta` where `0 < z < top`,
/// else 0. A gradient that went on pushing a saturated unit up would change
/// nothing the forward pass can show, and lets weights grow without bound
/// (MNIST at bits 5 with two-digit weights diverged, docs/learning.md).
pub fn relu_backward(delta: i64, z: i64, top: i64) -> i64 {
    if 0 < z && z < top {
        delta
    } else {
        0
    }
}

/// `SgdUpdate`: `clamp(w - clamp(round(g·num / 2^shift), ±bound), wlo, whi)`,
/// rounding half up.
pub fn sgd_update(w: i64, g: i64, num: i64, shift: u32, bound: i64, wlo: i64, whi: i64) -> i64 {
    (w - sgd_step(g, num, shift, bound)).clamp(wlo, whi)
}

/// `SgdUpdate` of a two-digit weight `hi·2^L + lo` (`lo` balanced in
/// `[-2^(L-1), 2^(L-1))`): `t = lo - step`, `carry = ⌊(t + 2^(L-1)) / 2^L⌋`,
/// returns `(clamp(hi + carry, hlo, hhi), t - carry·2^L)`. The low digit
/// keeps its remainder when the high digit saturates.
#[allow(clippy::too_many_arguments)]
pub fn sgd_two_digits(
    hi: i64,
    lo: i64,
    g: i64,
    (num, shift, bound): (i64, u32, i64),
    lo_bits: u32,
    hlo: i64,
    hhi: i64,
) -> (i64, i64) {
    let t = lo - sgd_step(g, num, shift, bound);
    let carry = (t + (1i64 << (lo_bits - 1))).div_euclid(1i64 << lo_bits);
    ((hi + carry).clamp(hlo, hhi), t - carry * (1i64 << lo_bits))
}

/// The update subtracted from a weight for gradient `g`.
pub fn sgd_step(g: i64, num: i64, shift: u32, bound: i64) -> i64 {
    let half = if shift == 0 { 0 } else { 1i64 << (shift - 1) };
    floor_div(g * num + half, 1i64 << shift).clamp(-bound, bound)
}

/// Modular inverse of `a` modulo `m` (`a`, `m` coprime).
pub fn mod_inverse(a: i64, m: i64) -> i64 {
    let (mut r0, mut r1) = (m, a.rem_euclid(m));
    let (mut t0, mut t1) = (0i64, 1i64);
    while r1 != 0 {
        let q = r0 / r1;
        (r0, r1) = (r1, r0 - q * r1);
        (t0, t1) = (t1, t0 - q * t1);
    }
    assert_eq!(r0, 1, "{a} has no inverse modulo {m}");
    t0.rem_euclid(m)
}

/// The unique `c` in `[c_lo, c_lo + Π moduli)` with `c ≡ residues[i] (mod moduli[i])`.
pub fn crt(residues: &[i64], moduli: &[i64], c_lo: i64) -> i64 {
    // Mixed-radix reconstruction keeps every intermediate small.
    let digits = mixed_radix_digits(residues, moduli);
    let mut value: i128 = 0;
    let mut weight: i128 = 1;
    for (d, m) in digits.iter().zip(moduli) {
        value += *d as i128 * weight;
        weight *= *m as i128;
    }
    let base = (c_lo as i128).rem_euclid(weight);
    let shift = (value - base).rem_euclid(weight);
    (c_lo as i128 + shift) as i64
}

/// The ranges of a product's chunks (`Op::FromResidues::chunks`, their
/// lengths along `k`). A matmul's range is `k` times the range of one term
/// (`infer`), so a chunk of `k_c` terms ranges over `k_c/k` of it; `None`
/// when `[c_lo, c_hi]` is not such a range.
pub fn chunk_ranges(c_lo: i64, c_hi: i64, chunks: &[usize]) -> Option<Vec<(i64, i64)>> {
    let k: i64 = chunks.iter().map(|&c| c as i64).sum();
    if k == 0 || c_lo % k != 0 || c_hi % k != 0 {
        return None;
    }
    Some(chunks.iter().map(|&c| (c_lo / k * c as i64, c_hi / k * c as i64)).collect())
}

/// The value of a chunked product: the sum over chunks of the unique value
/// in each chunk's range with that chunk's residues (`residues` chunk after
/// chunk, `moduli.len()` each). Moduli `[d, m]` with `d | m` (a two-scale
/// system, [`fine_divisor`]) are told apart by the residue modulo `m`.
pub fn crt_chunks(residues: &[i64], moduli: &[i64], ranges: &[(i64, i64)]) -> i64 {
    // A two-scale system's fine residue holds the value alone (the residue
    // modulo `d` divides it: `d | 2^(p+1)·d`).
    if let [d, m] = *moduli {
        if m % d == 0 && d > 1 {
            return residues.chunks(2).zip(ranges).map(|(r, &(lo, _))| crt(&r[1..], &moduli[1..], lo)).sum();
        }
    }
    residues.chunks(moduli.len()).zip(ranges).map(|(r, &(lo, _))| crt(r, moduli, lo)).sum()
}

/// Mixed-radix digits `d_i` in `[0, m_i)` with `x = d_1 + m_1·(d_2 + m_2·(…))`
/// for the non-negative `x` whose residues are given.
pub fn mixed_radix_digits(residues: &[i64], moduli: &[i64]) -> Vec<i64> {
    let mut digits: Vec<i64> = Vec::with_capacity(moduli.len());
    for (i, (&r, &m)) in residues.iter().zip(moduli).enumerate() {
        let mut x = r.rem_euclid(m);
        for (j, &d) in digits.iter().enumerate() {
            x = ((x - d).rem_euclid(m) * mod_inverse(moduli[j], m)).rem_euclid(m);
        }
        let _ = i;
        digits.push(x);
    }
    digits
}

/// Constants of the cross-entropy gradient lowering at precision `p` for
/// `classes` classes and gradient unit `grad_max` (see [`ce_grad`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CeConsts {
    /// Largest exp-table output: `floor((2^p - 1) / classes)`, so the row sum fits.
    pub exp_max: i64,
    /// Reciprocal scale: `r = round(recip · exp_max / S)`.
    pub recip: i64,
    /// Largest output of the two quarter-square tables.
    pub t1_max: i64,
    pub t2_max: i64,
}

/// Chooses the softmax constants: the largest reciprocal scale for which the
/// quarter-square product and the final clamp table all fit in `p` bits.
pub fn ce_consts(p: u32, classes: usize, grad_max: i64) -> Option<CeConsts> {
    let top = (1i64 << p) - 1;
    let exp_max = top / classes as i64;
    if exp_max < 1 {
        return None;
    }
    let mut recip = top - exp_max;
    while recip >= 1 {
        let c = CeConsts { exp_max, recip, t1_max: 0, t2_max: 0 };
        let t1_max = (0..=exp_max + recip).map(|s| ce_t1(&c, grad_max, s)).max().unwrap_or(0);
        let t2_max = (0..=exp_max + recip).map(|d| ce_t2(&c, grad_max, d)).max().unwrap_or(0);
        if t1_max + t2_max + grad_max <= top {
            return Some(CeConsts { t1_max, t2_max, ..c });
        }
        recip -= 1;
    }
    None
}

/// Round-half-up division of non-negative integers.
fn div_round(a: i64, b: i64) -> i64 {
    (2 * a + b) / (2 * b)
}

/// First quarter-square table: `round(⌊s²/4⌋ · G / (recip·E))`.
pub fn ce_t1(c: &CeConsts, grad_max: i64, s: i64) -> i64 {
    div_round(s * s / 4 * grad_max, c.recip * c.exp_max)
}

/// Second quarter-square table on `d = e - r + recip`: `round(⌊(d-recip)²/4⌋ · G / (recip·E))`.
pub fn ce_t2(c: &CeConsts, grad_max: i64, d: i64) -> i64 {
    let x = d - c.recip;
    div_round(x * x / 4 * grad_max, c.recip * c.exp_max)
}

/// Exp table: `round(E · exp(-u · z_scale))` for `u = max - z ≥ 0`.
pub fn ce_exp(exp_max: i64, z_scale: f64, u: i64) -> i64 {
    (exp_max as f64 * (-(u as f64) * z_scale).exp()).round() as i64
}

/// Reciprocal table: `round(recip · E / max(S, E))`. A row sum is never
/// below `E` (the row's max contributes exactly `E`); clamping there keeps the
/// table's output range tight for the range analysis.
pub fn ce_recip(c: &CeConsts, s: i64) -> i64 {
    div_round(c.recip * c.exp_max, s.max(c.exp_max))
}

/// `CeGrad` on one row: the gradient of softmax cross-entropy in units of
/// `1/G` (`G = grad_max`), labels given as `y ∈ {0, G}`. Exactly:
///
/// 1. `m = max_c z_c`; `e_c = round(E·exp(-(m - z_c)·z_scale))` (so the max gets `E`);
/// 2. `S = Σ e_c`; `r = round(recip·E / S)` (a reciprocal with `recip` steps);
/// 3. `q_c = T1(e_c + r) - T2(e_c - r + recip)`, the quarter-square product
///    `e_c · r · G / (recip·E)` ≈ `softmax_c · G` with both tables rounded;
/// 4. `grad_c = clamp(q_c - y_c, -G, G)`.
///
/// With a margin `M > 0` (in logit steps) the softmax reads
/// `z'_c = max(z_c - M·[y_c > 0], z_lo)` instead of `z` (`z_lo` the least
/// value `z` can take): the labelled class must win by `M` steps before its
/// gradient vanishes, which a quantized softmax, a hard maximum at ten
/// classes and 4 bits, would otherwise stop at a win by one step.
pub fn ce_grad(z: &[i64], y: &[i64], z_scale: f64, c: &CeConsts, grad_max: i64, margin: (i64, i64)) -> Vec<i64> {
    let (m_steps, z_lo) = margin;
    let shifted: Vec<i64>;
    let z = if m_steps > 0 {
        shifted = z.iter().zip(y).map(|(&zc, &yc)| if yc > 0 { (zc - m_steps).max(z_lo) } else { zc }).collect();
        &shifted[..]
    } else {
        z
    };
    let m = z.iter().copied().max().unwrap_or(0);
    let e: Vec<i64> = z.iter().map(|&zc| ce_exp(c.exp_max, z_scale, m - zc)).collect();
    let s: i64 = e.iter().sum();
    let r = ce_recip(c, s);
    e.iter()
        .zip(y)
        .map(|(&ec, &yc)| {
            let q = ce_t1(c, grad_max, ec + r) - ce_t2(c, grad_max, ec - r + c.recip);
            (q - yc).clamp(-grad_max, grad_max)
        })
        .collect()
}

/// `LogisticGrad` on one sample: the cross-entropy gradient of two classes
/// in units of `1/G` (`G = grad_max`), from the logit difference `d = z₀ −
/// z₁` and class 0's label `y ∈ {0, G}`:
/// `round(G·σ(d'·z_scale)) − y`, where `d' = d − M` when class 0 is the
/// label and `d + M` when class 1 is (`M = margin` steps: the labelled
/// logit enters `M` steps lower, as in [`ce_grad`]). The softmax of two
/// logits is the sigmoid of their difference, so one table gives it; the
/// result lies in `[−G, G]` without clamping.
pub fn logistic_grad(d: i64, y: i64, z_scale: f64, grad_max: i64, margin: i64) -> i64 {
    let shifted = if y > 0 { d - margin } else { d + margin };
    logistic(grad_max, z_scale, shifted) - y
}

/// The sigmoid table of [`logistic_grad`]: `round(G·σ(d·z_scale))`.
pub fn logistic(grad_max: i64, z_scale: f64, d: i64) -> i64 {
    (grad_max as f64 / (1.0 + (-(d as f64) * z_scale).exp())).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_grad_is_the_two_class_softmax_gradient_of_the_difference() {
        // Real softmax of (d, 0) against class 0, at G = 3 and unit 1.5.
        for d in -8..8 {
            for (y, label0) in [(3, true), (0, false)] {
                let p0 = 1.0 / (1.0 + (-(d as f64) * 1.5).exp());
                let want = (3.0 * p0).round() as i64 - if label0 { 3 } else { 0 };
                assert_eq!(logistic_grad(d, y, 1.5, 3, 0), want);
            }
        }
        // The margin moves the labelled logit down: class 0 labelled at
        // d = 2 reads as d = 0 (half), class 1 labelled at d = −2 too.
        assert_eq!(logistic_grad(2, 4, 1.0, 4, 2), 2 - 4);
        assert_eq!(logistic_grad(-2, 0, 1.0, 4, 2), 2);
    }

    #[test]
    fn relu_backward_passes_the_delta_only_between_the_saturation_bounds() {
        let top = 7;
        let kept: Vec<i64> = (-2..=top).map(|z| relu_backward(3, z, top)).collect();
        assert_eq!(kept, vec![0, 0, 0, 3, 3, 3, 3, 3, 3, 0]);
    }

    #[test]
    fn dither_is_uniform_and_salted() {
        // Over many indices each value of [-2, 2] comes about a fifth of
        // the time; another salt or stream gives another sequence.
        let n = 50_000;
        let mut counts = [0usize; 5];
        for e in 0..n {
            let v = dither(7, 1, e, -2, 2);
            assert!((-2..=2).contains(&v));
            counts[(v + 2) as usize] += 1;
        }
        for c in counts {
            assert!((c as f64 / n as f64 - 0.2).abs() < 0.01, "{counts:?}");
        }
        let seq = |salt, stream| (0..64).map(|e| dither(salt, stream, e, -2, 2)).collect::<Vec<_>>();
        assert_ne!(seq(7, 1), seq(8, 1));
        assert_ne!(seq(7, 1), seq(7, 2));
        assert_eq!(seq(7, 1), seq(7, 1));
        assert_eq!(dither(3, 0, 5, 4, 4), 4);
    }

    #[test]
    fn crt_round_trips_signed_values() {
        let moduli = [31, 32, 29];
        for c in [-13000i64, -1, 0, 1, 12345] {
            let r: Vec<i64> = moduli.iter().map(|m| c.rem_euclid(*m)).collect();
            assert_eq!(crt(&r, &moduli, -14000), c);
        }
    }

    #[test]
    fn lut_is_negacyclic_in_the_padding_half() {
        let t: Vec<i64> = (0..16).map(|x| x + 1).collect();
        assert_eq!(lut(&t, 3, 4), 4);
        assert_eq!(lut(&t, 16 + 3, 4), 32 - 4);
    }

    #[test]
    fn fold_reads_the_low_p_bits_of_any_stored_value() {
        for p in 2..=8u32 {
            let constant = vec![1i64 << (p - 1); 1 << p];
            for x in 0..(1i64 << (p + 1)) {
                assert_eq!(sign_read(x, p), lut(&constant, x, p), "p={p} x={x}");
                assert_eq!(fold(x, p), x % (1 << p), "p={p} x={x}");
            }
        }
    }

    #[test]
    fn rescale_rounds_half_up_and_saturates() {
        assert_eq!(rescale(5, 2, 8), 3);
        assert_eq!(rescale(-5, 2, 8), -2);
        assert_eq!(rescale(1000, 2, 4), 7);
        assert_eq!(rescale(-1000, 2, 4), -8);
    }

    #[test]
    fn ce_grad_approximates_softmax_minus_onehot() {
        let g = 63;
        let c = ce_consts(8, 3, g).expect("fits at 8 bits");
        let z = [20, 0, -20];
        let grad = ce_grad(&z, &[g, 0, 0], 0.1, &c, g, (0, 0));
        // softmax ≈ [0.87, 0.12, 0.016]
        let want = [(0.867 - 1.0) * 63.0, 0.117 * 63.0, 0.016 * 63.0];
        for (got, want) in grad.iter().zip(want) {
            assert!((*got as f64 - want).abs() <= 2.5, "{grad:?}");
        }
    }
}
