//! The client's forms of each sample (`passes::forms`): values of the
//! samples alone that the client computes once, in the clear, and encrypts
//! beside the sample, so that the server never bootstraps them.
//!
//! A form is a batch-shaped tensor whose slice at index `i` along its batch
//! axis belongs to sample `i`. The client computes the forms of `batch`
//! samples at a time with the circuit itself ([`crate::exec::forms`], only
//! the forms' cone) and keeps each sample's slices, every form's in the
//! circuit's order; the server puts a batch's slices back in place
//! ([`assemble`]). Both sides read the layout from the circuit
//! ([`layout`]), so nothing about it travels in the job.

use std::collections::HashMap;

use silc_ir::{Graph, Op};

use crate::exec::SimError;
use crate::tensor::Tensor;

/// One form of the circuit, as the job carries it.
#[derive(Clone, Debug, PartialEq)]
pub struct Form {
    pub name: String,
    /// The batch axis of `shape`.
    pub axis: usize,
    /// The form's shape in one step (the batch at `axis`).
    pub shape: Vec<usize>,
    /// The torus its stored values are encrypted on: `v/torus` (`2^(p+1)`
    /// for a value on the message grid).
    pub torus: i64,
    /// Encrypted as GGSW ciphertexts of the logical values (stored values
    /// minus `offset`), the first operand of an `ext_dot`.
    pub ggsw: bool,
    /// The offset of its stored values.
    pub offset: i64,
}

impl Form {
    /// Values of one sample.
    pub fn per_sample(&self) -> usize {
        self.shape.iter().product::<usize>() / self.shape[self.axis].max(1)
    }

    /// `(outer, batch, inner)` sizes around the batch axis.
    fn around(&self) -> (usize, usize, usize) {
        let outer = self.shape[..self.axis].iter().product();
        let inner = self.shape[self.axis + 1..].iter().product();
        (outer, self.shape[self.axis], inner)
    }

    /// The slice of sample `i` (its index in the batch) of a value of this
    /// form, in row-major order.
    pub fn slice<T: Clone>(&self, data: &[T], i: usize) -> Vec<T> {
        let (outer, b, inner) = self.around();
        (0..outer).flat_map(|o| data[(o * b + i) * inner..(o * b + i + 1) * inner].iter().cloned()).collect()
    }
}

/// The forms the server takes from the job, in the circuit's order (a form
/// inside another's cone is the client's alone and is not listed).
pub fn layout(g: &Graph) -> Vec<Form> {
    let client = g.client_only();
    g.ids()
        .filter(|id| !client[id.index()])
        .filter_map(|id| match &g.node(id).op {
            Op::Form { name, axis, ggsw } => Some(Form {
                name: name.clone(),
                axis: *axis,
                shape: g.ty(id).shape.clone(),
                torus: g.ty(id).torus.unwrap_or(2i64 << g.bits),
                ggsw: *ggsw,
                offset: g.ty(id).offset,
            }),
            _ => None,
        })
        .collect()
}

/// The value of `form` in one step, from the per-sample slices of the
/// batch's samples (`rows[i]` for batch position `i`, the form's own values
/// starting at `offset` in each).
pub fn assemble<T: Clone>(form: &Form, rows: &[&[T]], offset: usize) -> Vec<T> {
    let (outer, b, inner) = form.around();
    let mut out = Vec::with_capacity(outer * b * inner);
    for o in 0..outer {
        for row in rows.iter().take(b) {
            out.extend_from_slice(&row[offset + o * inner..offset + (o + 1) * inner]);
        }
    }
    out
}

/// The forms of the samples `range`: per sample, the stored values of each
/// form of [`layout`] in turn, all samples in one vector. `inputs(first)`
/// gives the logical inputs (`x`, `y`) of `batch` samples from `first` on,
/// any samples where fewer remain (their forms are not kept).
pub fn of_samples(
    g: &Graph,
    range: std::ops::Range<usize>,
    batch: usize,
    inputs: &dyn Fn(usize) -> HashMap<String, Tensor>,
) -> Result<Vec<i64>, SimError> {
    let forms = layout(g);
    let mut out = Vec::new();
    for first in range.clone().step_by(batch.max(1)) {
        let values = crate::exec::forms(g, &inputs(first))?;
        for i in 0..batch.min(range.end - first) {
            for f in &forms {
                out.extend(f.slice(&values[&f.name].data, i));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_and_its_assembly_are_inverse_along_any_axis() {
        let form = Form { name: "f".into(), axis: 1, shape: vec![2, 3, 2], torus: 32, ggsw: false, offset: 0 };
        let data: Vec<i64> = (0..12).collect();
        let rows: Vec<Vec<i64>> = (0..3).map(|i| form.slice(&data, i)).collect();
        assert_eq!(rows[1], vec![2, 3, 8, 9]);
        let refs: Vec<&[i64]> = rows.iter().map(Vec::as_slice).collect();
        assert_eq!(assemble(&form, &refs, 0), data);
        assert_eq!(form.per_sample(), 4);
    }
}
