//! `silc simulate`: the bit-exact cleartext run of the training the server
//! would perform, on real data, optionally beside a float32 reference.

use std::path::PathBuf;

use serde_json::json;
use silc_sim::data::{Dataset, Standardizer};
use silc_sim::float::{self, FloatData};
use silc_sim::train::{epoch_orders, initial_weights, Arch, EpochStats, Quantized, Trainer};

use crate::data::{self, LabelColumn};

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The model description (`.mlp`).
    pub model: PathBuf,
    /// Training data: a CSV file, or an MNIST `*-images-idx3-ubyte[.gz]` file.
    #[arg(long, value_name = "DATA")]
    pub train: PathBuf,
    /// Test data, in the same format.
    #[arg(long, value_name = "DATA")]
    pub test: PathBuf,
    /// The CSV label column, by name or 0-based index (default: the last).
    #[arg(long, value_name = "COLUMN")]
    pub label: Option<LabelColumn>,
    /// Override the model's `epochs`.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Override the model's `seed` (initial weights and data order).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Also train the float32 reference on the same weights and batches.
    #[arg(long)]
    pub float: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Draw loss and accuracy curves to this SVG file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Write the trained weights (JSON, as `silc decrypt` does) to this file.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Execute the lowered circuit itself instead of the high-level fast path
    /// (proven equal bit for bit by the test suite; much slower).
    #[arg(long)]
    pub exact: bool,
}

pub fn check_shape(name: &str, d: &Dataset, features: usize, classes: usize) -> Result<(), String> {
    if d.n_features != features {
        return Err(format!("error: {name}: rows have {} features, the model's `input` is {features}", d.n_features));
    }
    if let Some(i) = d.labels.iter().position(|&l| l >= classes) {
        return Err(format!(
            "error: {name}: sample {} has label `{}` (class {}), but the model has {classes} classes (0..{})",
            i + 1,
            d.classes[d.labels[i]],
            d.labels[i],
            classes - 1
        ));
    }
    Ok(())
}

pub fn run(args: &SimulateArgs) -> Result<(), String> {
    let (mut spec, bytes) = crate::compile::load_spec(&args.model)?;
    if let Some(e) = args.epochs {
        if e == 0 {
            return Err("error: --epochs must be at least 1".into());
        }
        spec.epochs = e;
    }
    if let Some(s) = args.seed {
        spec.seed = s;
    }
    let name = args.model.display().to_string();
    let text = String::from_utf8_lossy(&bytes);
    let src = silc_frontend::SourceFile::new(&name, &text);
    // The circuit `silc compile` builds by default, which `--exact` runs.
    let external_products = crate::compile::external_products(&spec, crate::ExternalArg::Auto).0;
    let opts = silc_passes::Options { external_products, ..Default::default() };
    let compiled = silc_passes::compile(&spec, &opts).map_err(|e| crate::render::pass_error(&src, &e))?;
    let label = args.label.clone().unwrap_or_default();
    let train = data::load(&args.train, &label)?;
    let test = data::load(&args.test, &label)?;
    let classes = spec.classes();
    check_shape(&args.train.display().to_string(), &train, spec.input, classes)?;
    check_shape(&args.test.display().to_string(), &test, spec.input, classes)?;
    if train.len() < spec.batch {
        return Err(format!(
            "error: {}: {} samples, fewer than one batch of {}",
            args.train.display(),
            train.len(),
            spec.batch
        ));
    }

    let q = &compiled.quant;
    let standardizer = Standardizer::fit_for(&train, q.input_quantile.then_some((q.input_bits, q.input_scale)));
    let quantize = |d: &Dataset| Quantized {
        rows: (0..d.len()).map(|i| standardizer.quantize(d.row(i), q.input_scale, q.input_bits)).collect(),
        labels: d.labels.clone(),
    };
    let (qtrain, qtest) = (quantize(&train), quantize(&test));
    let arch = Arch {
        widths: spec.widths_chain(),
        relu: spec.layers.iter().map(|l| l.relu).collect(),
        bias: q.biases.clone(),
        batch: spec.batch,
        lr: spec.lr,
        ensemble: spec.ensemble(),
    };
    let weights = initial_weights(&arch, q, spec.seed);
    let orders = epoch_orders(train.len(), spec.batch, spec.epochs, spec.seed);
    let graph = if args.exact { compiled.graph() } else { compiled.high() };
    let predict = silc_sim::train::predictor(compiled.high()).expect("a compiled step's logits are a rescaled product");
    let trainer = Trainer { graph, predict: &predict, quant: q, arch: &arch };

    let steps: u64 = orders.iter().map(|o| (o.len() / spec.batch) as u64).sum();
    let bar = indicatif::ProgressBar::new(steps);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} epoch {msg} [{bar:30}] {pos}/{len} steps, ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let json = args.json;
    let mut epoch_no = 1;
    bar.set_message(format!("1/{}", spec.epochs));
    let started = std::time::Instant::now();
    let trained = trainer
        .train(
            &qtrain,
            &qtest,
            weights.clone(),
            &orders,
            &mut |s, _| bar.set_position(s as u64),
            &mut |e: &EpochStats| {
                epoch_no += 1;
                bar.set_message(format!("{}/{}", epoch_no.min(spec.epochs), spec.epochs));
                if !json {
                    bar.suspend(|| {
                        crate::emit(&format!(
                            "epoch {:>3}/{}  loss {:.4}  train {:5.1}%  test {:5.1}%  {:.2} s\n",
                            e.epoch,
                            spec.epochs,
                            e.loss,
                            100.0 * e.train_accuracy,
                            100.0 * e.test_accuracy,
                            e.seconds
                        ))
                    });
                }
            },
        )
        .map_err(|e| format!("error: {e}"))?;
    bar.finish_and_clear();
    let stats = &trained.stats;
    let int_seconds = started.elapsed().as_secs_f64();

    let float_stats = args.float.then(|| {
        let to_float = |d: &Dataset| FloatData {
            rows: (0..d.len())
                .map(|i| standardizer.standardize(d.row(i)).into_iter().map(|v| v as f32).collect())
                .collect(),
            labels: d.labels.clone(),
        };
        let w0: Vec<Vec<f32>> = weights
            .iter()
            .enumerate()
            .map(|(l, w)| {
                let ints = q.combined_weights(&w.data);
                let real: Vec<f32> = ints.iter().map(|&v| (v as f64 * q.weight_unit(l)) as f32).collect();
                if q.reference && l + 1 == weights.len() {
                    silc_ir::quant::with_reference_column(&real, w.shape[w.shape.len() - 1])
                } else {
                    real
                }
            })
            .collect();
        float::train(&arch, w0, &to_float(&train), &to_float(&test), &orders).1
    });

    let last = stats.last().expect("at least one epoch");
    if let Some(path) = &args.save {
        let info = crate::weights::ModelInfo::new(&spec, q, compiled.high());
        let mut st = serde_json::to_value(&standardizer).expect("json");
        st["classes"] = json!(train.classes);
        let out = crate::weights::to_json(&info, &trained.weights, &trained.earlier, Some(&st));
        crate::io::write_atomic(path, serde_json::to_string_pretty(&out).expect("json").as_bytes())?;
    }
    if let Some(path) = &args.plot {
        crate::io::write_atomic(path, crate::plot::svg(stats, float_stats.as_deref()).as_bytes())?;
    }
    if json {
        let mut v = json!({
            "model": spec.name,
            "precision": spec.bits,
            "seed": spec.seed,
            "test_accuracy": last.test_accuracy,
            "test_accuracy_last": last.test_accuracy_last,
            "test_accuracy_rescaled": last.test_accuracy_rescaled,
            "ensemble": arch.ensemble,
            "train_accuracy": last.train_accuracy,
            "seconds": int_seconds,
            "epochs": stats,
        });
        if let Some(f) = &float_stats {
            v["float_test_accuracy"] = json!(f.last().map(|e| e.test_accuracy));
            v["float_epochs"] = json!(f);
        }
        crate::emit(&format!("{}\n", serde_json::to_string_pretty(&v).expect("serializable")));
    } else {
        let by = if arch.ensemble > 1 {
            format!(
                "the last {} epochs' weights, their exact logits summed; {:.1}% by the last weights alone",
                arch.ensemble,
                100.0 * last.test_accuracy_last
            )
        } else {
            "the last layer's exact product".to_string()
        };
        crate::emit(&format!(
            "silc ({} bits): test accuracy {:.1}% after {} epochs, {:.1} s (by {by}; {:.1}% by the step's \
             rescaled logits)\n",
            spec.bits,
            100.0 * last.test_accuracy,
            spec.epochs,
            int_seconds,
            100.0 * last.test_accuracy_rescaled
        ));
        if let Some(f) = &float_stats {
            let fl = f.last().expect("epochs");
            crate::emit(&format!("float32 reference: test accuracy {:.1}%\n", 100.0 * fl.test_accuracy));
        }
        if let Some(p) = &args.plot {
            crate::emit(&format!("wrote {}\n", p.display()));
        }
    }
    Ok(())
}
