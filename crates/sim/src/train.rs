//! Training in the clear, exactly as the encrypted run will: the client's
//! initial weights from the seed, the data order from the seed, and the
//! compiled step executed batch after batch.
//!
//! The step may be executed at any stage. The high-level graph is the fast
//! path; the tests prove every lowered stage equal to it bit for bit, and
//! `Stage::Low` runs the lowered circuit itself.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use silc_ir::{Graph, Quant};

use crate::exec::{execute, execute_at, SimError};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EpochStats {
    pub epoch: usize,
    /// Mean softmax cross-entropy of the batches seen (from the dequantized logits).
    pub loss: f64,
    pub train_accuracy: f64,
    /// The test set's accuracy by the argmax of the last layer's exact
    /// product ([`predictor`]), summed over the ensemble: the weights after
    /// each of the last `Arch::ensemble` epochs up to this one.
    pub test_accuracy: f64,
    /// The same by this epoch's weights alone.
    pub test_accuracy_last: f64,
    /// The same by the argmax of the step's rescaled logits, the lowest
    /// class winning ties, as the training step sees them.
    pub test_accuracy_rescaled: f64,
    pub seconds: f64,
}

/// What a training run leaves: the last weights, the earlier members of
/// the ensemble, and every epoch's figures.
#[derive(Clone, Debug)]
pub struct Trained {
    pub weights: Vec<Tensor>,
    /// `(epoch, weights after it)` for each ensemble member before the last
    /// epoch, the oldest first (`Arch::ensemble − 1` of them, or fewer when
    /// the run has fewer epochs).
    pub earlier: Vec<(usize, Vec<Tensor>)>,
    pub stats: Vec<EpochStats>,
}

/// The model's shape, as the trainers need it.
#[derive(Clone, Debug)]
pub struct Arch {
    /// Widths including the input: `[4, 8, 3]`.
    pub widths: Vec<usize>,
    /// Whether each layer has a ReLU.
    pub relu: Vec<bool>,
    /// Per layer, the real value of the constant input column that carries
    /// the bias (`Quant::biases`); `None` for a layer without bias.
    pub bias: Vec<Option<f64>>,
    pub batch: usize,
    pub lr: f64,
    /// How many of the last epochs' weights the prediction sums
    /// (`ModelSpec::ensemble`); 1 is the last weights alone.
    pub ensemble: usize,
}

impl Arch {
    /// Weight rows of layer `l`: its inputs, plus the bias row if it has one.
    pub fn rows(&self, l: usize) -> usize {
        self.widths[l] + usize::from(self.has_bias(l))
    }

    pub fn has_bias(&self, l: usize) -> bool {
        self.bias.get(l).copied().flatten().is_some()
    }
}

/// The client's initial weights: He-uniform `U(±√(6/n_in))`, quantized to
/// each layer's weight unit, and zero biases (the last row of a layer with
/// a bias). Integers (logical values); a two-digit weight is split into its
/// high and balanced low digit (`[2, rows, cols]`, see [`Quant`]). With a
/// reference class the last layer has one column fewer than the classes
/// ([`Quant::reference`]).
pub fn initial_weights(arch: &Arch, quant: &Quant, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng::new(seed);
    let top = (1i64 << (quant.weight_bits - 1)) - 1;
    let lo_bits = quant.weight_lo_bits;
    let (unit, half) = (1i64 << lo_bits, (1i64 << lo_bits) / 2);
    (0..arch.widths.len() - 1)
        .map(|l| {
            let last = l + 2 == arch.widths.len();
            let n_out = arch.widths[l + 1] - usize::from(quant.reference && last);
            let n_in = arch.widths[l];
            let limit = (6.0 / n_in as f64).sqrt();
            let mut data: Vec<i64> = (0..n_in * n_out)
                .map(|_| {
                    let w = (2.0 * rng.unit() - 1.0) * limit;
                    ((w / quant.weight_unit(l)).round() as i64).clamp((-top - 1) * unit, top * unit + (half - 1).max(0))
                })
                .collect();
            data.resize(arch.rows(l) * n_out, 0);
            if lo_bits == 0 {
                return Tensor::new(vec![arch.rows(l), n_out], data);
            }
            let hi: Vec<i64> = data.iter().map(|&w| (w + half).div_euclid(unit)).collect();
            let lo: Vec<i64> = data.iter().zip(&hi).map(|(&w, &h)| w - h * unit).collect();
            Tensor::new(vec![2, arch.rows(l), n_out], [hi, lo].concat())
        })
        .collect()
}

/// The order of the training samples in every epoch (full batches only: the
/// circuit has a fixed batch size; the remainder of a shuffled epoch is left
/// out, and reshuffling lets every sample be seen).
pub fn epoch_orders(n: usize, batch: usize, epochs: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = Rng::new(seed.wrapping_add(0xDA7A));
    (0..epochs)
        .map(|_| {
            let mut p = rng.permutation(n);
            p.truncate(n / batch * batch);
            p
        })
        .collect()
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

/// Softmax cross-entropy of one row of real logits against a class.
pub fn cross_entropy(logits: &[f64], label: usize) -> f64 {
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits.iter().map(|z| (z - m).exp()).sum();
    -(logits[label] - m - sum.ln())
}

/// Quantized rows of a data set, ready to feed.
pub struct Quantized {
    pub rows: Vec<Vec<i64>>,
    pub labels: Vec<usize>,
}

/// The integer trainer.
pub struct Trainer<'a> {
    pub graph: &'a Graph,
    /// What the test accuracy runs: [`predictor`] of the high-level graph.
    pub predict: &'a Graph,
    pub quant: &'a Quant,
    pub arch: &'a Arch,
}

/// The name of the prediction graph's exact logits.
pub const EXACT_LOGITS: &str = "logits.exact";

/// The step's high-level graph `high` with one more output, the last
/// layer's product before its rescale (`logits.exact`): what the client
/// predicts with once it holds the trained weights in the clear. The
/// rescale to `a` bits only feeds the softmax table during training; at
/// bits 4 it saturates many logits to the same value, and an argmax over
/// ties decides by class order. `None` if `high` is not a high-level step
/// (its logits are not a rescaled product). With a reference class the
/// logits are `(z, 0)` ([`Quant::reference`]); their exact form is then
/// `(product, 0)`.
pub fn predictor(high: &Graph) -> Option<Graph> {
    let out = high.find("logits")?;
    let logits = match high.node(out).op {
        silc_ir::Op::Output { .. } => high.node(out).args[0],
        _ => out,
    };
    let pair = matches!(high.node(logits).op, silc_ir::Op::Concat { .. });
    let rescale = if pair { high.node(logits).args[0] } else { logits };
    let product = *high.node(rescale).args.first()?;
    if !matches!(high.node(rescale).op, silc_ir::Op::Rescale { .. })
        || !matches!(high.node(product).op, silc_ir::Op::MatMul)
    {
        return None;
    }
    let mut g = high.clone();
    let loc = high.node(rescale).loc;
    let exact = if pair {
        let first = g.push(silc_ir::Op::Slice { axis: 1, start: 0, len: 1 }, vec![product], loc);
        let zero = g.push(silc_ir::Op::MulClear { c: 0 }, vec![first], loc);
        g.push(silc_ir::Op::Concat { axis: 1 }, vec![product, zero], loc)
    } else {
        product
    };
    g.push(silc_ir::Op::Output { name: EXACT_LOGITS.into() }, vec![exact], loc);
    Some(g)
}

/// Adds `v` to `sum` elementwise (summing ensemble members' logits).
fn add(sum: &mut [i64], v: &[i64]) {
    sum.iter_mut().zip(v).for_each(|(a, b)| *a += b);
}

/// The share of `data`'s rows whose row of `logits` (`rows × classes`)
/// has its argmax at the label (the first class winning ties).
fn hits(data: &Quantized, logits: &[i64]) -> f64 {
    let n = data.labels.len();
    if n == 0 {
        return 0.0;
    }
    let classes = logits.len() / n;
    let right = logits
        .chunks(classes)
        .zip(&data.labels)
        .filter(|(row, &label)| {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            argmax(&row) == label
        })
        .count();
    right as f64 / n as f64
}

impl Trainer<'_> {
    fn inputs(&self, x: &Quantized, idx: &[usize], weights: &[Tensor], with_labels: bool) -> HashMap<String, Tensor> {
        let (b, f) = (self.arch.batch, self.arch.widths[0]);
        let classes = *self.arch.widths.last().expect("widths");
        let mut xs = vec![0i64; b * f];
        let mut ys = vec![0i64; b * classes];
        for (r, &i) in idx.iter().enumerate() {
            xs[r * f..(r + 1) * f].copy_from_slice(&x.rows[i]);
            if with_labels {
                ys[r * classes + x.labels[i]] = self.quant.label_value;
            }
        }
        let mut m = HashMap::new();
        m.insert("x".to_string(), Tensor::new(vec![b, f], xs));
        m.insert("y".to_string(), Tensor::new(vec![b, classes], ys));
        for (l, w) in weights.iter().enumerate() {
            m.insert(format!("w{}", l + 1), w.clone());
        }
        m
    }

    /// Accuracy of the ensemble `members` (one weight set each, the last
    /// one latest) on `data`: by the argmax of the sum of the members'
    /// exact logits (the prediction graph's, where it has them), and by the
    /// last member's rescaled logits. Every member's exact logits have the
    /// same scale (the input's and the last layer's weight unit), so their
    /// integer sum is the ensemble's logit.
    pub fn accuracy(&self, data: &Quantized, members: &[Vec<Tensor>]) -> Result<(f64, f64), SimError> {
        let (last, earlier) = members.split_last().expect("an ensemble has at least one member");
        let (exact, rescaled) = self.logits(data, last)?;
        let mut sum = exact;
        for weights in earlier {
            add(&mut sum, &self.logits(data, weights)?.0);
        }
        Ok((hits(data, &sum), hits(data, &rescaled)))
    }

    /// The prediction graph's exact and rescaled logits of `weights` on
    /// every row of `data` (`rows × classes` each), batch by batch, the
    /// last batch padded with zero rows whose logits are dropped.
    pub fn logits(&self, data: &Quantized, weights: &[Tensor]) -> Result<(Vec<i64>, Vec<i64>), SimError> {
        let (b, n) = (self.arch.batch, data.labels.len());
        let classes = *self.arch.widths.last().expect("widths");
        let (mut exact, mut rescaled) = (Vec::with_capacity(n * classes), Vec::with_capacity(n * classes));
        for start in (0..n).step_by(b) {
            let idx: Vec<usize> = (start..(start + b).min(n)).collect();
            let out = execute(self.predict, &self.inputs(data, &idx, weights, false))?;
            let keep = idx.len() * classes;
            exact.extend_from_slice(&out.get(EXACT_LOGITS).unwrap_or(&out["logits"]).data[..keep]);
            rescaled.extend_from_slice(&out["logits"].data[..keep]);
        }
        Ok((exact, rescaled))
    }

    /// Trains over `orders` (one per epoch); calls `progress(step, steps)`
    /// after every step and `on_epoch` after every epoch.
    pub fn train(
        &self,
        train: &Quantized,
        test: &Quantized,
        mut weights: Vec<Tensor>,
        orders: &[Vec<usize>],
        progress: &mut dyn FnMut(usize, usize),
        on_epoch: &mut dyn FnMut(&EpochStats),
    ) -> Result<Trained, SimError> {
        let b = self.arch.batch;
        let n_layers = weights.len();
        let steps_total: usize = orders.iter().map(|o| o.len() / b).sum();
        let mut step = 0;
        let mut stats = Vec::new();
        // The ensemble so far: (epoch, weights after it, their exact test
        // logits), the oldest first; each member's logits are computed once.
        let mut members: VecDeque<(usize, Vec<Tensor>, Vec<i64>)> = VecDeque::new();
        for (e, order) in orders.iter().enumerate() {
            let start = Instant::now();
            let (mut loss, mut correct) = (0.0, 0usize);
            for idx in order.chunks(b) {
                // The step's index salts its dither, as in the encrypted run.
                let out = execute_at(self.graph, &self.inputs(train, idx, &weights, true), step as u64)?;
                let logits = &out["logits"];
                let classes = logits.shape[1];
                for (r, &i) in idx.iter().enumerate() {
                    let row: Vec<f64> = logits.data[r * classes..(r + 1) * classes]
                        .iter()
                        .map(|&v| v as f64 * self.quant.logit_scale)
                        .collect();
                    loss += cross_entropy(&row, train.labels[i]);
                    correct += usize::from(argmax(&row) == train.labels[i]);
                }
                weights = (0..n_layers).map(|l| out[&format!("w{}.next", l + 1)].clone()).collect();
                step += 1;
                progress(step, steps_total);
            }
            let seen = order.len().max(1) as f64;
            let (exact, rescaled) = self.logits(test, &weights)?;
            let (test_accuracy_last, test_accuracy_rescaled) = (hits(test, &exact), hits(test, &rescaled));
            members.push_back((e + 1, weights.clone(), exact));
            if members.len() > self.arch.ensemble.max(1) {
                members.pop_front();
            }
            let mut sum = members[0].2.clone();
            members.iter().skip(1).for_each(|m| add(&mut sum, &m.2));
            let test_accuracy = hits(test, &sum);
            let s = EpochStats {
                epoch: e + 1,
                loss: loss / seen,
                train_accuracy: correct as f64 / seen,
                test_accuracy,
                test_accuracy_last,
                test_accuracy_rescaled,
                seconds: start.elapsed().as_secs_f64(),
            };
            on_epoch(&s);
            stats.push(s);
        }
        members.pop_back();
        Ok(Trained { weights, earlier: members.into_iter().map(|m| (m.0, m.1)).collect(), stats })
    }
}
