//! [`ModelSpec`]: the checked meaning of a `.mlp` file, the input to lowering.
//!
//! Every field is valid by construction (the checker rejects anything else) and
//! carries the 1-based line and column of the statement it came from, so later
//! stages can point back at the user's text.

use serde::{Deserialize, Serialize};

/// Where a statement stands in the source: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

/// One `dense N [relu] [bias=on|off];` statement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub width: usize,
    pub relu: bool,
    /// Whether the layer adds a trained bias to its output (on unless
    /// `bias=off`).
    #[serde(default = "bias_default")]
    pub bias: bool,
    pub loc: Loc,
}

fn bias_default() -> bool {
    true
}

/// Bit widths of the quantized tensors (signed, two's-complement range),
/// each at most the circuit precision `bits`. Set with `quantize ...;`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Widths {
    /// The encrypted training samples.
    pub input: u8,
    pub weights: u8,
    pub activations: u8,
    pub gradients: u8,
}

impl Widths {
    /// The weight width without a `quantize weights=` setting, chosen by
    /// measurement (docs/learning.md): two digits of `bits - 1` bits at 5
    /// bits and below, where a one-digit weight loses every SGD step smaller
    /// than half its unit (with their wider range, Iris 54.6 → 76.0 % at
    /// bits 4; at bits 5, with static scaling and the saturating ReLU
    /// derivative, Iris 68.0 → 90.0 %, Digits 86.1 → 94.2 %, MNIST 82.7 →
    /// 91.3 %); one digit of `bits - 1` above (at bits 6 two digits lose
    /// Digits 94.2 → 87.3 %).
    pub fn default_weights(bits: u8) -> u8 {
        let one = bits.saturating_sub(1).max(2);
        if bits <= 5 {
            (2 * one).min(2 * bits.saturating_sub(1)).max(one)
        } else {
            one
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub input: usize,
    /// The client bins each input feature by its rank among the training
    /// set's values (`input N bins=quantile;`) instead of standardizing it.
    #[serde(default)]
    pub input_quantile: bool,
    pub layers: Vec<Layer>,
    /// SGD learning rate.
    pub lr: f64,
    pub batch: usize,
    pub epochs: usize,
    /// Circuit precision p: no encrypted value exceeds this many bits.
    pub bits: u8,
    pub seed: u64,
    pub widths: Widths,
    /// log2 of the inverse failure probability per PBS: 128, 64 or 40.
    pub pfail_log2: u32,
    /// How the backward pass scales its matrix products (`scaling ...;`).
    #[serde(default)]
    pub scaling: Scaling,
    /// How the weight gradients round (`rounding ...;`).
    #[serde(default)]
    pub rounding: Rounding,
    /// The loss's margin in real logit units (`loss cross_entropy
    /// margin=M;`); `None` takes [`default_margin`] for the precision.
    #[serde(default)]
    pub margin: Option<f64>,
    /// How many epochs' final weights the client predicts with
    /// (`ensemble N;`); `None` takes [`DEFAULT_ENSEMBLE`], at most `epochs`.
    #[serde(default)]
    pub ensemble: Option<usize>,
    pub locs: Locs,
}

/// The ensemble of a model without `ensemble N;`: the weights after each of
/// the last 5 epochs (or every epoch, if it trains fewer). Summing their
/// logits cancels much of the epoch-to-epoch noise of few-bit SGD, and
/// costs the server no bootstrap (docs/learning.md, "An ensemble of the
/// last epochs": Digits 95.6 → 96.9 % at 4 bits, 95.5 → 96.6 at 6).
pub const DEFAULT_ENSEMBLE: usize = 5;

/// The margin of `loss cross_entropy;` without `margin=`, in real logit
/// units: 3 at 6 bits or below, 0 above. At 4 bits ten classes leave the
/// softmax's exp table one value per class, so the quantized softmax is a
/// hard maximum and a sample whose class already wins by one logit step
/// stops teaching; the margin keeps it teaching until it wins by 3
/// (docs/learning.md, "A margin for the quantized softmax": Digits 93.9 →
/// 95.6 % at 4 bits, 94.7 → 96.9 % at 5; at 8 bits it costs Digits and
/// Breast Cancer 0.4 points, so it is off there).
pub fn default_margin(bits: u8) -> f64 {
    if bits <= 6 {
        3.0
    } else {
        0.0
    }
}

impl ModelSpec {
    /// The margin this model trains with, in real logit units.
    pub fn margin(&self) -> f64 {
        self.margin.unwrap_or_else(|| default_margin(self.bits))
    }

    /// How many of the last epochs' weights the client predicts with: 1
    /// is the last weights alone.
    pub fn ensemble(&self) -> usize {
        self.ensemble.unwrap_or(DEFAULT_ENSEMBLE).min(self.epochs).max(1)
    }
}

/// How a block-scaled weight gradient rounds to its few bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Half up: a gradient entry below half a unit is lost.
    #[default]
    Nearest,
    /// Dithered: a public pseudo-random offset in `[0, D)` (`D` the block's
    /// finest divisor) joins the product before its rescale, so an entry
    /// below half a unit still moves its weight, in expectation by its own
    /// size (docs/learning.md, "Dithered rounding, built").
    Dither,
}

impl Scaling {
    /// The scaling a model gets without a `scaling` statement, measured
    /// (docs/learning.md):
    /// - at 4 bits or below, block with two-digit weights (Iris 60.7 →
    ///   88.7 %, Digits 73.4 → 87.7 %), static with one digit, whose 3-bit
    ///   weight a normalised gradient moves by much of its range every step;
    /// - at 5 bits, static with two-digit weights: the normalised gradient
    ///   moves their fine low digit too far (Digits 94.2 % static against
    ///   81.1 % block, MNIST 91.3 against 56.9 %); block with one digit;
    /// - at 6 bits block, where it wins on every small data set;
    /// - above, static, whose steps shrink as training converges.
    pub fn default_for(bits: u8, weights: u8) -> Scaling {
        let two_digits = weights + 1 > bits;
        match bits {
            0..=4 if two_digits => Scaling::Block,
            5 if !two_digits => Scaling::Block,
            6 => Scaling::Block,
            _ => Scaling::Static,
        }
    }
}

/// How rescaled matrix products of the backward pass choose their shift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    /// One shift per tensor, fixed at compile time from worst-case ranges.
    #[default]
    Static,
    /// The backward pass (deltas and weight gradients) picks each tensor's
    /// shift under encryption from its data: the finest mixed-radix digit
    /// boundary at which nothing saturates. The SGD step reads the result as
    /// if statically scaled, so small gradients are amplified (a per-layer
    /// normalised gradient).
    Block,
}

/// Source positions of the statements that are not layers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Locs {
    pub model: Loc,
    pub input: Loc,
    pub loss: Loc,
    pub optimizer: Loc,
    pub batch: Loc,
    pub bits: Loc,
    pub quantize: Option<Loc>,
}

impl ModelSpec {
    /// Number of classes: the width of the last layer.
    pub fn classes(&self) -> usize {
        self.layers.last().map(|l| l.width).unwrap_or(0)
    }

    /// Layer widths including the input: `[4, 8, 3]` for iris.
    pub fn widths_chain(&self) -> Vec<usize> {
        std::iter::once(self.input).chain(self.layers.iter().map(|l| l.width)).collect()
    }
}
