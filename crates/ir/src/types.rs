//! Value types: shape, visibility (encrypted or clear) and element range.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether the server sees a value as a ciphertext or in the clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Vis {
    Enc,
    Clear,
}

/// Source position (1-based line and column in the `.mlp` file) that a node
/// descends from; `0:0` when none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Loc {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// The type of a tensor value. `lo..=hi` bounds every element; for low-IR
/// values it is the range of the integer actually held in the ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Type {
    pub vis: Vis,
    pub shape: Vec<usize>,
    pub lo: i64,
    pub hi: i64,
    /// `stored = logical + offset`: how the value sits in its ciphertext.
    #[serde(default)]
    pub offset: i64,
    /// `Some(m)`: a residue modulo `m` held at the torus position `r/m`
    /// (tfhe-rs's native CRT encoding), not on the message grid
    /// `r/2^(p+1)`. Its sums wrap modulo `m`; only `torus_sign` and
    /// `torus_read` bootstrap it (docs/arithmetic.md, "Residues at the
    /// scale of their modulus"). `None`: the message grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torus: Option<i64>,
}

impl Type {
    pub fn enc(shape: Vec<usize>, lo: i64, hi: i64) -> Self {
        Type { vis: Vis::Enc, shape, lo, hi, offset: 0, torus: None }
    }

    /// An encrypted value stored with an offset.
    pub fn enc_offset(shape: Vec<usize>, lo: i64, hi: i64, offset: i64) -> Self {
        Type { vis: Vis::Enc, shape, lo, hi, offset, torus: None }
    }

    /// Range of the stored integer: `[lo + offset, hi + offset]`.
    pub fn stored(&self) -> (i64, i64) {
        (self.lo + self.offset, self.hi + self.offset)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bits needed for the range: unsigned when `lo >= 0`, two's complement otherwise.
    pub fn bits(&self) -> u32 {
        range_bits(self.lo, self.hi)
    }

    pub fn signed(&self) -> bool {
        self.lo < 0
    }

    /// `u6` or `i7`: the width as printed.
    pub fn width_name(&self) -> String {
        format!("{}{}", if self.signed() { 'i' } else { 'u' }, self.bits())
    }

    /// A residue modulo `m` at the torus position `r/m`.
    pub fn enc_torus(shape: Vec<usize>, m: i64) -> Self {
        Type { vis: Vis::Enc, shape, lo: 0, hi: m - 1, offset: 0, torus: Some(m) }
    }

    pub fn with_range(&self, lo: i64, hi: i64) -> Type {
        Type { lo, hi, ..self.clone() }
    }

    pub fn with_shape(&self, shape: Vec<usize>) -> Type {
        Type { shape, ..self.clone() }
    }
}

/// Bits of the smallest integer type holding `lo..=hi`.
pub fn range_bits(lo: i64, hi: i64) -> u32 {
    let ubits = |v: i64| 64 - (v as u64).leading_zeros();
    if lo >= 0 {
        ubits(hi).max(1)
    } else {
        // two's complement: b bits hold [-2^(b-1), 2^(b-1) - 1]
        let neg = ubits(!lo) + 1;
        let pos = if hi >= 0 { ubits(hi) + 1 } else { 1 };
        neg.max(pos)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vis = match self.vis {
            Vis::Enc => "enc",
            Vis::Clear => "clear",
        };
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        write!(f, "{vis}[{}] {} [{}, {}]", dims.join(","), self.width_name(), self.lo, self.hi)?;
        if self.offset != 0 {
            write!(f, " off {}", self.offset)?;
        }
        if let Some(m) = self.torus {
            write!(f, " torus {m}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::range_bits;

    #[test]
    fn bits_of_ranges() {
        assert_eq!(range_bits(0, 0), 1);
        assert_eq!(range_bits(0, 1), 1);
        assert_eq!(range_bits(0, 255), 8);
        assert_eq!(range_bits(0, 256), 9);
        assert_eq!(range_bits(-128, 127), 8);
        assert_eq!(range_bits(-129, 127), 9);
        assert_eq!(range_bits(-1, 0), 1);
        assert_eq!(range_bits(-5, -2), 4);
    }
}
