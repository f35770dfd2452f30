//! The client/server commands: `keygen`, `encrypt`, `run`, `decrypt`, `eval`.
//!
//! Every file is a [`crate::container`] whose header names the model, the
//! precision, the tfhe-rs parameter set and a hash of the circuit, so that a
//! key, a job and trained weights made for different models or keys are told
//! apart with a clear error. Secret material (the client key and the
//! training set's standardization) stays in the keys folder; the job file
//! holds only the circuit, the server key and ciphertexts, and `run` refuses
//! anything else.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bincode::Options;
use serde_json::json;
use silc_ir::{Graph, Quant};
use silc_sim::data::Standardizer;
use silc_sim::train::{epoch_orders, initial_weights, Arch};
use silc_sim::Tensor;
use silc_tfhe::exec::CtTensor;
use silc_tfhe::train::EncryptedData;
use silc_tfhe::{params, ClientKeys, Engine, ServerKeys};
use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
use tfhe::shortint::{Ciphertext, ClientKey, CompressedCiphertext, ServerKey};
use tfhe::{Unversionize, Versionize};

use crate::container::{self, Writer};
use crate::data::{self, LabelColumn};

/// Objects larger than this are refused on load (a corrupted length must not
/// make us allocate the machine's memory).
const KEY_LIMIT: u64 = 4 << 30;
const CT_LIMIT: u64 = 1 << 24;

/// FNV-1a of the circuit text: ties keys, jobs and results to one circuit.
fn circuit_hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A compiled model read back from its artifact.
pub struct Model {
    pub spec: silc_frontend::ModelSpec,
    pub quant: Quant,
    pub graph: Graph,
    pub hash: String,
}

pub fn load_model(path: &Path) -> Result<Model, String> {
    let name = path.display().to_string();
    let bytes = container::read_all(path)?;
    let c = container::parse(&name, &bytes, crate::artifact::MAGIC)?;
    let spec = serde_json::from_value(c.header["model"].clone())
        .map_err(|e| format!("error: {name}: corrupted model header: {e}"))?;
    let quant = serde_json::from_value(c.header["quant"].clone())
        .map_err(|e| format!("error: {name}: corrupted header: {e}"))?;
    let text =
        std::str::from_utf8(c.section(&name, "circuit")?).map_err(|_| format!("error: {name}: corrupted circuit"))?;
    let graph = silc_ir::read::read(text).map_err(|e| format!("error: {name}: corrupted circuit: {e}"))?;
    Ok(Model { spec, quant, graph, hash: circuit_hash(text) })
}

/// tfhe-rs 1.8's shortint keys and seeded ciphertexts are versioned but not
/// `Named`, which its `safe_serialize` requires; they are stored as their
/// versioned form with bincode, and read back under a size limit. (The
/// container around them plays the part of safe serialization's header.)
fn ser<T: Versionize>(x: &T) -> Vec<u8> {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .serialize(&x.versionize())
        .expect("serialization to memory cannot fail")
}

fn de<T: Unversionize>(bytes: &[u8], limit: u64) -> Result<T, String> {
    let opts = bincode::DefaultOptions::new().with_fixint_encoding().with_limit(limit);
    let v: T::VersionedOwned = opts.deserialize(bytes).map_err(|e| e.to_string())?;
    T::unversionize(v).map_err(|e| e.to_string())
}

fn write_file<S: AsRef<str>>(
    path: &Path,
    magic: &[u8; 8],
    header: serde_json::Value,
    sections: &[(S, Vec<u8>)],
) -> Result<(), String> {
    let mut w = Writer::new(Vec::new(), magic, &header).expect("in memory");
    for (tag, body) in sections {
        w.section(tag.as_ref(), body).expect("in memory");
    }
    crate::io::write_atomic(path, &w.finish().expect("in memory"))
}

// ---- keygen ---------------------------------------------------------------

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// The compiled model (`silc compile ... -o model.silc`).
    pub model: PathBuf,
    /// Folder for `client.key` (secret) and `server.key` (evaluation keys).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
}

pub fn keygen(args: &KeygenArgs) -> Result<(), String> {
    let m = load_model(&args.model)?;
    let p = m.graph.bits;
    let norm = silc_passes::check::max_bootstrap_norm(&m.graph);
    let cand = params::choose(p, m.spec.pfail_log2, norm).ok_or_else(|| {
        format!(
            "error: no tfhe-rs parameter set at {p} bits has a noise bound of {norm:.2}; recompile with `--check deny`"
        )
    })?;
    std::fs::create_dir_all(&args.output)
        .map_err(|e| format!("error: cannot create {}: {e}", args.output.display()))?;
    let start = Instant::now();
    let client = ClientKeys::new(&cand, p);
    // The server key travels seeded (compressed); `run` expands it once.
    let server = tfhe::shortint::CompressedServerKey::new(&client.key);
    let header = |kind: &str| {
        json!({
            "kind": kind, "model": m.spec.name, "precision": p, "parameter_set": cand.name,
            "pfail_log2": cand.pfail_log2, "circuit": m.hash,
            "model_info": crate::weights::ModelInfo::new(&m.spec, &m.quant, &m.graph),
        })
    };
    let ck = ser(&client.key);
    let sk = ser(&server);
    write_file(&args.output.join("client.key"), b"SILCCKEY", header("client-key"), &[("key", ck.clone())])?;
    write_file(&args.output.join("server.key"), b"SILCSKEY", header("server-key"), &[("key", sk.clone())])?;
    crate::emit(&format!(
        "parameters {} (ν = {}, circuit needs {:.2}; p-fail 2^-{}); keys in {:.1} s\nwrote {} ({} KiB, secret) and {} ({} KiB)\n",
        cand.name,
        cand.nu,
        norm,
        cand.pfail_log2,
        start.elapsed().as_secs_f64(),
        args.output.join("client.key").display(),
        ck.len() / 1024,
        args.output.join("server.key").display(),
        sk.len() / 1024
    ));
    Ok(())
}

struct KeyFile {
    header: serde_json::Value,
    key: Vec<u8>,
}

fn read_key(path: &Path, magic: &[u8; 8], m: &Model) -> Result<KeyFile, String> {
    let name = path.display().to_string();
    let bytes = container::read_all(path)?;
    let c = container::parse(&name, &bytes, magic)?;
    if c.str("circuit") != m.hash {
        return Err(format!(
            "error: {name} was made for another circuit (model `{}`); run `silc keygen` on this model",
            c.str("model")
        ));
    }
    Ok(KeyFile { header: c.header.clone(), key: c.section(&name, "key")?.to_vec() })
}

fn client_keys(path: &Path, m: &Model) -> Result<ClientKeys, String> {
    let f = read_key(path, b"SILCCKEY", m)?;
    let key: ClientKey =
        de(&f.key, KEY_LIMIT).map_err(|e| format!("error: {}: corrupted client key: {e}", path.display()))?;
    let _ = f.header;
    Ok(ClientKeys { key, precision: m.graph.bits })
}

// ---- encrypt --------------------------------------------------------------

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

/// Seeded ciphertexts: a count, then per ciphertext a length and its bytes.
fn encode_cts(cts: &[CompressedCiphertext]) -> Vec<u8> {
    let mut v = (cts.len() as u64).to_le_bytes().to_vec();
    write_seeded(&mut v, cts).expect("writing to memory cannot fail");
    v
}

/// Each ciphertext's length and bytes, after the count [`encode_cts`] and
/// [`stream_cts`] write (serialized in parallel).
fn write_seeded<O: std::io::Write>(out: &mut O, cts: &[CompressedCiphertext]) -> std::io::Result<()> {
    use rayon::prelude::*;
    let bytes: Vec<Vec<u8>> = cts.par_iter().map(ser).collect();
    for b in bytes {
        out.write_all(&(b.len() as u64).to_le_bytes())?;
        out.write_all(&b)?;
    }
    Ok(())
}

fn decode_compressed(name: &str, what: &str, bytes: &[u8]) -> Result<Vec<CompressedCiphertext>, String> {
    let bad = |i: usize| format!("error: {name}: ciphertext {i} of `{what}` is truncated or corrupted");
    let take = |at: usize| bytes.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let n = take(0).ok_or_else(|| bad(0))? as usize;
    let mut at = 8;
    let mut out = Vec::with_capacity(n.min(1 << 20));
    for i in 0..n {
        let len = take(at).ok_or_else(|| bad(i))? as usize;
        let body = bytes.get(at + 8..at + 8 + len).ok_or_else(|| bad(i))?;
        out.push(de(body, CT_LIMIT).map_err(|e| format!("{}: {e}", bad(i)))?);
        at += 8 + len;
    }
    Ok(out)
}

fn decode_cts<T: serde::de::DeserializeOwned + tfhe::Unversionize + tfhe::named::Named>(
    name: &str,
    what: &str,
    bytes: &[u8],
) -> Result<Vec<T>, String> {
    if bytes.len() < 8 {
        return Err(format!("error: {name}: section `{what}` is truncated"));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut cur = Cursor::new(&bytes[8..]);
    (0..n)
        .map(|i| {
            safe_deserialize(&mut cur, CT_LIMIT)
                .map_err(|e| format!("error: {name}: ciphertext {i} of `{what}` is corrupted: {e}"))
        })
        .collect()
}

/// Samples encrypted (and written) per chunk: bounds `encrypt`'s memory.
const ENCRYPT_CHUNK: usize = 1024;

/// Streams seeded encryptions of `rows` rows of `width` stored values each
/// (row `i` from `row(i)`) in the layout [`decode_compressed`] reads: the
/// count, then each ciphertext's length and bytes. Only one chunk of rows is
/// in memory at a time.
fn stream_cts<O: std::io::Write>(
    out: &mut O,
    client: &ClientKeys,
    rows: usize,
    width: usize,
    row: &(dyn Fn(usize) -> Vec<i64> + Sync),
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    use rayon::prelude::*;
    let io = |e: std::io::Error| format!("error: writing ciphertexts: {e}");
    out.write_all(&((rows * width) as u64).to_le_bytes()).map_err(io)?;
    for first in (0..rows).step_by(ENCRYPT_CHUNK) {
        let last = (first + ENCRYPT_CHUNK).min(rows);
        let flat: Vec<i64> = (first..last).into_par_iter().flat_map_iter(row).collect();
        write_seeded(out, &client.encrypt_compressed(&Tensor::new(vec![flat.len()], flat))).map_err(io)?;
        bar.inc((last - first) as u64);
    }
    Ok(())
}

pub fn encrypt(args: &EncryptArgs) -> Result<(), String> {
    let m = load_model(&args.model)?;
    let client = client_keys(&args.key, &m)?;
    let dir = args.key.parent().unwrap_or(Path::new("."));
    let server = read_key(&dir.join("server.key"), b"SILCSKEY", &m)?;
    let data = data::load(&args.train, &args.label.clone().unwrap_or_default())?;
    let (spec, q, g) = (&m.spec, &m.quant, &m.graph);
    crate::simulate::check_shape(&args.train.display().to_string(), &data, spec.input, spec.classes())?;
    let start = Instant::now();
    let stats = Standardizer::fit(&data);
    let x_off = g.ty(g.find("x").ok_or("error: the circuit has no input `x`")?).offset;
    let classes = spec.classes();
    let arch = arch_of(spec);
    let orders = epoch_orders(data.len(), spec.batch, spec.epochs, spec.seed);
    let mut weights = Vec::new();
    for (l, w) in initial_weights(&arch, q, spec.seed).iter().enumerate() {
        let name = format!("w{}", l + 1);
        let off = g.ty(g.find(&name).ok_or("error: the circuit lacks a weight input")?).offset;
        weights.push((name, encode_cts(&client.encrypt_compressed(&w.map(|v| v + off)))));
    }
    let header = json!({
        "kind": "job", "model": spec.name, "precision": g.bits, "circuit": m.hash,
        "parameter_set": server.header["parameter_set"], "samples": data.len(), "features": spec.input,
        "classes": classes, "batch": spec.batch, "epochs": spec.epochs, "layers": spec.layers.len(),
    });
    let x_row = |i: usize| -> Vec<i64> {
        stats.quantize(data.row(i), q.input_scale, q.input_bits).into_iter().map(|v| v + x_off).collect()
    };
    let y_row =
        |i: usize| -> Vec<i64> { (0..classes).map(|c| if c == data.labels[i] { q.label_value } else { 0 }).collect() };
    let bar = crate::progress(2 * data.len() as u64, "encrypting", "samples");
    crate::io::write_atomic_with(&args.output, |f| {
        let io = |e: std::io::Error| format!("error: cannot write {}: {e}", args.output.display());
        let mut w = Writer::new(f, b"SILCJOB1", &header).map_err(io)?;
        w.section("circuit", silc_ir::text::print(g).as_bytes()).map_err(io)?;
        w.section("server-key", &server.key).map_err(io)?;
        w.section("orders", &serde_json::to_vec(&orders).expect("serializable")).map_err(io)?;
        w.section_streamed("x", |o| stream_cts(o, &client, data.len(), spec.input, &x_row, &bar))?;
        w.section_streamed("y", |o| stream_cts(o, &client, data.len(), classes, &y_row, &bar))?;
        for (tag, body) in &weights {
            w.section(tag, body).map_err(io)?;
        }
        w.finish().map_err(io)?;
        Ok(())
    })?;
    bar.finish_and_clear();
    // The standardization is the client's: it stays beside the secret key.
    let stats_json = json!({ "circuit": m.hash, "mean": stats.mean, "std": stats.std, "classes": data.classes });
    crate::io::write_atomic(
        &dir.join("data.stats.json"),
        serde_json::to_string_pretty(&stats_json).expect("json").as_bytes(),
    )?;
    let size = std::fs::metadata(&args.output).map(|m| m.len()).unwrap_or(0);
    crate::emit(&format!(
        "encrypted {} samples ({} ciphertexts, seeded, streamed) and the initial weights in {:.1} s\nwrote {} ({:.1} MiB)\n",
        data.len(),
        data.len() * (spec.input + classes),
        start.elapsed().as_secs_f64(),
        args.output.display(),
        size as f64 / (1 << 20) as f64
    ));
    Ok(())
}

fn arch_of(spec: &silc_frontend::ModelSpec) -> Arch {
    Arch {
        widths: spec.widths_chain(),
        relu: spec.layers.iter().map(|l| l.relu).collect(),
        batch: spec.batch,
        lr: spec.lr,
    }
}

// ---- run ------------------------------------------------------------------

#[derive(clap::Args)]
pub struct RunArgs {
    /// The job file from `silc encrypt`.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// The trained (still encrypted) weights.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Worker threads for the bootstraps (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Write a checkpoint (`OUTPUT.ckpt`) every N training steps.
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// Continue from `OUTPUT.ckpt`.
    #[arg(long)]
    pub resume: bool,
}

fn encode_plain_cts(cts: &[Ciphertext]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(cts.len() as u64).to_le_bytes());
    for c in cts {
        safe_serialize(c, &mut v, CT_LIMIT).expect("in memory");
    }
    v
}

fn weight_sections(weights: &[CtTensor]) -> Vec<(String, Vec<u8>)> {
    weights.iter().enumerate().map(|(l, w)| (format!("w{}", l + 1), encode_plain_cts(&w.cts))).collect()
}

fn write_weights(path: &Path, magic: &[u8; 8], header: serde_json::Value, weights: &[CtTensor]) -> Result<(), String> {
    write_file(path, magic, header, &weight_sections(weights))
}

/// The weight tensors `w1 …` of a trained or checkpoint file, each checked
/// against its shape and for conformance to the parameter set `cand`.
fn read_weights(
    name: &str,
    c: &container::Container<'_>,
    shapes: &[Vec<usize>],
    cand: &params::Candidate,
) -> Result<Vec<CtTensor>, String> {
    shapes
        .iter()
        .enumerate()
        .map(|(l, shape)| {
            let shape = shape.clone();
            let wname = format!("w{}", l + 1);
            let cts: Vec<Ciphertext> = decode_cts(name, &wname, c.section(name, &wname)?)?;
            conform(name, &wname, &cts, cand.name, |ct| cand.ciphertext_conforms(ct))?;
            if cts.len() != shape.iter().product::<usize>() {
                return Err(format!(
                    "error: {name}: `{wname}` holds {} ciphertexts, the circuit needs {:?}",
                    cts.len(),
                    shape
                ));
            }
            Ok(CtTensor { shape, cts })
        })
        .collect()
}

/// Refuses ciphertexts of section `what` that `conforms` rejects (made for
/// other parameters than the set `set`, or corrupted).
fn conform<T>(name: &str, what: &str, cts: &[T], set: &str, conforms: impl Fn(&T) -> bool) -> Result<(), String> {
    match cts.iter().position(|ct| !conforms(ct)) {
        Some(i) => Err(format!("error: {name}: ciphertext {i} of `{what}` does not conform to {set}")),
        None => Ok(()),
    }
}

pub fn run(args: &RunArgs) -> Result<(), String> {
    let name = args.data.display().to_string();
    let bytes = container::read_all(&args.data)?;
    if bytes.starts_with(b"SILCCKEY") {
        return Err(format!("error: {name} is a client key: the server must never be given the secret key"));
    }
    let c = container::parse(&name, &bytes, b"SILCJOB1")?;
    if c.sections.iter().any(|(t, _)| t.contains("client")) || c.str("kind") != "job" {
        return Err(format!("error: {name} carries secret client material; refusing to run it on a server"));
    }
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().ok();
    }
    let text =
        std::str::from_utf8(c.section(&name, "circuit")?).map_err(|_| format!("error: {name}: corrupted circuit"))?;
    let hash = circuit_hash(text);
    if hash != c.str("circuit") {
        return Err(format!("error: {name}: the circuit does not match its header (corrupted)"));
    }
    let g = silc_ir::read::read(text).map_err(|e| format!("error: {name}: corrupted circuit: {e}"))?;
    let sk: tfhe::shortint::CompressedServerKey = de(c.section(&name, "server-key")?, KEY_LIMIT)
        .map_err(|e| format!("error: {name}: corrupted server key: {e}"))?;
    // tfhe-rs conformance: the key and every ciphertext must have exactly
    // the dimensions of the parameter set the job names.
    let set = c.str("parameter_set");
    let cand = params::named(g.bits, set).into_iter().find(|cand| cand.server_key_conforms(&sk)).ok_or_else(|| {
        format!("error: {name}: the server key does not conform to {set} at {} bits (corrupted or mismatched)", g.bits)
    })?;
    let sk: ServerKey = sk.decompress();
    let server = ServerKeys { key: sk, precision: g.bits };
    let orders: Vec<Vec<usize>> = serde_json::from_slice(c.section(&name, "orders")?)
        .map_err(|e| format!("error: {name}: corrupted order: {e}"))?;
    let (features, classes) =
        (c.header["features"].as_u64().unwrap_or(0) as usize, c.header["classes"].as_u64().unwrap_or(0) as usize);
    let batch = c.header["batch"].as_u64().unwrap_or(1) as usize;
    let layers = c.header["layers"].as_u64().unwrap_or(0) as usize;
    // Samples stay seeded; the trainer expands one batch at a time.
    let rows = |what: &str, width: usize| -> Result<Vec<Vec<CompressedCiphertext>>, String> {
        let cts = decode_compressed(&name, what, c.section(&name, what)?)?;
        conform(&name, what, &cts, cand.name, |ct| cand.seeded_conforms(ct))?;
        let mut cts = cts.into_iter();
        if width == 0 || cts.len() % width != 0 {
            return Err(format!("error: {name}: section `{what}` does not hold whole samples"));
        }
        Ok((0..cts.len() / width).map(|_| cts.by_ref().take(width).collect()).collect())
    };
    let data = EncryptedData { x_rows: rows("x", features)?, y_rows: rows("y", classes)? };
    let n = data.x_rows.len();
    if orders.iter().flatten().any(|&i| i >= n) {
        return Err(format!("error: {name}: the training order names samples the job does not hold"));
    }
    let mut weights: Vec<CtTensor> = (0..layers)
        .map(|l| {
            let wname = format!("w{}", l + 1);
            let cts = decode_compressed(&name, &wname, c.section(&name, &wname)?)?;
            conform(&name, &wname, &cts, cand.name, |ct| cand.seeded_conforms(ct))?;
            let shape = g.ty(g.find(&wname).ok_or("error: circuit without weights")?).shape.clone();
            Ok(CtTensor { shape, cts: cts.iter().map(|x| x.decompress()).collect() })
        })
        .collect::<Result<_, String>>()?;

    let ckpt = PathBuf::from(format!("{}.ckpt", args.output.display()));
    let (mut epoch0, mut step0) = (0usize, 0usize);
    if args.resume {
        let cname = ckpt.display().to_string();
        let cb = container::read_all(&ckpt)?;
        let cc = container::parse(&cname, &cb, b"SILCCKPT")?;
        if cc.str("circuit") != hash {
            return Err(format!("error: {cname} belongs to another job"));
        }
        epoch0 = cc.header["epoch"].as_u64().unwrap_or(0) as usize;
        step0 = cc.header["step"].as_u64().unwrap_or(0) as usize;
        let shapes: Vec<Vec<usize>> = weights.iter().map(|w| w.shape.clone()).collect();
        weights = read_weights(&cname, &cc, &shapes, &cand)?;
        crate::emit(&format!("resuming at epoch {}, step {}\n", epoch0 + 1, step0));
    }

    let engine = Engine::new(&server, &g);
    let pbs_per_step = g.pbs_count();
    let steps_per_epoch = n / batch;
    let total_steps = (orders.len() * steps_per_epoch) as u64;
    let bar = crate::progress(total_steps, "training", "steps");
    bar.set_position((epoch0 * steps_per_epoch + step0) as u64);
    let start = Instant::now();
    let mut steps_done = 0u64;
    let header =
        |epoch: usize, step: usize| json!({ "kind": "checkpoint", "circuit": hash, "epoch": epoch, "step": step });
    for (e, order) in orders.iter().enumerate().skip(epoch0) {
        let skip = if e == epoch0 { step0 } else { 0 };
        let rest = &order[(skip * batch).min(order.len())..];
        let mut err = None;
        weights = silc_tfhe::train::train(&engine, &g, &data, weights, rest, batch, &mut |k, w| {
            steps_done += 1;
            bar.inc(1);
            let step = skip + k;
            if let Some(every) = args.checkpoint_every {
                if step % every.max(1) == 0 {
                    let (ce, cs) = if step == steps_per_epoch { (e + 1, 0) } else { (e, step) };
                    if let Err(x) = write_weights(&ckpt, b"SILCCKPT", header(ce, cs), w) {
                        err = Some(x);
                    }
                }
            }
        })?;
        if let Some(x) = err {
            return Err(x);
        }
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let out_header = json!({
        "kind": "trained", "model": c.str("model"), "circuit": hash, "precision": g.bits,
        "parameter_set": c.header["parameter_set"], "layers": layers,
    });
    write_weights(&args.output, b"SILCTRND", out_header, &weights)?;
    let pbs = steps_done * pbs_per_step;
    crate::emit(&format!(
        "trained {} steps ({} bootstraps) in {:.1} s: {:.1} PBS/s on {} threads\nwrote {}\n",
        steps_done,
        pbs,
        secs,
        pbs as f64 / secs.max(1e-9),
        rayon::current_num_threads(),
        args.output.display()
    ));
    Ok(())
}

// ---- decrypt and eval -----------------------------------------------------

#[derive(clap::Args)]
pub struct DecryptArgs {
    /// The trained weights from `silc run`.
    pub trained: PathBuf,
    /// The client key (`data.stats.json` is read beside it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Where to write the weights (JSON).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn decrypt(args: &DecryptArgs) -> Result<(), String> {
    let kname = args.key.display().to_string();
    let kbytes = container::read_all(&args.key)?;
    let kc = container::parse(&kname, &kbytes, b"SILCCKEY")?;
    let info: crate::weights::ModelInfo = serde_json::from_value(kc.header["model_info"].clone())
        .map_err(|e| format!("error: {kname}: corrupted key header: {e}"))?;
    let key: ClientKey =
        de(kc.section(&kname, "key")?, KEY_LIMIT).map_err(|e| format!("error: {kname}: corrupted client key: {e}"))?;
    let client = ClientKeys { key, precision: info.precision };
    let name = args.trained.display().to_string();
    let bytes = container::read_all(&args.trained)?;
    let c = container::parse(&name, &bytes, b"SILCTRND")?;
    if c.str("circuit") != kc.str("circuit") {
        return Err(format!(
            "error: {name} was trained for another circuit than {kname} was made for (model `{}` vs `{}`)",
            c.str("model"),
            kc.str("model")
        ));
    }
    // The key's own parameter set: the one its encryptions conform to.
    let probe = client.key.unchecked_encrypt(0);
    let set = kc.str("parameter_set");
    let cand = params::named(info.precision, set)
        .into_iter()
        .find(|cand| cand.ciphertext_conforms(&probe))
        .ok_or_else(|| format!("error: {kname}: the key does not match its parameter set {set} (corrupted)"))?;
    let shapes: Vec<Vec<usize>> = info.weights.iter().map(|(s, _)| s.clone()).collect();
    let weights = read_weights(&name, &c, &shapes, &cand)?;
    let ints: Vec<Tensor> =
        weights.iter().zip(&info.weights).map(|(w, (_, off))| client.decrypt(w).map(|v| v - off)).collect();
    let stats_path = args.key.parent().unwrap_or(Path::new(".")).join("data.stats.json");
    let stats: Option<serde_json::Value> =
        std::fs::read(&stats_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let out = crate::weights::to_json(&info, &ints, stats.as_ref());
    crate::io::write_atomic(&args.output, serde_json::to_string_pretty(&out).expect("json").as_bytes())?;
    crate::emit(&format!("wrote {}\n", args.output.display()));
    Ok(())
}

// ---- bench-engine ----------------------------------------------------------

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The compiled model.
    pub model: PathBuf,
    /// Rounds to time; each is one raw pass and one training step (on
    /// random encrypted data), alternated.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Independent bootstraps for the raw throughput figure.
    #[arg(long, default_value_t = 256)]
    pub raw: usize,
}

/// Measures, in one run: tfhe-rs's raw PBS throughput at the circuit's
/// parameters (independent bootstraps spread over all threads), the
/// engine's achieved PBS throughput over training steps, and their ratio.
pub fn bench(args: &BenchArgs) -> Result<(), String> {
    let m = load_model(&args.model)?;
    let g = &m.graph;
    let p = g.bits;
    let norm = silc_passes::check::max_bootstrap_norm(g);
    let cand = params::choose(p, m.spec.pfail_log2, norm).ok_or("error: no parameter set covers the circuit")?;
    let client = ClientKeys::new(&cand, p);
    let server = client.server_keys();
    let engine = Engine::new(&server, g);
    let threads = rayon::current_num_threads();

    // Raw: independent bootstraps of one table over all threads.
    let lut = server.key.generate_lookup_table(|x| x);
    let cts: Vec<Ciphertext> = (0..args.raw).map(|i| client.key.unchecked_encrypt(i as u64 % (1 << (p - 1)))).collect();
    use rayon::prelude::*;
    let raw_pass = |cts: &[Ciphertext]| {
        let t = Instant::now();
        let _: Vec<Ciphertext> = cts.par_iter().map(|c| server.key.apply_lookup_table(c, &lut)).collect();
        t.elapsed().as_secs_f64()
    };

    // Engine: training steps on random (valid) inputs.
    let mut rng = silc_sim::rng::Rng::new(1);
    let mut inputs = std::collections::HashMap::new();
    for id in g.inputs() {
        let n = g.node(id);
        let silc_ir::Op::Input { name, role } = &n.op else { unreachable!("inputs") };
        let data: Vec<i64> = if *role == silc_ir::Role::Label {
            let (rows, cols) = (n.ty.shape[0], n.ty.shape[1]);
            let mut d = vec![0; rows * cols];
            for r in 0..rows {
                d[r * cols + rng.below(cols)] = n.ty.hi;
            }
            d
        } else {
            (0..n.ty.len()).map(|_| n.ty.lo + rng.below((n.ty.hi - n.ty.lo + 1) as usize) as i64).collect()
        };
        let stored = Tensor::new(n.ty.shape.clone(), data).map(|v| v + n.ty.offset);
        inputs.insert(name.clone(), client.encrypt(&stored));
    }
    let step = || -> Result<f64, String> {
        let t = Instant::now();
        silc_tfhe::execute(&engine, g, &inputs)?;
        Ok(t.elapsed().as_secs_f64())
    };
    // Warm up both (FFT plans, thread pool), then alternate a raw pass and
    // a training step, so that a slower or faster spell of the machine
    // weighs on both figures alike; each figure is a median.
    raw_pass(&cts[..(4 * threads).min(cts.len())]);
    step()?;
    let rounds = args.steps.max(1);
    let (mut raw_times, mut times) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        raw_times.push(raw_pass(&cts));
        times.push(step()?);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let raw = args.raw as f64 / median(&mut raw_times);
    let pbs = g.pbs_count();
    let step_median = median(&mut times);
    let achieved = pbs as f64 / step_median;
    crate::emit(&format!(
        "{}: {} ({} bits), {} threads, {} alternating rounds\n  raw tfhe-rs throughput: {:.1} PBS/s (median pass of {} independent bootstraps)\n  engine during training: {:.1} PBS/s ({} PBS per step, median step {:.2} s)\n  efficiency ratio: {:.2}\n",
        m.spec.name, cand.name, p, threads, rounds, raw, args.raw, achieved, pbs, step_median, achieved / raw
    ));
    Ok(())
}
