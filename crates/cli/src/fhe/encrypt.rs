//! `silc encrypt`: the client quantizes and encrypts a training set and the
//! initial weights into a job file for the server. Samples stream into the
//! file a chunk at a time as seeded ciphertexts; the standardization stays
//! beside the secret key.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use silc_sim::data::Standardizer;
use silc_sim::train::{epoch_orders, initial_weights};

use super::cts::{encode_cts, stream_cts, stream_forms, stream_ggsws};
use super::{client_key, load_model, read_key};
use crate::container::Writer;
use crate::data::{self, LabelColumn};

#[derive(clap::Args)]
pub struct EncryptArgs {
    /// The compiled model.
    pub model: PathBuf,
    /// The client key from `silc keygen` (`server.key` is read beside it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Training data (CSV or MNIST IDX, as for `simulate`).
    #[arg(long, value_name = "DATA")]
    pub train: PathBuf,
    /// The CSV label column, by name or 0-based index (default: the last).
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<LabelColumn>,
    /// The job file for the server.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn encrypt(args: &EncryptArgs) -> Result<(), String> {
    let m = load_model(&args.model)?;
    let ck = read_key(&args.key, b"SILCCKEY", &m)?;
    let client = client_key(&args.key.display().to_string(), &ck.key, m.graph.bits)?;
    let dir = args.key.parent().unwrap_or(Path::new("."));
    let server_path = dir.join("server.key");
    let server = read_key(&server_path, b"SILCSKEY", &m)?;
    let held = super::key_id(&server.key, server.precise.as_deref());
    if server.key_id() != ck.key_id() || held != ck.key_id() {
        return Err(format!(
            "error: {} and {} are not one key pair (key ids {held} and {}); use the two files one `silc keygen` wrote",
            server_path.display(),
            args.key.display(),
            ck.key_id()
        ));
    }
    let data = data::load(&args.train, &args.label.clone().unwrap_or_default())?;
    let (spec, q, g) = (&m.spec, &m.quant, &m.graph);
    crate::simulate::check_shape(&args.train.display().to_string(), &data, spec.input, spec.classes())?;
    let start = Instant::now();
    let stats = Standardizer::fit_for(&data, q.input_quantile.then_some((q.input_bits, q.input_scale)));
    let x_off = g.ty(g.find("x").ok_or("error: the circuit has no input `x`")?).offset;
    let classes = spec.classes();
    let arch = arch_of(spec, q);
    let orders = epoch_orders(data.len(), spec.batch, spec.epochs, spec.seed);
    let mut weights = Vec::new();
    for (l, w) in initial_weights(&arch, q, spec.seed).iter().enumerate() {
        let name = format!("w{}", l + 1);
        let off = g.ty(g.find(&name).ok_or("error: the circuit lacks a weight input")?).offset;
        weights.push((name, encode_cts(&client.encrypt_compressed(&w.map(|v| v + off)))));
    }
    // The forms of the samples alone (`silc_sim::forms`): the client
    // computes them from its data, `batch` samples at a time, as the
    // circuit does, and the server never bootstraps them.
    let forms = silc_sim::forms::layout(g);
    let tori: Vec<i64> =
        forms.iter().filter(|f| !f.ggsw).flat_map(|f| std::iter::repeat_n(f.torus, f.per_sample())).collect();
    // The first operands of the external products, as GGSW ciphertexts of
    // their logical values.
    let ggsw_width: usize = forms.iter().filter(|f| f.ggsw).map(|f| f.per_sample()).sum();
    let header = json!({
        "kind": "job", "model": spec.name, "precision": g.bits, "circuit": m.hash,
        "parameter_set": server.header["parameter_set"], "key_id": ck.key_id(), "samples": data.len(),
        "features": spec.input, "classes": classes, "batch": spec.batch, "epochs": spec.epochs,
        "layers": spec.layers.len(), "ensemble": spec.ensemble(), "forms_per_sample": tori.len(),
        "ggsw_per_sample": ggsw_width,
    });
    let x_row = |i: usize| -> Vec<i64> {
        stats.quantize(data.row(i), q.input_scale, q.input_bits).into_iter().map(|v| v + x_off).collect()
    };
    let y_row =
        |i: usize| -> Vec<i64> { (0..classes).map(|c| if c == data.labels[i] { q.label_value } else { 0 }).collect() };
    let batch_inputs = |first: usize| {
        let rows: Vec<usize> = (first..first + spec.batch).map(|i| if i < data.len() { i } else { first }).collect();
        let x = rows.iter().flat_map(|&i| stats.quantize(data.row(i), q.input_scale, q.input_bits)).collect();
        let y = rows.iter().flat_map(|&i| y_row(i)).collect();
        std::collections::HashMap::from([
            ("x".to_string(), silc_sim::Tensor::new(vec![spec.batch, spec.input], x)),
            ("y".to_string(), silc_sim::Tensor::new(vec![spec.batch, classes], y)),
        ])
    };
    // Each sample's values of the forms of one kind (LWE or GGSW), in the
    // circuit's order; GGSW forms hold logical values.
    let of_kind = |range: std::ops::Range<usize>, ggsw: bool| -> Result<Vec<i64>, String> {
        let all = silc_sim::forms::of_samples(g, range, spec.batch, &batch_inputs)
            .map_err(|e| format!("error: computing the samples' forms: {e}"))?;
        let mut out = Vec::with_capacity(all.len());
        let mut rest = all.as_slice();
        while !rest.is_empty() {
            for f in &forms {
                let (mine, next) = rest.split_at(f.per_sample().min(rest.len()));
                if f.ggsw == ggsw {
                    out.extend(mine.iter().map(|v| if ggsw { v - f.offset } else { *v }));
                }
                rest = next;
            }
        }
        Ok(out)
    };
    let form_chunk = |range| of_kind(range, false);
    let ggsw_chunk = |range| of_kind(range, true);
    let passes = 2 + u64::from(!tori.is_empty()) + u64::from(ggsw_width > 0);
    let bar = crate::progress(passes * data.len() as u64, "encrypting", "samples");
    let precise = match (ggsw_width > 0, &server.precise) {
        (true, Some(p)) => Some(p),
        (true, None) => {
            return Err(format!("error: {}: no precise key for the external products", server_path.display()))
        }
        (false, _) => None,
    };
    crate::io::write_atomic_with(&args.output, |f| {
        let io = |e: std::io::Error| format!("error: cannot write {}: {e}", args.output.display());
        let mut w = Writer::new(f, b"SILCJOB1", &header).map_err(io)?;
        w.section("circuit", silc_ir::text::print(g).as_bytes()).map_err(io)?;
        w.section("server-key", &server.key).map_err(io)?;
        if let Some(p) = precise {
            w.section("precise-key", p).map_err(io)?;
        }
        w.section("orders", &serde_json::to_vec(&orders).expect("serializable")).map_err(io)?;
        w.section_streamed("x", |o| stream_cts(o, &client, data.len(), spec.input, &x_row, &bar))?;
        w.section_streamed("y", |o| stream_cts(o, &client, data.len(), classes, &y_row, &bar))?;
        if !tori.is_empty() {
            w.section_streamed("forms", |o| stream_forms(o, &client, data.len(), &tori, &form_chunk, &bar))?;
        }
        if ggsw_width > 0 {
            w.section_streamed("ggsw", |o| stream_ggsws(o, &client, data.len(), ggsw_width, &ggsw_chunk, &bar))?;
        }
        for (tag, body) in &weights {
            w.section(tag, body).map_err(io)?;
        }
        w.finish().map_err(io)?;
        Ok(())
    })?;
    bar.finish_and_clear();
    // The standardization is the client's: it stays beside the secret key.
    let mut stats_json = serde_json::to_value(&stats).expect("json");
    stats_json["circuit"] = json!(m.hash);
    stats_json["key_id"] = json!(ck.key_id());
    stats_json["classes"] = json!(data.classes);
    crate::io::write_atomic(
        &dir.join("data.stats.json"),
        serde_json::to_string_pretty(&stats_json).expect("json").as_bytes(),
    )?;
    let size = std::fs::metadata(&args.output).map(|m| m.len()).unwrap_or(0);
    let ggsw_note = match ggsw_width {
        0 => String::new(),
        w => format!(" and {} GGSW ciphertexts for the external products", data.len() * w),
    };
    crate::emit(&format!(
        "encrypted {} samples ({} ciphertexts, {} of them the samples' forms{ggsw_note}, seeded, streamed) and the initial weights in {:.1} s\nwrote {} ({:.1} MiB)\n",
        data.len(),
        data.len() * (spec.input + classes + tori.len()),
        data.len() * tori.len(),
        start.elapsed().as_secs_f64(),
        args.output.display(),
        size as f64 / (1 << 20) as f64
    ));
    Ok(())
}

fn arch_of(spec: &silc_frontend::ModelSpec, q: &silc_ir::Quant) -> silc_sim::train::Arch {
    silc_sim::train::Arch {
        widths: spec.widths_chain(),
        relu: spec.layers.iter().map(|l| l.relu).collect(),
        bias: q.biases.clone(),
        batch: spec.batch,
        lr: spec.lr,
        ensemble: spec.ensemble(),
    }
}
