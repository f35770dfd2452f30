//! `cost`: what one training step and one whole run cost, in the units of the
//! DESIGN.md parameter table — bootstraps per step, per epoch and in total,
//! estimated seconds on this 2-core machine, ciphertext sizes, and the total
//! failure probability of a run (the sum of p-fail over every bootstrap).
//!
//! An `ext_dot` counts in the time of the set's own bootstraps: each refresh
//! with the precise key as 2.01 of them and each external product as 1/623
//! (measured, `params::external`), rounded up per op; its p-fail counts
//! each refresh once, as a bootstrap.

use std::collections::BTreeMap;

use serde::Serialize;
use silc_ir::{Graph, Loc, Op, Role};

use crate::params::{external, ParamSet};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostReport {
    pub precision: u32,
    pub parameter_set: String,
    pub noise_bound: f64,
    pub pbs_per_step: u64,
    /// Naive encrypted scalar products of one step: Σ n·k·m over the step's
    /// matrix products (forward, back-propagated deltas, weight gradients).
    pub products_per_step: u64,
    /// `pbs_per_step / products_per_step`: everything in the step counts
    /// (conversions, softmax, ReLU, SGD update), not only the products.
    pub pbs_per_product: f64,
    /// Bootstraps by what their table computes.
    pub pbs_by_kind: BTreeMap<String, u64>,
    /// Bootstraps and naive products by the `.mlp` statement they descend
    /// from (a layer, the loss, the optimizer), in source order.
    pub by_statement: Vec<StatementCost>,
    /// Bootstraps the server still computes that depend on the training
    /// data alone (sums across the batch's samples, which change with the
    /// data order).
    pub cacheable_pbs_per_step: u64,
    /// Bootstraps of the samples alone that the client computes once, at
    /// encryption, instead of the server at every step (`forms`): left out
    /// of `pbs_per_step`.
    pub client_pbs_per_step: u64,
    pub steps_per_epoch: u64,
    pub pbs_per_epoch: u64,
    pub pbs_total: u64,
    pub estimated_seconds_per_step: f64,
    pub estimated_seconds_per_epoch: f64,
    pub estimated_seconds_total: f64,
    pub ciphertext_kib: u32,
    /// Ciphertexts the client uploads per training sample (features, labels
    /// and the sample's forms).
    pub ciphertexts_per_sample: u64,
    /// Of which the forms (`forms`).
    pub form_ciphertexts_per_sample: u64,
    /// Of the forms, the GGSW ciphertexts of the external products
    /// (`form {ggsw}`), each [`external::GGSW_KIB`] seeded.
    pub ggsw_per_sample: u64,
    /// What the client uploads per training sample, in KiB: the LWE
    /// ciphertexts at `ciphertext_kib` each and the GGSW ones.
    pub upload_kib_per_sample: u64,
    /// Ciphertexts of the weights (uploaded once, returned trained).
    pub weight_ciphertexts: u64,
    pub pfail_log2: u32,
    /// Σ p-fail over every bootstrap of the run (an upper bound on the chance
    /// that any bootstrap fails).
    pub total_failure_probability: f64,
}

/// What one `.mlp` statement costs per step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatementCost {
    /// Where the statement starts in the `.mlp` file.
    pub at: Loc,
    pub pbs: u64,
    /// Naive scalar products of the matrix products it gave rise to (its
    /// forward product, its weight gradient and the deltas it sends back).
    pub products: u64,
}

/// `mod31∘qsq+31` → `mod`: the kind of a table from its name.
fn kind(name: &str) -> String {
    let outer = name.split('∘').next().unwrap_or(name);
    outer
        .trim_end_matches(|c: char| c.is_ascii_digit() || c == '/')
        .split('/')
        .next()
        .unwrap_or(outer)
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_string()
}

/// Naive scalar products of a graph's matrix products, `n·k·m` per
/// `matmul`, summed by the statement each descends from (call it on the
/// high-level graph, where each product is one op).
pub fn products_by_statement(high: &Graph) -> BTreeMap<Loc, u64> {
    let mut out = BTreeMap::new();
    for id in high.ids().filter(|&id| matches!(high.node(id).op, Op::MatMul)) {
        let a = high.ty(high.node(id).args[0]);
        let m = high.ty(id).shape[1];
        *out.entry(high.node(id).loc).or_default() += (a.shape[0] * a.shape[1] * m) as u64;
    }
    out
}

/// Naive scalar products of one step of the model as declared, by
/// statement: per layer of `r` weight rows (inputs and bias) and `c`
/// outputs, `batch·r·c` for the forward product and as many for the weight
/// gradient, and `batch·c·n_in` for the deltas it sends back (all but the
/// first layer). What `pbs_per_product` divides by. It is the count of the
/// high-level graph's products ([`products_by_statement`]) except where
/// the lowering multiplies less than the model says: two classes train
/// their logit difference, one column, and the model's second column is
/// still counted (as Winograd's identity would halve the products and
/// not the count).
pub fn declared_products(spec: &silc_frontend::ModelSpec) -> BTreeMap<Loc, u64> {
    let widths = spec.widths_chain();
    let batch = spec.batch as u64;
    let mut out = BTreeMap::new();
    for (l, layer) in spec.layers.iter().enumerate() {
        let (n_in, c) = (widths[l] as u64, layer.width as u64);
        let rows = n_in + u64::from(layer.bias);
        let deltas = if l > 0 { batch * c * n_in } else { 0 };
        let at = Loc { line: layer.loc.line, col: layer.loc.col };
        *out.entry(at).or_default() += 2 * batch * rows * c + deltas;
    }
    out
}

/// What node `id` costs in the set's bootstraps, and the kind of work it
/// counts under; `None` for a leveled or layout op.
fn price(g: &Graph, id: silc_ir::ValueId) -> Option<(u64, String)> {
    let n = g.node(id);
    Some(match &n.op {
        Op::Lut { table } => (n.ty.len() as u64, kind(&g.tables.get(*table).name)),
        Op::LutMany { tables } => (
            (n.ty.len() / tables.len()) as u64,
            tables.iter().map(|t| kind(&g.tables.get(*t).name)).collect::<Vec<_>>().join("+"),
        ),
        Op::Fold => (n.ty.len() as u64, "fold".to_string()),
        Op::LutTorus { table, .. } | Op::TorusRead { table, .. } => {
            (n.ty.len() as u64, kind(&g.tables.get(*table).name))
        }
        Op::TorusSign => (n.ty.len() as u64, "torus_sign".to_string()),
        Op::ExtDot { transpose, .. } => {
            let k = g.ty(n.args[0]).shape[usize::from(!*transpose)];
            let refreshes = g.ty(n.args[1]).len() as f64;
            let products = (n.ty.len() * k) as f64;
            let priced = refreshes * external::REFRESH_PBS + products * external::PRODUCT_PBS;
            (priced.ceil() as u64, "ext_dot".to_string())
        }
        _ => return None,
    })
}

/// One server execution of `g` in the set's bootstraps: [`Graph::pbs_count`]
/// with each `ext_dot` at its measured price (what `pbs_per_step` reports).
pub fn priced_pbs(g: &Graph) -> u64 {
    let client = g.client_only();
    g.ids().filter(|i| !client[i.index()]).filter_map(|i| price(g, i)).map(|(count, _)| count).sum()
}

/// The report of the executable graph `g`; `products` is the step's naive
/// scalar products by statement ([`products_by_statement`] of the
/// high-level graph).
pub fn run(
    g: &Graph,
    products: &BTreeMap<Loc, u64>,
    params: &ParamSet,
    batch: usize,
    samples: usize,
    epochs: usize,
    pfail_log2: u32,
) -> CostReport {
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    // Per statement: (bootstraps, naive products).
    let mut by_loc: BTreeMap<Loc, (u64, u64)> = products.iter().map(|(&at, &n)| (at, (0, n))).collect();
    // Which values depend only on the data inputs.
    let mut data_only = vec![false; g.len()];
    let client = g.client_only();
    let (mut cacheable, mut moved, mut pbs) = (0, 0, 0);
    let (mut per_sample, mut weights, mut forms, mut ggsw_forms) = (0u64, 0u64, 0u64, 0u64);
    for id in g.ids() {
        let n = g.node(id);
        if let Op::Form { ggsw, .. } = n.op {
            let each = (n.ty.len() / batch.max(1)) as u64;
            forms += each;
            if ggsw {
                ggsw_forms += each;
            }
        }
        data_only[id.index()] = match &n.op {
            Op::Input { role, .. } => {
                match role {
                    Role::Weight => weights += n.ty.len() as u64,
                    _ => per_sample += (n.ty.len() / batch.max(1)) as u64,
                }
                *role != Role::Weight
            }
            _ => n.args.iter().all(|a| data_only[a.index()]),
        };
        let Some((count, k)) = price(g, id) else { continue };
        if client[id.index()] {
            moved += count;
            continue;
        }
        pbs += count;
        *by_kind.entry(k).or_default() += count;
        by_loc.entry(n.loc).or_default().0 += count;
        if data_only[id.index()] {
            cacheable += count;
        }
    }
    let steps = samples.div_ceil(batch.max(1)) as u64;
    // Failures: every bootstrap once, a refresh as any other.
    let rotations = g.pbs_count() * steps * epochs as u64;
    let by_statement = by_loc.into_iter().map(|(at, (pbs, products))| StatementCost { at, pbs, products }).collect();
    let products: u64 = products.values().sum();
    let per_epoch = pbs * steps;
    let total = per_epoch * epochs as u64;
    let secs = pbs as f64 / params.pbs_per_s_2_cores;
    CostReport {
        precision: g.bits,
        parameter_set: params.name.to_string(),
        noise_bound: params.nu(),
        pbs_per_step: pbs,
        products_per_step: products,
        pbs_per_product: if products == 0 { 0.0 } else { pbs as f64 / products as f64 },
        pbs_by_kind: by_kind,
        by_statement,
        cacheable_pbs_per_step: cacheable,
        client_pbs_per_step: moved,
        steps_per_epoch: steps,
        pbs_per_epoch: per_epoch,
        pbs_total: total,
        estimated_seconds_per_step: secs,
        estimated_seconds_per_epoch: secs * steps as f64,
        estimated_seconds_total: secs * (steps * epochs as u64) as f64,
        ciphertext_kib: params.ciphertext_kib,
        ciphertexts_per_sample: per_sample + forms,
        form_ciphertexts_per_sample: forms,
        ggsw_per_sample: ggsw_forms,
        upload_kib_per_sample: (per_sample + forms - ggsw_forms) * params.ciphertext_kib as u64
            + ggsw_forms * external::GGSW_KIB,
        weight_ciphertexts: weights,
        pfail_log2,
        total_failure_probability: rotations as f64 * 2f64.powi(-(pfail_log2 as i32)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_kinds() {
        assert_eq!(super::kind("mod31∘qsq+31"), "mod");
        assert_eq!(super::kind("mrc31/29"), "mrc");
        assert_eq!(super::kind("relu"), "relu");
        assert_eq!(super::kind("sat_top"), "sat_top");
    }
}
