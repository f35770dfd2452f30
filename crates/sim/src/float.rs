//! The float32 reference trainer: the same architecture (a layer's bias is
//! its last weight row, fed by the same constant input as in the circuit),
//! the same initial weights (dequantized), the same batches in the same order, the same
//! learning rate and epochs, in ordinary float arithmetic with softmax
//! cross-entropy averaged over the batch.

use crate::train::{cross_entropy, Arch, EpochStats};

pub struct FloatData {
    /// Standardized rows.
    pub rows: Vec<Vec<f32>>,
    pub labels: Vec<usize>,
}

fn forward(arch: &Arch, w: &[Vec<f32>], x: &[f32]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    // acts[0] = x; pre[l] = acts[l]·W_l; acts[l+1] = relu(pre[l]) or pre[l]
    let mut acts = vec![x.to_vec()];
    let mut pre = Vec::new();
    for l in 0..w.len() {
        let (n_in, n_out) = (arch.widths[l], arch.widths[l + 1]);
        let a = &acts[l];
        let mut z = vec![0f32; n_out];
        for i in 0..n_in {
            let ai = a[i];
            if ai != 0.0 {
                for (zj, wij) in z.iter_mut().zip(&w[l][i * n_out..(i + 1) * n_out]) {
                    *zj += ai * wij;
                }
            }
        }
        if let Some(c) = arch.bias[l] {
            for (zj, bj) in z.iter_mut().zip(&w[l][n_in * n_out..(n_in + 1) * n_out]) {
                *zj += c as f32 * bj;
            }
        }
        let out = if arch.relu[l] { z.iter().map(|v| v.max(0.0)).collect() } else { z.clone() };
        pre.push(z);
        acts.push(out);
    }
    (acts, pre)
}

fn accuracy(arch: &Arch, w: &[Vec<f32>], data: &FloatData) -> f64 {
    let correct = data
        .rows
        .iter()
        .zip(&data.labels)
        .filter(|(x, &y)| {
            let (acts, _) = forward(arch, w, x);
            let logits = acts.last().expect("output");
            let mut best = 0;
            for (i, v) in logits.iter().enumerate() {
                if *v > logits[best] {
                    best = i;
                }
            }
            best == y
        })
        .count();
    correct as f64 / data.labels.len().max(1) as f64
}

/// Trains and returns per-epoch figures and the final weights.
pub fn train(
    arch: &Arch,
    mut w: Vec<Vec<f32>>,
    train: &FloatData,
    test: &FloatData,
    orders: &[Vec<usize>],
) -> (Vec<Vec<f32>>, Vec<EpochStats>) {
    let lr = arch.lr as f32;
    let mut stats = Vec::new();
    for (e, order) in orders.iter().enumerate() {
        let start = std::time::Instant::now();
        let (mut loss, mut correct) = (0.0, 0);
        for idx in order.chunks(arch.batch) {
            let mut grads: Vec<Vec<f32>> = w.iter().map(|wl| vec![0.0; wl.len()]).collect();
            for &i in idx {
                let (acts, pre) = forward(arch, &w, &train.rows[i]);
                let logits = acts.last().expect("output");
                let l64: Vec<f64> = logits.iter().map(|&v| v as f64).collect();
                loss += cross_entropy(&l64, train.labels[i]);
                let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = logits.iter().map(|z| (z - m).exp()).collect();
                let sum: f32 = exps.iter().sum();
                let mut delta: Vec<f32> = exps.iter().map(|v| v / sum).collect();
                let pred = (0..delta.len()).fold(0, |b, j| if delta[j] > delta[b] { j } else { b });
                correct += usize::from(pred == train.labels[i]);
                delta[train.labels[i]] -= 1.0;
                for l in (0..w.len()).rev() {
                    let (n_in, n_out) = (arch.widths[l], arch.widths[l + 1]);
                    let a = &acts[l];
                    for r in 0..n_in {
                        for c in 0..n_out {
                            grads[l][r * n_out + c] += a[r] * delta[c];
                        }
                    }
                    if let Some(b) = arch.bias[l] {
                        for c in 0..n_out {
                            grads[l][n_in * n_out + c] += b as f32 * delta[c];
                        }
                    }
                    if l > 0 {
                        let mut prev = vec![0f32; n_in];
                        for (r, p) in prev.iter_mut().enumerate() {
                            let s: f32 = (0..n_out).map(|c| delta[c] * w[l][r * n_out + c]).sum();
                            *p = if !arch.relu[l - 1] || pre[l - 1][r] > 0.0 { s } else { 0.0 };
                        }
                        delta = prev;
                    }
                }
            }
            let scale = lr / idx.len() as f32;
            for (wl, gl) in w.iter_mut().zip(&grads) {
                for (x, g) in wl.iter_mut().zip(gl) {
                    *x -= scale * g;
                }
            }
        }
        let seen = order.len().max(1) as f64;
        // Float logits are not rescaled, and the reference has no
        // ensemble: one accuracy.
        let test_accuracy = accuracy(arch, &w, test);
        stats.push(EpochStats {
            epoch: e + 1,
            loss: loss / seen,
            train_accuracy: correct as f64 / seen,
            test_accuracy,
            test_accuracy_last: test_accuracy,
            test_accuracy_rescaled: test_accuracy,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    (w, stats)
}
