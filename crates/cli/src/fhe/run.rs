//! `silc run`: the server's whole training on an encrypted job, with no
//! secret key. The job is verified whole (every section's checksum,
//! streamed) before the first bootstrap; checkpoints name the job they
//! belong to, so `--resume` never continues another job's weights.
//! Under `mpirun` (feature `mpi`) every rank runs this same code: rank 0
//! reads the files and shares their bytes ([`super::share`]), the engine
//! deals each wave out to the ranks, and rank 0 alone writes and reports.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;
use serde_json::json;
use silc_tfhe::exec::CtTensor;
use silc_tfhe::external::PreciseKey;
use silc_tfhe::train::EncryptedData;
use silc_tfhe::{params, Engine, ServerKeys};
use tfhe::shortint::{CompressedCiphertext, ServerKey};

use super::cts::{conform, decode_compressed, decode_ggsws, read_members, read_weights, write_weights};
use super::share::{Node, Source};
use super::{circuit_hash, de, KEY_LIMIT};
use crate::container;

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
    /// Continue from `OUTPUT.ckpt` (it must be a checkpoint of this job).
    #[arg(long)]
    pub resume: bool,
}

pub fn run(args: &RunArgs) -> Result<(), String> {
    let node = Node::start();
    // Under MPI every error here reaches every rank (rank 0's read failures
    // are shared; decoding the same bytes fails alike): rank 0 says it.
    train(&node, args).map_err(|e| node.stop(e))
}

fn train(node: &Node, args: &RunArgs) -> Result<(), String> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().ok();
    }
    let mut job = Source::open(node, &args.data)?;
    let name = job.name.clone();
    let job_id = job.file_id.clone();
    let text = String::from_utf8(job.section("circuit")?)
        .map_err(|_| format!("error: {name}: section `circuit` is not UTF-8 text"))?;
    let hash = circuit_hash(&text);
    if hash != job.str("circuit") {
        return Err(format!("error: {name}: section `circuit` does not match the circuit hash in the header"));
    }
    let g = silc_ir::read::read(&text).map_err(|e| format!("error: {name}: section `circuit`: {e}"))?;
    let sk: tfhe::shortint::CompressedServerKey = de(&job.section("server-key")?, KEY_LIMIT)
        .map_err(|e| format!("error: {name}: section `server-key` is not a server key: {e}"))?;
    // tfhe-rs conformance: the key and every ciphertext must have exactly
    // the dimensions of the parameter set the job names.
    let set = job.str("parameter_set").to_string();
    let cand = params::named(g.bits, &set).into_iter().find(|cand| cand.server_key_conforms(&sk)).ok_or_else(|| {
        format!("error: {name}: section `server-key` does not conform to {set} at {} bits (mismatched)", g.bits)
    })?;
    let orders: Vec<Vec<usize>> = serde_json::from_slice(&job.section("orders")?)
        .map_err(|e| format!("error: {name}: section `orders` is not a training order: {e}"))?;
    let h = &job.header;
    let field = |k: &str| h[k].as_u64().map(|v| v as usize);
    let (features, classes, batch, layers) =
        match (field("features"), field("classes"), field("batch"), field("layers")) {
            (Some(f), Some(c), Some(b), Some(l)) if b > 0 => (f, c, b, l),
            _ => return Err(format!("error: {name}: the header lacks features, classes, batch or layers")),
        };
    // The client predicts with the weights after each of the last
    // `ensemble` epochs: the run keeps and returns them all.
    let ensemble = match field("ensemble") {
        Some(k) if (1..=orders.len().max(1)).contains(&k) => k,
        _ => {
            return Err(format!(
                "error: {name}: the header's `ensemble` must be a whole number from 1 to the job's {} epochs",
                orders.len()
            ))
        }
    };
    let member = |epoch: usize| epoch + ensemble > orders.len() && epoch < orders.len();
    // Samples stay seeded; the trainer expands one batch at a time.
    let mut rows = |what: &str, width: usize| -> Result<Vec<Vec<CompressedCiphertext>>, String> {
        let cts = decode_compressed(&name, what, &job.section(what)?)?;
        conform(&name, what, &cts, cand.name, |ct| cand.seeded_conforms(ct))?;
        let mut cts = cts.into_iter();
        if width == 0 || cts.len() % width != 0 {
            return Err(format!("error: {name}: section `{what}` does not hold whole samples"));
        }
        Ok((0..cts.len() / width).map(|_| cts.by_ref().take(width).collect()).collect())
    };
    // The forms of the samples alone, which the client computed (`silc_sim::forms`).
    let layout = silc_sim::forms::layout(&g);
    let width = |ggsw: bool| -> usize { layout.iter().filter(|f| f.ggsw == ggsw).map(|f| f.per_sample()).sum() };
    let (form_width, ggsw_width) = (width(false), width(true));
    let (x_rows, y_rows) = (rows("x", features)?, rows("y", classes)?);
    let form_rows = if form_width == 0 { vec![Vec::new(); x_rows.len()] } else { rows("forms", form_width)? };
    // The external products' GGSW ciphertexts, a seeded list per sample.
    let ggsw_rows = if ggsw_width == 0 {
        Vec::new()
    } else {
        decode_ggsws(&name, "ggsw", &job.section("ggsw")?, ggsw_width, &cand)?
    };
    let data = EncryptedData { x_rows, y_rows, form_rows, ggsw_rows };
    let n = data.x_rows.len();
    for (what, held) in
        [("forms", data.form_rows.len()), ("ggsw", if ggsw_width == 0 { n } else { data.ggsw_rows.len() })]
    {
        if held != n {
            return Err(format!("error: {name}: section `{what}` holds the forms of {held} samples, the job {n}"));
        }
    }
    if orders.iter().flatten().any(|&i| i >= n) || data.y_rows.len() != n {
        return Err(format!("error: {name}: section `orders` names samples the job does not hold"));
    }
    let mut weights: Vec<CtTensor> = (0..layers)
        .map(|l| {
            let wname = format!("w{}", l + 1);
            let cts = decode_compressed(&name, &wname, &job.section(&wname)?)?;
            conform(&name, &wname, &cts, cand.name, |ct| cand.seeded_conforms(ct))?;
            let shape = g.ty(g.find(&wname).ok_or("error: circuit without weights")?).shape.clone();
            if cts.len() != shape.iter().product::<usize>() {
                return Err(format!("error: {name}: section `{wname}` holds {} ciphertexts, not {shape:?}", cts.len()));
            }
            Ok(CtTensor { shape, cts: cts.iter().map(|x| x.decompress()).collect() })
        })
        .collect::<Result<_, String>>()?;
    let precise = if ggsw_width == 0 {
        None
    } else {
        let seeded = de(&job.section("precise-key")?, KEY_LIMIT)
            .map_err(|e| format!("error: {name}: section `precise-key` is not a seeded bootstrapping key: {e}"))?;
        Some(PreciseKey::expand(seeded, &cand).map_err(|e| format!("error: {name}: section `precise-key`: {e}"))?)
    };
    let sk: ServerKey = sk.decompress();
    let server = ServerKeys { key: sk, precision: g.bits, precise };

    let ckpt = PathBuf::from(format!("{}.ckpt", args.output.display()));
    let steps_per_epoch = n / batch;
    let (mut epoch0, mut step0) = (0usize, 0usize);
    let mut members: Vec<(usize, Vec<CtTensor>)> = Vec::new();
    if args.resume {
        let cname = ckpt.display().to_string();
        let cb = node.share(|| container::read_all(&ckpt))?;
        let cc = container::parse(&cname, &cb, b"SILCCKPT")?;
        if cc.str("job") != job_id {
            return Err(format!(
                "error: {cname} is a checkpoint of another job (job id {}), not of {name} (job id {job_id}); remove it or run without --resume",
                cc.str("job")
            ));
        }
        epoch0 = cc.header["epoch"].as_u64().unwrap_or(0) as usize;
        step0 = cc.header["step"].as_u64().unwrap_or(0) as usize;
        if epoch0 > orders.len() || step0 > steps_per_epoch {
            return Err(format!("error: {cname}: epoch {epoch0}, step {step0} lies outside the job"));
        }
        let shapes: Vec<Vec<usize>> = weights.iter().map(|w| w.shape.clone()).collect();
        weights = read_weights(&cname, &cc, &shapes, &cand)?;
        members = read_members(&cname, &cc, &shapes, &cand, epoch0 + 1)?;
        // Exactly the ensemble's epochs done so far, or the trained file
        // would come back with fewer members than the job asks for.
        let (held, want): (Vec<usize>, Vec<usize>) =
            (members.iter().map(|m| m.0).collect(), (1..=epoch0).filter(|&e| member(e)).collect());
        if held != want {
            return Err(format!(
                "error: {cname}: holds the weights after epochs {held:?} for the ensemble, but at epoch {} this \
                 job's ensemble keeps those after epochs {want:?}",
                epoch0 + 1
            ));
        }
        if node.is_root() {
            crate::emit(&format!("resuming at epoch {}, step {}\n", epoch0 + 1, step0));
        }
    }

    let engine = Engine::new(&server, &g);
    #[cfg(feature = "mpi")]
    let engine = match &node.cluster {
        Some(c) => engine.spread_over(c),
        None => engine,
    };
    let pbs_per_step = g.pbs_count();
    let total_steps = (orders.len() * steps_per_epoch) as u64;
    let bar = if node.is_root() { crate::progress(total_steps, "training", "steps") } else { ProgressBar::hidden() };
    bar.set_position((epoch0 * steps_per_epoch + step0) as u64);
    let start = Instant::now();
    let mut steps_done = 0u64;
    let header = |epoch: usize, step: usize| json!({ "kind": "checkpoint", "circuit": hash, "job": job_id, "epoch": epoch, "step": step });
    for (e, order) in orders.iter().enumerate().skip(epoch0) {
        let skip = if e == epoch0 { step0 } else { 0 };
        let rest = &order[(skip * batch).min(order.len())..];
        let mut err = None;
        let first = (e * steps_per_epoch + skip) as u64;
        weights = silc_tfhe::train::train(&engine, &g, &data, weights, rest, batch, first, &mut |k, w| {
            steps_done += 1;
            bar.inc(1);
            let step = skip + k;
            if let (Some(every), true) = (args.checkpoint_every, node.is_root()) {
                if step % every.max(1) == 0 {
                    let (ce, cs) = if step == steps_per_epoch { (e + 1, 0) } else { (e, step) };
                    // At an epoch's end its own weights may join the ensemble.
                    let joined;
                    let kept: &[(usize, Vec<CtTensor>)] = if cs == 0 && member(ce) {
                        joined = [members.clone(), vec![(ce, w.to_vec())]].concat();
                        &joined
                    } else {
                        &members
                    };
                    if let Err(x) = write_weights(&ckpt, b"SILCCKPT", header(ce, cs), w, kept) {
                        err = Some(x);
                    }
                }
            }
        })?;
        if let Some(x) = err {
            return Err(node.fail(x));
        }
        // Rank 0 alone writes the files, so it alone keeps the members.
        if member(e + 1) && node.is_root() {
            members.push((e + 1, weights.clone()));
        }
    }
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let pbs = steps_done * pbs_per_step;
    let kept = match members.as_slice() {
        [] => String::new(),
        [(e, _)] => format!("kept the weights after epoch {e} for the client's ensemble\n"),
        [(a, _), .., (b, _)] => format!("kept the weights after epochs {a}–{b} for the client's ensemble\n"),
    };
    let report = format!(
        "trained {} steps ({} bootstraps) in {:.1} s: {:.1} PBS/s on {}\n{}{kept}",
        steps_done,
        pbs,
        secs,
        pbs as f64 / secs.max(1e-9),
        placement(node),
        traffic(node, steps_done, pbs, secs),
    );
    if !node.is_root() {
        return Ok(());
    }
    let out_header = json!({
        "kind": "trained", "model": job.str("model"), "circuit": hash, "precision": g.bits,
        "parameter_set": set, "key_id": job.str("key_id"), "job": job_id, "layers": layers,
        "epochs": orders.len(),
    });
    write_weights(&args.output, b"SILCTRND", out_header, &weights, &members).map_err(|e| node.fail(e))?;
    crate::emit(&format!("{report}wrote {}\n", args.output.display()));
    Ok(())
}

/// "2 threads", or "2 ranks × 1 thread".
fn placement(node: &Node) -> String {
    let threads = rayon::current_num_threads();
    let t = format!("{threads} thread{}", if threads == 1 { "" } else { "s" });
    match node.ranks() {
        1 => t,
        n => format!("{n} ranks × {t}"),
    }
}

/// Under MPI, what the exchange cost, summed over ranks (a collective:
/// every rank calls it); alone, nothing.
#[allow(unused_variables)]
fn traffic(node: &Node, steps: u64, pbs: u64, secs: f64) -> String {
    #[cfg(feature = "mpi")]
    if let Some(c) = &node.cluster {
        let all = c.all_traffic();
        let sent: u64 = all.iter().map(|t| t.bytes_sent).sum();
        let setup: u64 = all.iter().map(|t| t.setup_bytes).sum();
        let comm = all.iter().map(|t| t.comm_secs).sum::<f64>() / all.len() as f64;
        let counts: Vec<String> = all.iter().map(|t| t.bootstraps.to_string()).collect();
        let mib = |b: f64| b / (1u64 << 20) as f64;
        return format!(
            "  MPI: {:.2} MiB sent per step, {:.1} KiB per bootstrap; communication {:.1} % of the time (mean over ranks); \
             the job and key shared once: {:.1} MiB; bootstraps by rank: {}\n",
            mib(sent as f64 / steps.max(1) as f64),
            sent as f64 / pbs.max(1) as f64 / 1024.0,
            100.0 * comm / secs.max(1e-9),
            mib(setup as f64),
            counts.join(" / "),
        );
    }
    String::new()
}
