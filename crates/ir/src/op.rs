//! The operations of the IR, from high-level tensor ops to ≤ p-bit leveled
//! integer ops and table lookups.
//!
//! Every value has a *logical* integer meaning and a *stored* integer, the one
//! a ciphertext (or the simulator) holds: `stored = logical + offset`, the offset
//! being part of the value's [`crate::Type`]. High-level ops are defined on
//! logical values; low-level ops on stored integers (their results normally have
//! offset 0). A pass that lowers a high op reads its operands' offsets and builds
//! its tables accordingly. The exact integer reference semantics of the high ops
//! live in [`crate::semantics`] next door; the doc comments here summarise them.

use crate::table::TableId;
use serde::{Deserialize, Serialize};

/// What an input tensor is, so the client knows what to encrypt into it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// A batch of quantized training samples.
    Data,
    /// One-hot labels of the batch.
    Label,
    /// A weight matrix, updated by the step and fed back into the next one.
    Weight,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Data => "data",
            Role::Label => "label",
            Role::Weight => "weight",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    // ---- sources and sinks -------------------------------------------------
    /// An encrypted input tensor supplied by the client (or fed back from the
    /// previous step, for weights).
    Input {
        name: String,
        role: Role,
    },
    /// Marks a result of the step. Its value is its operand's.
    Output {
        name: String,
    },
    /// A value of the samples alone that the client computes and encrypts
    /// once (`passes::forms`): its operand's value, but the server takes it
    /// from the job instead of computing it, so the operand's cone runs only
    /// where the data is in the clear (the simulator, `silc encrypt`). Each
    /// sample's share is the slice at its index along `axis` (the batch
    /// axis of the value).
    ///
    /// With `ggsw` the client encrypts it as GGSW ciphertexts, the first
    /// operand of an `ext_dot`; the server cannot compute those.
    Form {
        name: String,
        axis: usize,
        ggsw: bool,
    },

    // ---- high level --------------------------------------------------------
    /// `[n,k] × [k,m] → [n,m]`: the exact integer matrix product.
    MatMul,
    /// Swaps the two axes of a matrix (no arithmetic; also low level).
    Transpose,
    /// `clamp(floor((x + ⌊D/2⌋) / D), -2^(bits-1), 2^(bits-1) - 1)` with
    /// `D = Π factors`: division by `D`, rounding half up, saturating to a signed
    /// `bits`-bit integer. The factors are pairwise coprime so that the RNS
    /// lowering can divide exactly by dropping their mixed-radix digits.
    ///
    /// With `shifts` non-empty the rescale is *block scaled*: the divisor is
    /// chosen from the data, per tensor. The candidates are the prefixes
    /// `D_j = factors[0]·…·factors[j-1]` for `j` in `shifts` (ascending, the
    /// last being `factors.len()`); the op takes the finest `D_j` at which no
    /// element of the tensor reaches either saturation bound, and the full `D`
    /// when every candidate does (`semantics::block_rescale`). The chosen
    /// divisor is not reported: the values fill the top bits of the output,
    /// and whoever reads them treats them as if divided by the full `D`.
    ///
    /// With `relu` the result saturates to `[0, 2^bits - 1]` instead: ReLU
    /// of a rescale to `bits + 1` signed bits, one op, so a hidden
    /// activation keeps all of its `bits` (a ReLU after a signed rescale
    /// leaves it one bit fewer). Only static rescales take `relu`.
    Rescale {
        factors: Vec<i64>,
        bits: u32,
        shifts: Vec<usize>,
        relu: bool,
    },
    /// `max(x, 0)`.
    Relu,
    /// `(delta, z) → delta if 0 < z < top else 0`, `top` the upper bound of
    /// `z`'s type: the derivative of a ReLU whose output saturates at `top`
    /// (a `rescale … sat=relu`), zero where the forward value was clamped at
    /// either end.
    ReluBackward,
    /// `(z, y) → grad`: the quantized cross-entropy gradient
    /// `softmax(z·z_scale) - y` in units of `1/grad_max`, computed the way the
    /// lowering does (see `semantics::ce_grad`). With `margin > 0` the
    /// labelled class's logit enters the softmax `margin` steps lower
    /// (clamped at `z`'s least value), so it teaches until it wins by that.
    CeGrad {
        z_scale: f64,
        exp_max: i64,
        grad_max: i64,
        margin: i64,
    },
    /// `(d, y) → grad`: the cross-entropy gradient of two classes, in units
    /// of `1/grad_max`, from their logit difference `d = z₀ − z₁` (one
    /// column) and class 0's label `y ∈ {0, grad_max}`:
    /// `round(grad_max·σ(d'·z_scale)) − y`, the softmax of two logits being
    /// the sigmoid of their difference. With `margin > 0` the labelled
    /// class's logit enters `margin` steps lower: `d' = d ∓ margin` (see
    /// `semantics::logistic_grad`).
    LogisticGrad {
        z_scale: f64,
        grad_max: i64,
        margin: i64,
    },
    /// `(w, g) → clamp(w - clamp(round(g·num / 2^shift), -bound, bound), wmin, wmax)`,
    /// `[wmin, wmax]` being `w`'s own range: one SGD step.
    ///
    /// With `lo_bits = L > 0` the weight has two digits, `w` being `[2, r, c]`:
    /// `w[0]` the high digit (what the products use) and `w[1]` a balanced low
    /// digit in `[-2^(L-1), 2^(L-1))`, the weight being `w[0]·2^L + w[1]`. The
    /// step is in units of the low digit and carries into the high digit,
    /// which saturates (see `semantics::sgd_two_digits`).
    SgdUpdate {
        num: i64,
        shift: u32,
        bound: i64,
        lo_bits: u32,
    },

    // ---- between levels: residue number system ----------------------------
    /// `(ra, rb) → Σ_k ra[i,k]·rb[k,j] mod modulus`: a matrix product of
    /// residues. Lowered to ≤ p-bit products and reductions by `karatsuba`.
    ModMatMul {
        modulus: i64,
    },
    /// `(r_1, …, r_n) → Rescale` of the unique `C` in `[c_lo, c_lo + M)` with
    /// `C ≡ r_i (mod m_i)`, `M = Π moduli`. The first `n_div` radices
    /// (`semantics::radices`: the moduli, with `2^(p+1)` split into 2 in its
    /// place and `2^p` last) are the rescale factors `D`. Lowered through
    /// mixed-radix digits by `scale`. `shifts` and `relu` as for `Rescale`
    /// (shifts are prefix lengths of the radices; empty: static).
    FromResidues {
        moduli: Vec<i64>,
        n_div: usize,
        c_lo: i64,
        c_hi: i64,
        bits: u32,
        shifts: Vec<usize>,
        /// As for `Rescale`: saturate to `[0, 2^bits - 1]`.
        relu: bool,
        /// The radix the modulus `2^(p+1)`, if present, gives in its place
        /// (`semantics::radices`): 2, or a power of two up to `2^(p-1)` when
        /// it is the first modulus and that radix is the divisor.
        low: i64,
        /// The reduction cut into chunks along `k`, their lengths (empty:
        /// one chunk). The operands are then the residues of each chunk,
        /// chunk after chunk, and `C` is the sum of the chunks' values, each
        /// the unique one in its own range (`semantics::chunk_ranges`): a
        /// product wider than any residue number system at this precision.
        chunks: Vec<usize>,
    },

    // ---- low level: leveled arithmetic (no bootstrap) ----------------------
    Add,
    /// `a + b` where at most one of `a`, `b` differs from its idle value
    /// (`idle[0]`, `idle[1]`), so that the sum lies in the hull of
    /// `a + idle[1]` and `idle[0] + b`, not in the sum of the two
    /// intervals. The premise is not taken on trust: `check` proves it by
    /// enumeration (`passes::exclusive`) on every graph it checks.
    AddExclusive {
        idle: Vec<i64>,
    },
    Sub,
    AddClear {
        c: i64,
    },
    /// `x + v`, `v` a public pseudo-random integer in `[lo, hi]` per element,
    /// a function of the step's salt, `stream` and the element's index
    /// (`semantics::dither`): dithered rounding, the dither added to a
    /// product before its rescale. With `modulus` the operand is a residue
    /// and the result is `(x + v) mod modulus` (between `rns` and
    /// `karatsuba` only); on a torus value it wraps modulo the torus;
    /// otherwise it is a plain sum. No bootstrap: a clear addition.
    AddDither {
        stream: u32,
        lo: i64,
        hi: i64,
        modulus: Option<i64>,
    },
    MulClear {
        c: i64,
    },
    /// `(a, b) → a·scale + b`: packs two small values into one table index.
    Pack {
        scale: i64,
    },
    /// Sums groups of `chunk` consecutive elements along `axis` (the last group
    /// may be shorter): the axis shrinks to `ceil(n / chunk)`.
    ReduceSum {
        axis: usize,
        chunk: usize,
    },

    // ---- low level: bootstraps ---------------------------------------------
    /// One programmable bootstrap per element: `table[x]` for `x` in
    /// `[0, 2^p)`; for `x` in `[2^p, 2^(p+1))` TFHE returns `-table[x - 2^p]`.
    Lut {
        table: TableId,
    },
    /// Several tables of one input in one blind rotation (tfhe-rs many-LUT):
    /// the results are stacked along a new leading axis.
    LutMany {
        tables: Vec<TableId>,
    },
    /// `x ↦ x mod 2^p` for a stored `x` anywhere in `[0, 2^(p+1))`: one
    /// bootstrap of the constant table `2^(p-1)`, whose negacyclic answer
    /// (`+2^(p-1)` below `2^p`, `-2^(p-1)` above) is added to `x` together
    /// with `-2^(p-1)`. The only bootstrap whose input may leave `[0, 2^p)`:
    /// it reads a sum that wraps freely modulo `2^(p+1)` (see `karatsuba`).
    Fold,
    /// `table[x]` like `lut`, answered at the torus position `table[x]/m`
    /// instead of on the message grid: the result is a residue modulo `m`
    /// (type `torus m`) whose sums wrap modulo `m` with no reduction. For `x`
    /// in `[2^p, 2^(p+1))` TFHE returns `-table[x - 2^p] mod m`.
    LutTorus {
        table: TableId,
        m: i64,
    },
    /// The first bootstrap of a torus residue's read: for `r` modulo an odd
    /// `m ≤ 2^p - 1`, held at `r/m`, the constant table `2^(p-1)` looked up
    /// at `r/m + 1/(4m)`: `2^(p-1)` (a quarter of the torus) when that lies
    /// in the lower half, `3·2^(p-1)` when in the upper half (negacyclic).
    TorusSign,
    /// The second bootstrap of the read: `x + 1/(4m) - sign + 1/4` lies in
    /// the lower half of the torus, at a position that tells every residue
    /// apart; a table placed at those positions answers `table[r]` on the
    /// message grid, or at `table[r]/t` with `torus = Some(t)`.
    TorusRead {
        table: TableId,
        torus: Option<i64>,
    },
    /// A value held on the torus `2^(p+1)·d` (a fine sum, see
    /// `karatsuba::torus`) whose phase the circuit has brought onto the
    /// message grid, a multiple of `d`: the same ciphertext, read from here
    /// on as the grid value `v/d`, declared in `[0, hi]`, `hi < 2^(p+1)` (no
    /// bootstrap; the conversion that builds it proves the range,
    /// `scale::fine`; above `2^p` only `fold` and constant tables read it).
    OnGrid {
        d: i64,
        hi: i64,
    },

    /// `(a, b) → Σ_k a[i,k]·b[k,j] mod m` of logical values, held at the
    /// torus position `1/m` (type `torus m`): a matrix product by external
    /// products. `a` is a value of the samples alone, which the client
    /// uploads as GGSW ciphertexts (`form {ggsw=true}` once `forms` has
    /// run); each element of `b` is refreshed once by a blind rotation with
    /// the precise bootstrapping key, to `b/m`, and multiplied by the GGSW
    /// ciphertexts with no bootstrap. With `transpose` the op reads `a` as
    /// `[k, i]` (a weight gradient `xᵀ·δ` of the sample `x`). With `table`
    /// the refresh answers `table[b]/m` instead, `b` stored and the table's
    /// entries logical values: a table before the product, in the same
    /// blind rotation (`schedule` fuses a `lut` that only the product reads).
    ExtDot {
        m: i64,
        transpose: bool,
        table: Option<TableId>,
    },
    /// A residue modulo `m` held at `r/m`, multiplied by `by` (a divisor of
    /// `m`): the residue `r mod (m/by)` held at its own torus position (a
    /// clear multiplication, no bootstrap; the noise grows by `by`).
    Coarsen {
        by: i64,
    },

    // ---- low level: layout (no arithmetic) --------------------------------
    Reshape {
        shape: Vec<usize>,
    },
    /// Inserts a new axis at `axis` repeating the value `n` times.
    Expand {
        axis: usize,
        n: usize,
    },
    Slice {
        axis: usize,
        start: usize,
        len: usize,
    },
    Concat {
        axis: usize,
    },
}

impl Op {
    /// The op's name in the text form.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Output { .. } => "output",
            Op::Form { .. } => "form",
            Op::MatMul => "matmul",
            Op::Transpose => "transpose",
            Op::Rescale { .. } => "rescale",
            Op::Relu => "relu",
            Op::ReluBackward => "relu_backward",
            Op::CeGrad { .. } => "ce_grad",
            Op::LogisticGrad { .. } => "logistic_grad",
            Op::SgdUpdate { .. } => "sgd_update",
            Op::ModMatMul { .. } => "mod_matmul",
            Op::FromResidues { .. } => "from_residues",
            Op::Add => "add",
            Op::AddExclusive { .. } => "add_exclusive",
            Op::Sub => "sub",
            Op::AddClear { .. } => "add_clear",
            Op::AddDither { .. } => "add_dither",
            Op::MulClear { .. } => "mul_clear",
            Op::Pack { .. } => "pack",
            Op::ReduceSum { .. } => "reduce_sum",
            Op::Lut { .. } => "lut",
            Op::LutMany { .. } => "lut_many",
            Op::Fold => "fold",
            Op::LutTorus { .. } => "lut_torus",
            Op::TorusSign => "torus_sign",
            Op::TorusRead { .. } => "torus_read",
            Op::OnGrid { .. } => "on_grid",
            Op::ExtDot { .. } => "ext_dot",
            Op::Coarsen { .. } => "coarsen",
            Op::Reshape { .. } => "reshape",
            Op::Expand { .. } => "expand",
            Op::Slice { .. } => "slice",
            Op::Concat { .. } => "concat",
        }
    }

    /// Number of operands, or `None` for variadic ops.
    pub fn arity(&self) -> Option<usize> {
        Some(match self {
            Op::Input { .. } => 0,
            Op::Output { .. }
            | Op::Form { .. }
            | Op::Transpose
            | Op::Rescale { .. }
            | Op::Relu
            | Op::AddClear { .. }
            | Op::AddDither { .. }
            | Op::MulClear { .. }
            | Op::ReduceSum { .. }
            | Op::Lut { .. }
            | Op::LutMany { .. }
            | Op::Fold
            | Op::LutTorus { .. }
            | Op::TorusSign
            | Op::OnGrid { .. }
            | Op::Coarsen { .. }
            | Op::Reshape { .. }
            | Op::Expand { .. }
            | Op::Slice { .. } => 1,
            Op::MatMul
            | Op::ReluBackward
            | Op::CeGrad { .. }
            | Op::LogisticGrad { .. }
            | Op::SgdUpdate { .. }
            | Op::ModMatMul { .. }
            | Op::Add
            | Op::AddExclusive { .. }
            | Op::Sub
            | Op::Pack { .. }
            | Op::TorusRead { .. }
            | Op::ExtDot { .. } => 2,
            Op::FromResidues { .. } | Op::Concat { .. } => return None,
        })
    }

    /// Ops that only exist before lowering is complete.
    pub fn is_high_level(&self) -> bool {
        matches!(
            self,
            Op::MatMul
                | Op::Rescale { .. }
                | Op::Relu
                | Op::ReluBackward
                | Op::CeGrad { .. }
                | Op::LogisticGrad { .. }
                | Op::SgdUpdate { .. }
                | Op::ModMatMul { .. }
                | Op::FromResidues { .. }
                | Op::AddDither { modulus: Some(_), .. }
        )
    }

    /// Ops evaluated with one programmable bootstrap per element (per table).
    pub fn is_bootstrap(&self) -> bool {
        matches!(
            self,
            Op::Lut { .. } | Op::LutMany { .. } | Op::Fold | Op::LutTorus { .. } | Op::TorusSign | Op::TorusRead { .. }
        )
    }

    /// Ops that only move data.
    pub fn is_layout(&self) -> bool {
        matches!(
            self,
            Op::Transpose
                | Op::Reshape { .. }
                | Op::Expand { .. }
                | Op::Slice { .. }
                | Op::Concat { .. }
                | Op::Output { .. }
        )
    }
}
