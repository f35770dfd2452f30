//! The executor: one pass over the graph in id order.

use std::collections::HashMap;

use rayon::prelude::*;
use silc_ir::{semantics, Graph, Op};

use crate::tensor::Tensor;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("input `{0}` was not supplied")]
    MissingInput(String),
    #[error("input `{name}` has shape {got:?}, the circuit expects {want:?}")]
    InputShape { name: String, got: Vec<usize>, want: Vec<usize> },
    #[error("input `{name}` holds {value}, outside its declared range [{lo}, {hi}]")]
    InputRange { name: String, value: i64, lo: i64, hi: i64 },
}

/// Elementwise work above this size is split over threads.
const PAR_MIN: usize = 4096;

fn par_map(data: &[i64], f: impl Fn(i64) -> i64 + Sync + Send) -> Vec<i64> {
    if data.len() >= PAR_MIN {
        data.par_iter().map(|&x| f(x)).collect()
    } else {
        data.iter().map(|&x| f(x)).collect()
    }
}

fn zip(a: &Tensor, b: &Tensor, f: impl Fn(i64, i64) -> i64 + Sync + Send) -> Tensor {
    let data = if a.len() >= PAR_MIN {
        a.data.par_iter().zip(&b.data).map(|(&x, &y)| f(x, y)).collect()
    } else {
        a.data.iter().zip(&b.data).map(|(&x, &y)| f(x, y)).collect()
    };
    Tensor::new(a.shape.clone(), data)
}

fn matmul(a: &Tensor, b: &Tensor, f: impl Fn(i64) -> i64 + Sync + Send) -> Tensor {
    let (n, k, m) = (a.shape[0], a.shape[1], b.shape[1]);
    let rows: Vec<Vec<i64>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut row = vec![0i64; m];
            for l in 0..k {
                let x = a.data[i * k + l];
                if x == 0 {
                    continue;
                }
                let brow = &b.data[l * m..(l + 1) * m];
                for (r, &y) in row.iter_mut().zip(brow) {
                    *r += x * y;
                }
            }
            row.into_iter().map(&f).collect()
        })
        .collect();
    Tensor::new(vec![n, m], rows.concat())
}

fn transpose(a: &Tensor) -> Tensor {
    let (r, c) = (a.shape[0], a.shape[1]);
    let mut data = vec![0; a.len()];
    for i in 0..r {
        for j in 0..c {
            data[j * r + i] = a.data[i * c + j];
        }
    }
    Tensor::new(vec![c, r], data)
}

/// Splits a shape around `axis` into (outer, len, inner).
fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (shape[..axis].iter().product(), shape[axis], shape[axis + 1..].iter().product())
}

fn reduce_sum(a: &Tensor, axis: usize, chunk: usize) -> Tensor {
    let (outer, len, inner) = around(&a.shape, axis);
    let groups = len.div_ceil(chunk);
    let mut shape = a.shape.clone();
    shape[axis] = groups;
    let mut data = vec![0i64; outer * groups * inner];
    for o in 0..outer {
        for l in 0..len {
            let gidx = l / chunk;
            for i in 0..inner {
                data[(o * groups + gidx) * inner + i] += a.data[(o * len + l) * inner + i];
            }
        }
    }
    Tensor::new(shape, data)
}

fn expand(a: &Tensor, axis: usize, n: usize) -> Tensor {
    let outer: usize = a.shape[..axis].iter().product();
    let inner: usize = a.shape[axis..].iter().product();
    let mut data = Vec::with_capacity(a.len() * n);
    for o in 0..outer {
        let block = &a.data[o * inner..(o + 1) * inner];
        for _ in 0..n {
            data.extend_from_slice(block);
        }
    }
    let mut shape = a.shape.clone();
    shape.insert(axis, n);
    Tensor::new(shape, data)
}

fn slice(a: &Tensor, axis: usize, start: usize, len: usize) -> Tensor {
    let (outer, full, inner) = around(&a.shape, axis);
    let mut data = Vec::with_capacity(outer * len * inner);
    for o in 0..outer {
        data.extend_from_slice(&a.data[(o * full + start) * inner..(o * full + start + len) * inner]);
    }
    let mut shape = a.shape.clone();
    shape[axis] = len;
    Tensor::new(shape, data)
}

fn concat(parts: &[&Tensor], axis: usize) -> Tensor {
    let (outer, _, inner) = around(&parts[0].shape, axis);
    let total: usize = parts.iter().map(|p| p.shape[axis]).sum();
    let mut data = Vec::with_capacity(outer * total * inner);
    for o in 0..outer {
        for p in parts {
            let len = p.shape[axis];
            data.extend_from_slice(&p.data[o * len * inner..(o + 1) * len * inner]);
        }
    }
    let mut shape = parts[0].shape.clone();
    shape[axis] = total;
    Tensor::new(shape, data)
}

/// Runs `g` on logical input values; returns every output's logical value.
/// Runs `g` on `inputs` with the dither of salt 0 (`execute_at`).
pub fn execute(g: &Graph, inputs: &HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>, SimError> {
    execute_at(g, inputs, 0)
}

/// Runs `g` on `inputs`; `salt` selects the public dither of every
/// `add_dither` (`semantics::dither`): the training loop passes the step's
/// index.
pub fn execute_at(g: &Graph, inputs: &HashMap<String, Tensor>, salt: u64) -> Result<HashMap<String, Tensor>, SimError> {
    Ok(run(g, inputs, salt, None)?.0)
}

/// The stored value of every `form` of `g` (what the client encrypts for
/// the server, `passes::forms`), computed from the data inputs alone: only
/// the forms' cone runs, so the weights need not be given.
pub fn forms(g: &Graph, inputs: &HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>, SimError> {
    let mut needed = vec![false; g.len()];
    for id in g.ids().collect::<Vec<_>>().into_iter().rev() {
        let n = g.node(id);
        if matches!(n.op, Op::Form { .. }) || needed[id.index()] {
            needed[id.index()] = true;
            for a in &n.args {
                needed[a.index()] = true;
            }
        }
    }
    Ok(run(g, inputs, 0, Some(&needed))?.1)
}

/// Tensors by name.
type Named = HashMap<String, Tensor>;

/// Runs the nodes of `g` that `only` marks (all without it); returns the
/// outputs' logical values and the forms' stored ones.
fn run(
    g: &Graph,
    inputs: &HashMap<String, Tensor>,
    salt: u64,
    only: Option<&[bool]>,
) -> Result<(Named, Named), SimError> {
    let p = g.bits;
    // Free every value after its last use: lowered graphs hold large
    // broadcast intermediates that need not live together.
    let mut last_use = vec![0usize; g.len()];
    for id in g.ids() {
        for a in &g.node(id).args {
            last_use[a.index()] = id.index();
        }
    }
    let mut vals: Vec<Tensor> = Vec::with_capacity(g.len());
    let (mut outputs, mut forms) = (HashMap::new(), HashMap::new());
    for id in g.ids() {
        let n = g.node(id);
        if only.is_some_and(|o| !o[id.index()]) {
            vals.push(Tensor::zeros(vec![0]));
            continue;
        }
        let arg = |i: usize| &vals[n.args[i].index()];
        // Logical view of an operand: stored - offset.
        let logical = |i: usize| {
            let off = g.ty(n.args[i]).offset;
            arg(i).map(|x| x - off)
        };
        let out_off = n.ty.offset;
        // Residues held at a torus position wrap modulo their own `m`.
        let wrap = |x: i64| match n.ty.torus {
            Some(m) => x.rem_euclid(m),
            None => semantics::wrap(x, p),
        };
        let t = match &n.op {
            Op::Input { name, .. } => {
                let t = inputs.get(name).ok_or_else(|| SimError::MissingInput(name.clone()))?;
                if t.shape != n.ty.shape {
                    return Err(SimError::InputShape {
                        name: name.clone(),
                        got: t.shape.clone(),
                        want: n.ty.shape.clone(),
                    });
                }
                if let Some(&v) = t.data.iter().find(|&&v| v < n.ty.lo || v > n.ty.hi) {
                    return Err(SimError::InputRange { name: name.clone(), value: v, lo: n.ty.lo, hi: n.ty.hi });
                }
                t.map(|x| x + out_off)
            }
            Op::Output { name } => {
                let off = g.ty(n.args[0]).offset;
                outputs.insert(name.clone(), arg(0).map(|x| x - off));
                arg(0).clone()
            }
            Op::Form { name, .. } => {
                forms.insert(name.clone(), arg(0).clone());
                arg(0).clone()
            }
            Op::MatMul => matmul(&logical(0), &logical(1), |x| x + out_off),
            Op::Transpose => transpose(arg(0)),
            Op::Rescale { factors, bits, shifts, relu } => {
                let x = logical(0);
                let divisors = semantics::rescale_divisors(factors, shifts);
                let (ys, _) = semantics::block_rescale(&x.data, &divisors, semantics::rescale_bounds(*bits, *relu));
                Tensor::new(x.shape.clone(), ys.into_iter().map(|y| y + out_off).collect())
            }
            Op::Relu => logical(0).map(|x| semantics::relu(x) + out_off),
            Op::ReluBackward => {
                let top = g.ty(n.args[1]).hi;
                zip(&logical(0), &logical(1), |d, z| semantics::relu_backward(d, z, top) + out_off)
            }
            Op::SgdUpdate { num, shift, bound, lo_bits: 0 } => {
                let (lo, hi) = (g.ty(n.args[0]).lo, g.ty(n.args[0]).hi);
                zip(&logical(0), &logical(1), |w, gr| {
                    semantics::sgd_update(w, gr, *num, *shift, *bound, lo, hi) + out_off
                })
            }
            Op::SgdUpdate { num, shift, bound, lo_bits } => {
                let (hlo, hhi) = (g.ty(n.args[0]).lo, g.ty(n.args[0]).hi);
                let (w, gr) = (logical(0), logical(1));
                let len = gr.data.len();
                let mut data = vec![0; 2 * len];
                for e in 0..len {
                    let (h, l) = semantics::sgd_two_digits(
                        w.data[e],
                        w.data[len + e],
                        gr.data[e],
                        (*num, *shift, *bound),
                        *lo_bits,
                        hlo,
                        hhi,
                    );
                    (data[e], data[len + e]) = (h + out_off, l + out_off);
                }
                Tensor::new(w.shape.clone(), data)
            }
            Op::CeGrad { z_scale, grad_max, margin, .. } => {
                let (z, y) = (logical(0), logical(1));
                let classes = z.shape[1];
                let c = semantics::ce_consts(p, classes, *grad_max).expect("the lowering checked the softmax fits");
                let margin = (*margin, g.ty(n.args[0]).lo);
                let data: Vec<i64> = z
                    .data
                    .chunks(classes)
                    .zip(y.data.chunks(classes))
                    .flat_map(|(zr, yr)| semantics::ce_grad(zr, yr, *z_scale, &c, *grad_max, margin))
                    .map(|v| v + out_off)
                    .collect();
                Tensor::new(z.shape.clone(), data)
            }
            Op::LogisticGrad { z_scale, grad_max, margin } => {
                let (d, y) = (logical(0), logical(1));
                let data = d
                    .data
                    .iter()
                    .zip(&y.data)
                    .map(|(&dv, &yv)| semantics::logistic_grad(dv, yv, *z_scale, *grad_max, *margin) + out_off)
                    .collect();
                Tensor::new(d.shape.clone(), data)
            }
            // Operands may be residues or raw values with an offset: the
            // product of the logical values, reduced, is the same residue.
            Op::ModMatMul { modulus } => {
                let m = *modulus;
                matmul(&logical(0), &logical(1), |x| x.rem_euclid(m))
            }
            // The refreshed operand is the logical value at `1/m`; the sum
            // of its external products wraps modulo `m`.
            Op::ExtDot { m, transpose: t, table } => {
                let a = if *t { transpose(&logical(0)) } else { logical(0) };
                let b = match table {
                    Some(tab) => arg(1).map(|s| g.tables.get(*tab).entries[s as usize]),
                    None => logical(1),
                };
                matmul(&a, &b, |x| x.rem_euclid(*m))
            }
            Op::Coarsen { by } => {
                let m = g.ty(n.args[0]).torus.expect("verified: a torus residue");
                arg(0).map(|r| r.rem_euclid(m / by))
            }
            Op::FromResidues { moduli, n_div, c_lo, c_hi, bits, shifts, relu, low, chunks } => {
                let len = arg(0).len();
                let ranges = if chunks.is_empty() {
                    vec![(*c_lo, *c_hi)]
                } else {
                    semantics::chunk_ranges(*c_lo, *c_hi, chunks).expect("verified: chunk ranges")
                };
                let exact: Vec<i64> = (0..len)
                    .map(|e| {
                        let r: Vec<i64> = n.args.iter().map(|a| vals[a.index()].data[e]).collect();
                        semantics::crt_chunks(&r, moduli, &ranges)
                    })
                    .collect();
                let divisors = semantics::rescale_divisors(&semantics::radices(p, moduli, *low)[..*n_div], shifts);
                let (ys, _) = semantics::block_rescale(&exact, &divisors, semantics::rescale_bounds(*bits, *relu));
                Tensor::new(arg(0).shape.clone(), ys.into_iter().map(|y| y + out_off).collect())
            }
            Op::Add | Op::AddExclusive { .. } => zip(arg(0), arg(1), |a, b| wrap(a + b)),
            Op::Sub => zip(arg(0), arg(1), |a, b| wrap(a - b)),
            Op::AddClear { c } => arg(0).map(|x| wrap(x + c)),
            Op::AddDither { stream, lo, hi, modulus } => {
                let x = logical(0);
                let v = |e: usize| semantics::dither(salt, *stream, e, *lo, *hi);
                // A residue or a torus value wraps; a plain sum does not.
                let data = x.data.iter().enumerate().map(|(e, &x)| match modulus.or(n.ty.torus) {
                    Some(m) => (x + v(e)).rem_euclid(m),
                    None => x + v(e) + out_off,
                });
                Tensor::new(x.shape.clone(), data.collect())
            }
            Op::MulClear { c } => arg(0).map(|x| wrap(x * c)),
            Op::Pack { scale } => zip(arg(0), arg(1), |a, b| wrap(a * scale + b)),
            Op::ReduceSum { axis, chunk } => reduce_sum(arg(0), *axis, *chunk).map(wrap),
            Op::Lut { table } => {
                let entries = &g.tables.get(*table).entries;
                Tensor::new(arg(0).shape.clone(), par_map(&arg(0).data, |x| semantics::lut(entries, x, p)))
            }
            Op::Fold => Tensor::new(arg(0).shape.clone(), par_map(&arg(0).data, |x| semantics::fold(x, p))),
            Op::LutTorus { table, m } => {
                let entries = &g.tables.get(*table).entries;
                Tensor::new(arg(0).shape.clone(), par_map(&arg(0).data, |x| semantics::lut_torus(entries, x, *m, p)))
            }
            Op::TorusSign => {
                let m = g.ty(n.args[0]).torus.expect("verified: a torus residue");
                Tensor::new(arg(0).shape.clone(), par_map(&arg(0).data, |r| semantics::torus_sign(r, m, p)))
            }
            // The sign operand only places the residue; the answer is the
            // table's at the residue.
            Op::TorusRead { table, .. } => {
                let m = g.ty(n.args[0]).torus.expect("verified: a torus residue");
                let entries = &g.tables.get(*table).entries;
                Tensor::new(arg(0).shape.clone(), par_map(&arg(0).data, |r| entries[r.rem_euclid(m) as usize]))
            }
            Op::OnGrid { d, .. } => arg(0).map(|v| semantics::on_grid(v, *d, p)),
            Op::LutMany { tables } => {
                let parts: Vec<Tensor> = tables
                    .iter()
                    .map(|t| {
                        let entries = &g.tables.get(*t).entries;
                        Tensor::new(arg(0).shape.clone(), par_map(&arg(0).data, |x| semantics::lut(entries, x, p)))
                    })
                    .collect();
                let mut shape = vec![tables.len()];
                shape.extend(&arg(0).shape);
                Tensor::new(shape, parts.into_iter().flat_map(|t| t.data).collect())
            }
            Op::Reshape { shape } => Tensor::new(shape.clone(), arg(0).data.clone()),
            Op::Expand { axis, n: count } => expand(arg(0), *axis, *count),
            Op::Slice { axis, start, len } => slice(arg(0), *axis, *start, *len),
            Op::Concat { axis } => {
                let parts: Vec<&Tensor> = n.args.iter().map(|a| &vals[a.index()]).collect();
                concat(&parts, *axis)
            }
        };
        vals.push(t);
        for a in &n.args {
            if last_use[a.index()] == id.index() {
                vals[a.index()] = Tensor::zeros(vec![0]);
            }
        }
    }
    Ok((outputs, forms))
}
