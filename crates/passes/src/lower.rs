//! `lower`: a [`ModelSpec`] → the high-level IR of one training step.
//!
//! One step takes a batch `x` (`[batch, inputs]`), its labels `y`
//! (`[batch, classes]`, one-hot scaled to `G`), and the weights `w1 … wL`, and
//! returns the updated weights `w1.next …` and the logits. Forward:
//! `z_l = rescale([a_{l-1}, c] · w_l)`, `a_l = relu(z_l)` (for a ReLU layer
//! one op, a rescale that saturates to `[0, 2^bits - 1]`, so `a_l` keeps all
//! its bits and `z_l = a_l` feeds the backward mask), where the constant
//! column `c` makes the last row of `w_l` the layer's bias (layers with
//! `bias=off` use `a_{l-1}` alone); loss gradient
//! `δ_L = ce_grad(z_L, y)`; backward: `dW_l = rescale(a_{l-1}ᵀ · δ_l)`,
//! `δ_{l-1} = relu_backward(rescale(δ_l · w_lᵀ), z_{l-1})`; update
//! `w_l ← sgd_update(w_l, dW_l)`. With `rounding dither;` a block-scaled
//! `dW_l` is `rescale(add_dither(a_{l-1}ᵀ · δ_l))`, a public dither sized by
//! the block's finest divisor.
//!
//! Every tensor is a fixed-point integer: real value = integer × scale. The
//! scales follow from [`Formats`] (target real ranges) and are recorded in
//! [`Quant`] for the client (quantizing data, dequantizing weights). Rescale
//! divisors are products of pairwise-coprime moduli, chosen close to the ideal
//! ratio of scales, so that the RNS lowering divides exactly.

use serde::{Deserialize, Serialize};
use silc_frontend::{ModelSpec, Scaling};
use silc_ir::{Graph, Loc, Op, Role, Type};

use crate::error::PassError;
use silc_ir::semantics;

/// Real ranges that the fixed-point formats are sized for. Values beyond
/// them saturate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Formats {
    /// Standardized input features are clipped to `±input_range`.
    pub input_range: f64,
    /// Hidden pre-activations `±hidden_range`.
    pub hidden_range: f64,
    /// Output logits `±logit_range`.
    pub logit_range: f64,
    /// Weights of a layer with `n` inputs: `±clamp(weight_gain/√n, 1/32, 2)`.
    pub weight_gain: f64,
    /// Two-digit weights, whose low digit keeps small steps, can range wider
    /// at the same resolution of the products: their gain is this many times
    /// `L - 1` (`L` the low digit's bits), and at least `weight_gain`.
    #[serde(default = "default_two_digit_gain")]
    pub two_digit_gain_per_bit: f64,
    /// Batch-summed weight gradients: `±gradient_gain · √batch · (input range of the layer)`.
    pub gradient_gain: f64,
    /// Back-propagated deltas `±delta_range` (the output delta is in `[-1, 1]`).
    pub delta_range: f64,
    /// With block scaling, the SGD step of a block-scaled gradient is the
    /// static step times this: a normalised gradient fills its range every
    /// step, so it wants a smaller step than a worst-case-scaled one.
    #[serde(default = "default_block_step")]
    pub block_step: f64,
}

fn default_block_step() -> f64 {
    0.5
}

fn default_two_digit_gain() -> f64 {
    2.0
}

impl Default for Formats {
    /// Tuned on the Iris and Digits training runs (README, "Accuracy"):
    /// finer weights (`weight_gain` 2 rather than 4) matter most, because an
    /// SGD step smaller than half a weight unit rounds to nothing; wider hidden
    /// (±8) and logit (±12) ranges saturate less. The block step of ½ was
    /// measured on Digits and MNIST (README, "Block scaling"). Two-digit
    /// weights range wider, `2·(L - 1)`: gain 4 at bits 4 (Iris 68.0 → 76.0 %,
    /// Wine 93.9 → 96.1 %), 6 at bits 5 (docs/learning.md); one-digit weights
    /// lose with a wider range.
    fn default() -> Self {
        Formats {
            input_range: 4.0,
            hidden_range: 8.0,
            logit_range: 12.0,
            weight_gain: 2.0,
            two_digit_gain_per_bit: default_two_digit_gain(),
            gradient_gain: 1.0,
            delta_range: 1.0,
            block_step: default_block_step(),
        }
    }
}

pub use silc_ir::Quant;

/// The result of `lower`: the step graph and its quantization.
#[derive(Clone, Debug)]
pub struct Lowered {
    pub graph: Graph,
    pub quant: Quant,
}

fn loc(l: silc_frontend::spec::Loc) -> Loc {
    Loc { line: l.line, col: l.col }
}

/// Divisors near `target`, best first: products of one to three
/// pairwise-coprime factors, each a valid modulus at precision `p`
/// (`2 ≤ m ≤ 2^(p-1)`, or `2^p` for the wrapping product), ranked by
/// `|ln(D / target)|`, then fewer factors. An empty list of factors means no
/// division.
pub fn divisor_candidates(p: u32, target: f64, limit: usize) -> Vec<Vec<i64>> {
    let max = 1i64 << (p - 1);
    let cands: Vec<i64> = (2..=max).chain([1i64 << p]).collect();
    let mut all: Vec<(f64, Vec<i64>)> = vec![((1.0 / target.max(1e-9)).ln().abs(), vec![])];
    let score = |f: &[i64]| (f.iter().product::<i64>() as f64 / target).ln().abs();
    for (i, &a) in cands.iter().enumerate() {
        all.push((score(&[a]), vec![a]));
        for (j, &b) in cands.iter().enumerate().skip(i + 1) {
            if gcd(a, b) != 1 {
                continue;
            }
            all.push((score(&[b, a]), vec![b, a]));
            if target > (max * (max - 1)) as f64 * 0.5 {
                for &c in &cands[j + 1..] {
                    if gcd(a, c) == 1 && gcd(b, c) == 1 {
                        all.push((score(&[c, b, a]), vec![c, b, a]));
                    }
                }
            }
        }
    }
    all.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.len().cmp(&y.1.len())).then(y.1.cmp(&x.1)));
    all.truncate(limit);
    all.into_iter().map(|x| x.1).collect()
}

/// The best divisor near `target` (see [`divisor_candidates`]).
pub fn choose_divisor(p: u32, target: f64) -> Vec<i64> {
    divisor_candidates(p, target, 1).pop().unwrap_or_default()
}

/// The best divisor near `target` for which the matmul `z` and its rescale to
/// `bits` (with `relu`, to `[0, 2^bits - 1]`) have a residue number system
/// at this precision.
pub fn feasible_divisor(
    g: &Graph,
    z: silc_ir::ValueId,
    target: f64,
    bits: u32,
    relu: bool,
    nu: f64,
) -> Option<Vec<i64>> {
    let (a, b) = (g.node(z).args[0], g.node(z).args[1]);
    let shape = crate::karatsuba::Dims::of(g, a, b);
    let c = (g.ty(z).lo, g.ty(z).hi);
    let bounds = semantics::rescale_bounds(bits, relu);
    let offset = -bounds.0;
    divisor_candidates(g.bits, target, 60).into_iter().find(|factors| {
        let d: i64 = factors.iter().product();
        let out = (semantics::rescale_to(c.0, d, bounds) + offset, semantics::rescale_to(c.1, d, bounds) + offset);
        crate::rns::choose_cover(&crate::rns::Product { p: g.bits, nu, shape, c, factors, out, offset }, None).is_some()
    })
}

/// The divisor for a block-scaled rescale of matmul `z` to `bits`: among the
/// feasible divisors within 25 % (in log terms) of the best near `target`
/// that allow a finer shift, the one whose residue number system costs the
/// fewest PBS ([`crate::rns::choose_cover`]), then the one with the most
/// block-scaling shifts (see [`crate::rns::block_shifts`]); its factors in
/// the order the shifts need. Shifts are planned for the whole output range.
/// `None` when no divisor there allows a finer shift; the rescale then stays
/// static.
///
/// Priced this way, Iris's second weight gradient takes ÷5 or ÷15 instead
/// of ÷7 or ÷21: 9 327 → 9 186 PBS per step at bits 4, and 88.7 → 90.0 %
/// over seeds 1–5 (docs/learning.md, "Divisors priced by cost").
pub fn block_divisor(
    g: &Graph,
    z: silc_ir::ValueId,
    target: f64,
    bits: u32,
    nu: f64,
) -> Option<(Vec<i64>, Vec<usize>)> {
    block_divisor_over(g, z, (g.ty(z).lo, g.ty(z).hi), target, bits, nu)
}

/// A block-scaled rescale's divisor factors and its shifts.
pub type BlockChoice = (Vec<i64>, Vec<usize>);

/// [`block_divisor`] for the product `z` plus a dither in `[lo, hi]`
/// (`Op::AddDither`): the finest candidate `D₀` of the choice sets the
/// dither (`[−⌊D₀/2⌋, D₀ − 1 − ⌊D₀/2⌋]`, so that rounding half up at `D₀`
/// becomes `⌊(C + r)/D₀⌋`, `r` uniform in `[0, D₀)`), and the dither widens
/// the range the choice is made for. Returns the choice and the dither's
/// range, once the two agree.
pub fn dithered_block_divisor(
    g: &Graph,
    z: silc_ir::ValueId,
    target: f64,
    bits: u32,
    nu: f64,
) -> Option<(BlockChoice, (i64, i64))> {
    let c = (g.ty(z).lo, g.ty(z).hi);
    let mut dither = (0, 0);
    for _ in 0..4 {
        let (factors, shifts) = block_divisor_over(g, z, (c.0 + dither.0, c.1 + dither.1), target, bits, nu)?;
        // A finest candidate of 1 rounds nothing, and a dither sized for
        // the next one would drown the small values it keeps.
        let finest = silc_ir::semantics::rescale_divisors(&factors, &shifts).into_iter().min().filter(|&d| d > 1)?;
        let want = (-(finest / 2), finest - 1 - finest / 2);
        if want == dither {
            // The dither joins torus sums, which only a two-scale system
            // holds for every residue (`rns`).
            let (a, b) = (g.node(z).args[0], g.node(z).args[1]);
            let shape = crate::karatsuba::Dims::of(g, a, b);
            let half = 1i64 << (bits - 1);
            let widened = (c.0 + dither.0, c.1 + dither.1);
            let product = crate::rns::Product {
                p: g.bits,
                nu,
                shape,
                c: widened,
                factors: &factors,
                out: (0, 2 * half - 1),
                offset: half,
            };
            let summable = crate::rns::fine::cover(&product, &shifts)
                .is_some_and(|f| crate::rns::fine::dither_summable(g.bits, nu, &f, shape));
            return summable.then_some(((factors, shifts), dither));
        }
        dither = want;
    }
    None
}

fn block_divisor_over(
    g: &Graph,
    z: silc_ir::ValueId,
    c: (i64, i64),
    target: f64,
    bits: u32,
    nu: f64,
) -> Option<(Vec<i64>, Vec<usize>)> {
    let (a, b) = (g.node(z).args[0], g.node(z).args[1]);
    let shape = crate::karatsuba::Dims::of(g, a, b);
    let half = 1i64 << (bits - 1);
    let score = |f: &[i64]| (f.iter().product::<i64>() as f64 / target).ln().abs();
    // (PBS, more shifts) orders the candidates; the first of equals stays,
    // so ties go to the divisor nearest the target.
    type Priced = (u64, std::cmp::Reverse<usize>, Vec<i64>, Vec<usize>);
    let mut best: Option<Priced> = None;
    let mut first = None;
    for factors in divisor_candidates(g.bits, target, 60) {
        if first.is_some_and(|s: f64| score(&factors) > s + 0.25) {
            break;
        }
        let product =
            crate::rns::Product { p: g.bits, nu, shape, c, factors: &factors, out: (0, 2 * half - 1), offset: half };
        let Some((order, shifts)) = crate::rns::block_shifts(&product) else {
            continue;
        };
        first.get_or_insert(score(&factors));
        if shifts.len() < 2 {
            continue;
        }
        let Some(cover) = crate::rns::choose_cover(&crate::rns::Product { factors: &order, ..product }, None) else {
            continue;
        };
        let key = (cover.pbs, std::cmp::Reverse(shifts.len()));
        if best.as_ref().is_none_or(|b| key < (b.0, b.1)) {
            best = Some((key.0, key.1, order, shifts));
        }
    }
    best.map(|b| (b.2, b.3))
}

pub fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

fn signed_type(shape: Vec<usize>, bits: u32) -> Type {
    let half = 1i64 << (bits - 1);
    Type::enc_offset(shape, -half, half - 1, half)
}

/// `[a, c]`: `a` with a constant column appended, `c` the integer closest to
/// the real value 1 at `a`'s scale (within `a`'s range). The column costs no
/// bootstrap: a slice of `a` times zero plus `c`, a noiseless encryption of
/// `c`. Returns the column and `c`'s real value.
fn bias_column(g: &mut Graph, a: silc_ir::ValueId, scale: f64, at: Loc) -> (silc_ir::ValueId, f64) {
    let c = ((1.0 / scale).round() as i64).clamp(1, g.ty(a).hi.max(1));
    let one = constant_column(g, a, c, at);
    (g.push(Op::Concat { axis: 1 }, vec![a, one], at), c as f64 * scale)
}

/// A `[batch, 1]` column of the logical value `c` at `a`'s offset: a slice
/// of `a` times zero plus `c` and the offset, a noiseless encryption, no
/// bootstrap.
fn constant_column(g: &mut Graph, a: silc_ir::ValueId, c: i64, at: Loc) -> silc_ir::ValueId {
    let (offset, batch) = (g.ty(a).offset, g.ty(a).shape[0]);
    let first = g.push(Op::Slice { axis: 1, start: 0, len: 1 }, vec![a], at);
    let zero = g.add(Op::MulClear { c: 0 }, vec![first], Type::enc(vec![batch, 1], 0, 0), at);
    g.add(Op::AddClear { c: c + offset }, vec![zero], Type::enc_offset(vec![batch, 1], c, c, offset), at)
}

/// The largest SGD step (in low-digit units) of a two-digit weight for which
/// both the low digit plus the step and the high digit plus its carry stay
/// within `p` bits (see `nonlinear::sgd_two_digits`).
pub fn two_digit_bound(p: u32, wh: u32, lo_bits: u32) -> i64 {
    let (size, span, unit) = (1i64 << p, 1i64 << wh, 1i64 << lo_bits);
    let carry = |t: i64| (t + unit / 2).div_euclid(unit);
    (1..=(size - span) / 2)
        .rev()
        .find(|&b| span - 1 + carry(span / 2 - 1 + b) - carry(-span / 2 - b) < size)
        .unwrap_or(1)
}

/// Builds one training step of `spec` with the given formats.
pub fn lower(spec: &ModelSpec, formats: &Formats) -> Result<Lowered, PassError> {
    let p = spec.bits as u32;
    let w = spec.widths;
    let (wx, ww, wa, wg) = (w.input as u32, w.weights as u32, w.activations as u32, w.gradients as u32);
    let qloc = loc(spec.locs.quantize.unwrap_or(spec.locs.bits));
    let limit = |name: &str, v: u32, max: u32, why: &str| -> Result<(), PassError> {
        if v > max {
            return Err(PassError::unsupported(
                qloc,
                format!("{name} width {v} is too wide for bits {p}: at most {max}"),
                format!("{why}; set `quantize {name}={max};` or raise `bits`"),
            ));
        }
        Ok(())
    };
    limit("activations", wa, p - 1, "the softmax compares two logits, which needs one spare bit")?;
    limit("gradients", wg, p - 1, "relu_backward packs a mask bit beside each gradient")?;
    // A weight wider than `p - 1` bits is two digits: a high digit of
    // `wh = p - 1` bits that the products use, and a low digit of `lo_bits`.
    let wh = ww.min(p - 1);
    let lo_bits = ww - wh;
    limit("weights", ww, 2 * (p - 1), "a weight is carried in at most two digits of bits - 1 bits")?;
    limit("input", wx, p, "an input is one ciphertext")?;

    let batch = spec.batch;
    let classes = spec.classes();
    // Two classes train their logit difference: one column (see the loss).
    let binary = classes == 2;
    // Three classes train two columns against a reference class whose
    // logit is the constant 0: Iris 4 900 → 4 180 PBS per step, Wine
    // 12 849 → 10 955, for the same accuracy over five seeds; Digits lost
    // half a point at bits 4, so ten classes keep every column
    // (docs/learning.md, "A reference class").
    let reference = classes <= 3;
    let block = spec.scaling == Scaling::Block;
    // Dithered weight gradients: one stream of public dither per layer.
    let dither = |l: usize| (spec.rounding == silc_frontend::Rounding::Dither).then_some(l as u32);
    let grad_max = (1i64 << (wg - 1)) - 1;
    let ce = semantics::ce_consts(p, classes, grad_max).ok_or_else(|| {
        PassError::unsupported(
            loc(spec.layers.last().expect("checked").loc),
            format!("{classes} classes do not fit a softmax at bits {p}"),
            "the row sum of the exp table needs one step per class: use fewer classes or more bits",
        )
    })?;

    let mut g = Graph::new(spec.name.clone(), p);
    let widths = spec.widths_chain();
    let n_layers = spec.layers.len();
    let half = |b: u32| 1i64 << (b - 1);

    let input_scale = formats.input_range / half(wx) as f64;
    let x = g.add(
        Op::Input { name: "x".into(), role: Role::Data },
        vec![],
        signed_type(vec![batch, spec.input], wx),
        loc(spec.locs.input),
    );
    let y = g.add(
        Op::Input { name: "y".into(), role: Role::Label },
        vec![],
        Type::enc(vec![batch, classes], 0, grad_max),
        loc(spec.locs.loss),
    );
    let mut weights = Vec::new();
    let mut stored = Vec::new();
    let mut weight_scales = Vec::new();
    for (l, layer) in spec.layers.iter().enumerate() {
        // A bias is one more weight row, fed by a constant input column.
        let rows = widths[l] + usize::from(layer.bias);
        let cols = if reference && l + 1 == n_layers { layer.width - 1 } else { layer.width };
        let gain = if lo_bits > 0 {
            (formats.two_digit_gain_per_bit * (lo_bits as f64 - 1.0)).max(formats.weight_gain)
        } else {
            formats.weight_gain
        };
        let range = (gain / (rows as f64).sqrt()).clamp(1.0 / 32.0, 2.0);
        weight_scales.push(range / half(wh) as f64);
        let shape = if lo_bits > 0 { vec![2, rows, cols] } else { vec![rows, cols] };
        let w = g.add(
            Op::Input { name: format!("w{}", l + 1), role: Role::Weight },
            vec![],
            signed_type(shape, wh),
            loc(layer.loc),
        );
        stored.push(w);
        // The products use the high digit.
        weights.push(if lo_bits > 0 {
            let d = g.push(Op::Slice { axis: 0, start: 0, len: 1 }, vec![w], loc(layer.loc));
            g.push(Op::Reshape { shape: vec![rows, cols] }, vec![d], loc(layer.loc))
        } else {
            w
        });
    }

    // A matmul followed by its rescale to `bits` (ReLU-saturated with
    // `relu`), aiming at `target_scale` with the closest divisor that the
    // residue lowering can realise.
    let nu = crate::params::for_precision(p).nu();
    let rescaled_matmul = |g: &mut Graph,
                           a,
                           b,
                           scale_ab: f64,
                           target_scale: f64,
                           bits: u32,
                           relu: bool,
                           block: bool,
                           dither: Option<u32>,
                           at: Loc|
     -> Result<(silc_ir::ValueId, f64), PassError> {
        let z = g.push(Op::MatMul, vec![a, b], at);
        let target = target_scale / scale_ab;
        // A dithered product rounds `C + r` (`dithered_block_divisor`).
        let mut dithered = None;
        // A product with no block-scaled divisor (a chunked one) is
        // rescaled statically, and then not dithered: a static divisor is
        // sized for the full range, and the dither would drown its signal.
        // Nor is one whose dithered product has no two-scale system (`silc
        // compile` shows which products are dithered).
        let chosen = match (block, dither) {
            (true, Some(stream)) => dithered_block_divisor(g, z, target, bits, nu)
                .map(|(choice, (lo, hi))| {
                    dithered = Some(Op::AddDither { stream, lo, hi, modulus: None });
                    choice
                })
                .or_else(|| block_divisor(g, z, target, bits, nu)),
            (true, None) => block_divisor(g, z, target, bits, nu),
            (false, _) => None,
        };
        let chosen = match chosen {
            Some(block_scaled) => Some(block_scaled),
            None => feasible_divisor(g, z, target, bits, relu, nu).map(|factors| (factors, vec![])),
        };
        let (factors, shifts) = chosen.ok_or_else(|| {
            let (ta, tb) = (g.ty(a), g.ty(b));
            PassError::unsupported(
                at,
                format!(
                    "no residue number system at bits {p} covers this product, even cut into chunks: [{}x{}]·[{}x{}] ranges over [{}, {}]",
                    ta.shape[0],
                    ta.shape[1],
                    tb.shape[0],
                    tb.shape[1],
                    g.ty(z).lo,
                    g.ty(z).hi
                ),
                {
                    let span = g.ty(z).hi - g.ty(z).lo + 1;
                    let (cover, chunks) = (crate::rns::widest_cover(p) as i64, crate::rns::chunks::max_chunks(p));
                    let k = ta.shape[1] as i64;
                    if span <= cover {
                        // The range fits; what fails is the conversion's
                        // saturating chain at every divisor near the target.
                        format!(
                            "it spans {span} values, which one residue number system at bits {p} holds \
                             (up to {cover}), but none of the divisors near this rescale's target (about \
                             {target:.1}) has a conversion that saturates to {bits} bits at bits {p}: raise \
                             `bits`"
                        )
                    } else if p == 3 {
                        // docs/multi-ciphertext.md: at p = 3 a chunked sum's
                        // chain would need a radix-3 level of two values.
                        format!(
                            "it spans {span} values; at bits 3 one residue number system tells at most \
                             {cover} apart, and no product can be cut into chunks (their sum has no \
                             saturating conversion in 8-entry tables): raise `bits`, or narrow the \
                             product (at most about {} terms per output, or smaller widths with \
                             `quantize`)",
                            (k * cover / span).max(1)
                        )
                    } else {
                        format!(
                            "it spans {span} values; at bits {p} one residue number system tells at most \
                             {cover} apart, and a product is cut into at most {chunks} chunks of that: raise \
                             `bits`, or narrow the product (at most about {} terms per output, or smaller \
                             widths with `quantize`)",
                            (k * cover * chunks as i64 / span).max(1)
                        )
                    }
                },
            )
        })?;
        let d: i64 = factors.iter().product();
        let z = match dithered {
            Some(op) => g.push(op, vec![z], at),
            None => z,
        };
        let op = Op::Rescale { factors, bits, shifts, relu };
        let mut ty = silc_ir::infer::infer(g, &op, &[z]).expect("rescale of a matmul");
        ty.offset = if relu { 0 } else { half(bits) };
        Ok((g.add(op, vec![z], ty, at), scale_ab * d as f64))
    };

    // Forward. A layer with a bias multiplies `[a, c]` (its input with a
    // constant column) by its weights, so the bias is the last weight row and
    // is trained by the same product and update as the others.
    let mut acts = vec![(x, input_scale)];
    let mut fed = Vec::new();
    let mut biases = Vec::new();
    let mut pre = Vec::new();
    for (l, layer) in spec.layers.iter().enumerate() {
        let at = loc(layer.loc);
        let (a, sa) = acts[l];
        let a = if layer.bias {
            let (column, real) = bias_column(&mut g, a, sa, at);
            biases.push(Some(real));
            column
        } else {
            biases.push(None);
            a
        };
        fed.push(a);
        let last = l + 1 == n_layers;
        let range = if last { formats.logit_range } else { formats.hidden_range };
        // A ReLU layer's rescale saturates at 0 itself: its unit is half the
        // signed one, so `[0, range)` keeps all `wa` bits (Iris at bits 4:
        // 76.0 → 88.0 %, docs/learning.md).
        let (unit, relu) = if layer.relu { (range / 2.0, true) } else { (range, false) };
        let unit = unit / half(wa) as f64;
        let (z, sz) = rescaled_matmul(&mut g, a, weights[l], sa * weight_scales[l], unit, wa, relu, false, None, at)?;
        pre.push((z, sz));
        acts.push((z, sz));
    }
    let (logits, logit_scale) = *pre.last().expect("at least one layer");
    // With a reference class the logits are `(z, 0)`: the trained columns
    // and the reference class's constant 0.
    let all = if reference {
        let zero = constant_column(&mut g, logits, 0, loc(spec.locs.loss));
        g.push(Op::Concat { axis: 1 }, vec![logits, zero], loc(spec.locs.loss))
    } else {
        logits
    };
    g.push(Op::Output { name: "logits".into() }, vec![all], loc(spec.locs.loss));

    // Loss gradient, in units of 1/G, with the margin in logit steps (the
    // labelled logit's table input `z + M` must stay within p bits).
    let margin = (spec.margin() / logit_scale).round() as i64;
    let room = (1i64 << p) - 1 - g.ty(logits).stored().1;
    // Two classes shift their difference by the margin either way: the
    // table reads `d + 2M`.
    let room = if binary { room / 2 } else { room };
    if margin > room {
        let table =
            if binary { "the logit difference's table (the margin moves it either way)" } else { "the logits' table" };
        return Err(PassError::unsupported(
            loc(spec.locs.loss),
            format!(
                "a margin of {} is {margin} logit steps of {logit_scale:.3}, and at bits {p} {table} leaves room for \
                 {room}",
                spec.margin()
            ),
            format!("write `margin=` at most {:.2}, or raise `bits`", room as f64 * logit_scale),
        ));
    }
    let (op, label) = if binary {
        // The softmax of `(d, 0)` is `σ(d)`: one table on `d` and class
        // 0's label (`semantics::logistic_grad`).
        let y0 = g.push(Op::Slice { axis: 1, start: 0, len: 1 }, vec![y], loc(spec.locs.loss));
        (Op::LogisticGrad { z_scale: logit_scale, grad_max, margin }, y0)
    } else {
        (Op::CeGrad { z_scale: logit_scale, exp_max: ce.exp_max, grad_max, margin }, y)
    };
    let z = if binary { logits } else { all };
    let mut ty = silc_ir::infer::infer(&g, &op, &[z, label]).expect("loss gradient types");
    ty.offset = half(wg);
    let mut delta = g.add(op, vec![z, label], ty, loc(spec.locs.loss));
    if reference && !binary {
        // The reference class's gradient trains nothing: the columns'
        // gradients are the softmax's `δ_k`, the model's with the last
        // logit fixed at 0.
        delta = g.push(Op::Slice { axis: 1, start: 0, len: classes - 1 }, vec![delta], loc(spec.locs.loss));
    }
    let mut delta_scale = 1.0 / grad_max as f64;

    // Backward and update, last layer first.
    let mut updated = vec![None; n_layers];
    for l in (0..n_layers).rev() {
        let at = loc(spec.layers[l].loc);
        let (a, sa) = (fed[l], acts[l].1);
        let at_t = g.push(Op::Transpose, vec![a], at);
        let in_range = if l == 0 { formats.input_range } else { formats.hidden_range };
        let g_range = formats.gradient_gain * (batch as f64).sqrt() * in_range;
        let (grad, sgrad) = rescaled_matmul(
            &mut g,
            at_t,
            delta,
            sa * delta_scale,
            g_range / half(wg) as f64,
            wg,
            false,
            block,
            dither(l),
            at,
        )?;
        if l > 0 {
            // The bias row does not propagate back.
            let w = if spec.layers[l].bias {
                g.push(Op::Slice { axis: 0, start: 0, len: widths[l] }, vec![weights[l]], at)
            } else {
                weights[l]
            };
            let wt = g.push(Op::Transpose, vec![w], at);
            let target = formats.delta_range / half(wg) as f64;
            // At bits 4 the deltas are rescaled statically: block scaling's
            // candidates, bound flags and selection cost Iris 391 and Wine
            // 907 of their PBS per step, for the same accuracy over five
            // seeds (docs/learning.md, "Static deltas at bits 4").
            let block_deltas = block && p != 4;
            let (e, se) = rescaled_matmul(
                &mut g,
                delta,
                wt,
                delta_scale * weight_scales[l],
                target,
                wg,
                false,
                block_deltas,
                None,
                at,
            )?;
            delta = if spec.layers[l - 1].relu {
                let op = Op::ReluBackward;
                let mut ty = silc_ir::infer::infer(&g, &op, &[e, pre[l - 1].0]).expect("relu_backward types");
                ty.offset = half(wg);
                g.add(op, vec![e, pre[l - 1].0], ty, at)
            } else {
                e
            };
            delta_scale = se;
        }
        // w ← w - lr · (dW / batch): the step in weight units is g · lr·s_g/(batch·s_w).
        let block_scaled = matches!(&g.node(grad).op, Op::Rescale { shifts, .. } if !shifts.is_empty());
        let gain = if block_scaled { formats.block_step } else { 1.0 };
        // The step is in units of the lowest digit.
        let unit = weight_scales[l] / (1u64 << lo_bits) as f64;
        // The difference of two classes' weights takes both their steps.
        let both = if binary && l + 1 == n_layers { 2.0 } else { 1.0 };
        let factor = both * gain * spec.lr * sgrad / (batch as f64 * unit);
        let shift = (16 - factor.log2().floor() as i64).clamp(0, 40) as u32;
        let num = (factor * (1u64 << shift) as f64).round() as i64;
        let bound = if lo_bits > 0 { two_digit_bound(p, wh, lo_bits) } else { ((1i64 << p) - (1i64 << wh)) / 2 };
        let op = Op::SgdUpdate { num, shift, bound, lo_bits };
        let mut ty = silc_ir::infer::infer(&g, &op, &[stored[l], grad]).expect("sgd types");
        ty.offset = half(wh);
        updated[l] = Some(g.add(op, vec![stored[l], grad], ty, loc(spec.locs.optimizer)));
    }
    for (l, w) in updated.into_iter().enumerate() {
        let w = w.expect("every layer updated");
        g.push(Op::Output { name: format!("w{}.next", l + 1) }, vec![w], loc(spec.layers[l].loc));
    }

    Ok(Lowered {
        graph: g,
        quant: Quant {
            input_scale,
            input_bits: wx,
            input_quantile: spec.input_quantile,
            weight_scales,
            weight_bits: wh,
            weight_lo_bits: lo_bits,
            label_value: grad_max,
            logit_scale,
            biases,
            reference,
        },
    })
}
