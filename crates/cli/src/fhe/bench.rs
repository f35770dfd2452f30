//! `silc bench-engine`: the encrypted engine's efficiency, measured in one
//! run: raw tfhe-rs bootstrap throughput at the circuit's parameters against
//! the throughput achieved in training steps on random encrypted data.

use std::path::PathBuf;
use std::time::Instant;

use silc_sim::Tensor;
use silc_tfhe::batch::{bootstrap, Table};
use silc_tfhe::exec::in_batches;
use silc_tfhe::{params, ClientKeys, Engine};
use tfhe::shortint::Ciphertext;

use super::load_model;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The compiled model.
    pub model: PathBuf,
    /// Rounds to time; each is one raw pass and one training step (on
    /// random encrypted data), alternated, and one more raw pass follows the
    /// last step, so that each step is bracketed. With more than one, a step is
    /// run first as a warm-up; with `--steps 1` only a raw pass warms up, so
    /// a large model costs one step.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Independent bootstraps for each raw throughput figure (one by one,
    /// and batched).
    #[arg(long, default_value_t = 256)]
    pub raw: usize,
    /// Training samples per epoch, to project the whole training's time
    /// (steps = samples / batch per epoch, times the model's epochs);
    /// default: one batch per epoch.
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
}

/// Seconds as "42 s", "3.1 min", "5.2 h" or "4.0 days".
fn duration(secs: f64) -> String {
    match secs {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
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
    let mut server = client.server_keys();
    if super::external(g) {
        server.precise = Some(client.precise_key());
    }
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
    // The same bootstraps, a few at a time through the batched blind
    // rotation the engine uses (`silc_tfhe::batch`): what batching alone buys.
    let batched_pass = |cts: &[Ciphertext]| {
        let jobs: Vec<(&Ciphertext, Table)> = cts.iter().map(|c| (c, Table::One(&lut))).collect();
        let t = Instant::now();
        let _ = in_batches(0..jobs.len(), &|r| bootstrap(&server.key, &jobs[r]));
        t.elapsed().as_secs_f64()
    };

    // Engine: training steps on random (valid) inputs.
    let mut rng = silc_sim::rng::Rng::new(1);
    let (mut inputs, mut plain) = (std::collections::HashMap::new(), std::collections::HashMap::new());
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
        let logical = Tensor::new(n.ty.shape.clone(), data);
        inputs.insert(name.clone(), client.encrypt(&logical.map(|v| v + n.ty.offset)));
        plain.insert(name.clone(), logical);
    }
    // The forms a client would upload with these samples.
    inputs.extend(client.encrypt_forms(g, &plain)?);
    let ggsw = client.encrypt_ggsw_forms(g, &plain)?;
    let step = || -> Result<f64, String> {
        let t = Instant::now();
        silc_tfhe::execute_with(&engine, g, &inputs, &ggsw, 0)?;
        Ok(t.elapsed().as_secs_f64())
    };
    // Warm up both (FFT plans, thread pool), then alternate a raw pass and
    // a training step, with one more raw pass after the last step, so that
    // every step is bracketed by raw passes and a slower or faster spell of
    // the machine weighs on both figures alike; each figure is a median.
    let rounds = args.steps.max(1);
    raw_pass(&cts[..(4 * threads).min(cts.len())]);
    batched_pass(&cts[..(4 * threads).min(cts.len())]);
    if rounds > 1 {
        step()?;
    }
    let (mut raw_times, mut batched_times, mut times) =
        (Vec::with_capacity(rounds + 1), Vec::with_capacity(rounds + 1), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        raw_times.push(raw_pass(&cts));
        batched_times.push(batched_pass(&cts));
        times.push(step()?);
    }
    raw_times.push(raw_pass(&cts));
    batched_times.push(batched_pass(&cts));
    let raw_passes = raw_times.len();
    let raw = args.raw as f64 / median(&mut raw_times);
    let batched = args.raw as f64 / median(&mut batched_times);
    // A refresh with the precise key and the external products count at
    // their measured price in the set's bootstraps, as `silc compile`
    // reports them; without `ext_dot` this is the bootstrap count.
    let pbs = silc_passes::cost::priced_pbs(g);
    let refreshes = pbs_note(g, pbs);
    let step_median = median(&mut times);
    let achieved = pbs as f64 / step_median;
    let time = engine.time();
    let share = 100.0 * time.waves / (time.waves + time.leveled).max(f64::MIN_POSITIVE);
    let samples = args.samples.unwrap_or(m.spec.batch);
    let steps = (samples / m.spec.batch.max(1)).max(1) * m.spec.epochs;
    let total = steps as f64 * step_median;
    crate::emit(&format!(
        "{}: {} ({} bits), {} threads, {} alternating rounds\n  raw tfhe-rs throughput: {:.1} PBS/s (median of {} passes of {} independent bootstraps one by one, before and after each step)\n  the same bootstraps batched: {:.1} PBS/s ({:.2}× one by one; batches of at most {})\n  engine during training: {:.1} PBS/s ({} PBS per step{refreshes}, median step {:.2} s; {:.1} % of its time in bootstrap waves, the rest in leveled and layout ops)\n  efficiency ratio: {:.2} of raw one by one, {:.2} of batched\n  whole training, projected: {} steps ({} samples{}, batch {}, {} epochs) ≈ {}\n",
        m.spec.name, cand.name, p, threads, rounds, raw, raw_passes, args.raw, batched, batched / raw, silc_tfhe::exec::MAX_BATCH,
        achieved, pbs, step_median, share, achieved / raw, achieved / batched,
        steps, samples, if args.samples.is_none() { " by default; pass --samples N" } else { "" }, m.spec.batch, m.spec.epochs,
        duration(total)
    ));
    Ok(())
}

/// For a circuit with external products, how its priced bootstrap count
/// splits: " as priced: 46706 bootstraps, and 240 refreshes … which
/// count 495 PBS".
fn pbs_note(g: &silc_ir::Graph, priced: u64) -> String {
    let plain = g.pbs_count();
    let refreshes: u64 = g
        .ids()
        .filter(|&i| matches!(g.node(i).op, silc_ir::Op::ExtDot { .. }))
        .map(|i| g.ty(g.node(i).args[1]).len() as u64)
        .sum();
    if refreshes == 0 {
        return String::new();
    }
    format!(
        " as priced: {} bootstraps, and {refreshes} refreshes with the precise key with the external products, \
         which count {} PBS",
        plain - refreshes,
        priced - (plain - refreshes)
    )
}

/// The median of `v`; of an even count, the mean of the middle two.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, median};

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [5.0, 1.0]), 3.0);
    }

    #[test]
    fn durations_read_in_the_largest_fitting_unit() {
        assert_eq!(duration(42.4), "42 s");
        assert_eq!(duration(186.0), "3.1 min");
        assert_eq!(duration(5.0 * 3600.0), "5.0 h");
        assert_eq!(duration(30.0 * 86_400.0), "30.0 days");
    }
}
