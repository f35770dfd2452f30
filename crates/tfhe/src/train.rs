//! The server's training loop on ciphertexts: for every batch of the
//! client-chosen order, assemble the batch from the encrypted samples, run
//! the step circuit, and feed the updated weights into the next step. No
//! secret key is involved. The samples stay seeded (compressed) in memory
//! and only the batch at hand is expanded, so a data set costs its upload
//! size, not `2^p`-bit LWE ciphertexts for every feature of every sample;
//! the same holds for the samples' GGSW ciphertexts (64 KiB each seeded,
//! 128 KiB regrown in the Fourier domain).

use std::collections::HashMap;

use rayon::prelude::*;
use silc_ir::Graph;
use tfhe::shortint::CompressedCiphertext;

use crate::exec::{execute_with, CtTensor, Engine, GgswTensor};
use crate::external::Ggsw;
use crate::upload::{expand_ggsws, SeededGgsws};

/// The encrypted training set as the client uploaded it (seeded
/// ciphertexts): per sample, its features and one-hot label, stored as the
/// circuit's inputs `x` and `y` expect them, and its forms
/// (`silc_sim::forms`), every LWE form's slice in the circuit's order, and
/// its GGSW forms' slices, likewise, as one list (none when the circuit has
/// no `ext_dot`).
pub struct EncryptedData {
    pub x_rows: Vec<Vec<CompressedCiphertext>>,
    pub y_rows: Vec<Vec<CompressedCiphertext>>,
    pub form_rows: Vec<Vec<CompressedCiphertext>>,
    pub ggsw_rows: Vec<SeededGgsws>,
}

/// The LWE forms of the samples `idx`, each in its step's shape.
fn gather_forms(g: &Graph, rows: &[Vec<CompressedCiphertext>], idx: &[usize]) -> Vec<(String, CtTensor)> {
    let batch: Vec<&[CompressedCiphertext]> = idx.iter().map(|&i| rows[i].as_slice()).collect();
    let mut offset = 0;
    silc_sim::forms::layout(g)
        .into_iter()
        .filter(|f| !f.ggsw)
        .map(|f| {
            let seeded = silc_sim::forms::assemble(&f, &batch, offset);
            offset += f.per_sample();
            (f.name, CtTensor { shape: f.shape, cts: seeded.par_iter().map(|c| c.decompress()).collect() })
        })
        .collect()
}

/// The GGSW forms of the samples `idx`, each in its step's shape: every
/// sample's list regrown once, then placed.
fn gather_ggsw(g: &Graph, rows: &[SeededGgsws], idx: &[usize]) -> HashMap<String, GgswTensor> {
    let forms: Vec<_> = silc_sim::forms::layout(g).into_iter().filter(|f| f.ggsw).collect();
    if forms.is_empty() {
        return HashMap::new();
    }
    let expanded: Vec<Vec<Ggsw>> = idx.par_iter().map(|&i| expand_ggsws(&rows[i])).collect();
    let batch: Vec<&[Ggsw]> = expanded.iter().map(Vec::as_slice).collect();
    let mut offset = 0;
    forms
        .into_iter()
        .map(|f| {
            let items = silc_sim::forms::assemble(&f, &batch, offset);
            offset += f.per_sample();
            (f.name, GgswTensor { shape: f.shape, items })
        })
        .collect()
}

/// The rows `idx` as one `[batch, width]` tensor, expanded from their seeds.
fn gather(rows: &[Vec<CompressedCiphertext>], idx: &[usize]) -> CtTensor {
    let width = rows[idx[0]].len();
    let seeded: Vec<&CompressedCiphertext> = idx.iter().flat_map(|&i| rows[i].iter()).collect();
    CtTensor { shape: vec![idx.len(), width], cts: seeded.par_iter().map(|c| c.decompress()).collect() }
}

/// Runs one step per batch of `order` (consecutive chunks of `batch`
/// sample indices), starting from `weights`; calls `after_step(k, &weights)`
/// after step `k` (for progress and checkpoints). The first step is the
/// run's step `first` (from 0), whose index salts its dither, as in the
/// simulator's training loop.
#[allow(clippy::too_many_arguments)]
pub fn train(
    engine: &Engine<'_>,
    g: &Graph,
    data: &EncryptedData,
    mut weights: Vec<CtTensor>,
    order: &[usize],
    batch: usize,
    first: u64,
    after_step: &mut dyn FnMut(usize, &[CtTensor]),
) -> Result<Vec<CtTensor>, String> {
    for (k, idx) in order.chunks(batch).enumerate() {
        if idx.len() < batch {
            break;
        }
        let mut inputs = HashMap::new();
        inputs.insert("x".to_string(), gather(&data.x_rows, idx));
        inputs.insert("y".to_string(), gather(&data.y_rows, idx));
        inputs.extend(gather_forms(g, &data.form_rows, idx));
        let ggsw = gather_ggsw(g, &data.ggsw_rows, idx);
        for (l, w) in weights.iter().enumerate() {
            inputs.insert(format!("w{}", l + 1), w.clone());
        }
        let mut out = execute_with(engine, g, &inputs, &ggsw, first + k as u64)?;
        weights = (0..weights.len())
            .map(|l| {
                out.remove(&format!("w{}.next", l + 1))
                    .ok_or_else(|| format!("the circuit has no output `w{}.next`", l + 1))
            })
            .collect::<Result<_, _>>()?;
        after_step(k + 1, &weights);
    }
    Ok(weights)
}
