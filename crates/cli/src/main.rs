//! The `silc` command line. Only this crate reads and writes files and parses
//! arguments; everything else receives bytes and values.

mod artifact;
mod compile;
mod container;
mod data;
mod eval;
#[cfg(feature = "fhe")]
mod fhe;
mod io;
mod plot;
mod render;
mod simulate;
mod weights;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// silc — train a multi-layer perceptron on encrypted data (TFHE).
///
/// A client describes the model in a small `.mlp` file; silc compiles one
/// training step into a circuit of small-integer operations and table
/// lookups (programmable bootstraps), proves it free of overflow and of
/// excess noise, and reports what it costs.
#[derive(Parser)]
#[command(name = "silc", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile a model: parse, lower, check, schedule; print a cost report.
    ///
    /// Examples:
    ///   silc compile examples/iris.mlp
    ///   silc compile examples/iris.mlp -o iris.silc --samples 120
    ///   silc compile examples/tiny.mlp --dump-ir all
    ///   silc compile examples/digits.mlp --json
    #[command(verbatim_doc_comment)]
    Compile(CompileArgs),
    /// Train in the bit-exact cleartext simulator: what the encrypted run will
    /// produce, epoch by epoch, optionally beside a float32 reference.
    ///
    /// Examples:
    ///   silc simulate examples/iris.mlp --train examples/data/iris_train.csv --test examples/data/iris_test.csv
    ///   silc simulate examples/digits.mlp --train examples/data/digits_train.csv \
    ///        --test examples/data/digits_test.csv --float --plot digits.svg
    ///   silc simulate examples/mnist.mlp --train mnist/train-images-idx3-ubyte.gz \
    ///        --test mnist/t10k-images-idx3-ubyte.gz --epochs 1 --json
    #[command(verbatim_doc_comment)]
    Simulate(simulate::SimulateArgs),
    /// Client: generate the keys for a compiled model, choosing the cheapest
    /// tfhe-rs parameter set whose noise bound covers the circuit.
    ///
    /// Example:
    ///   silc keygen model.silc -o keys/
    #[cfg(feature = "fhe")]
    #[command(verbatim_doc_comment)]
    Keygen(fhe::KeygenArgs),
    /// Client: quantize and encrypt a training set and the initial weights
    /// into a job file for the server (ciphertexts stored seeded).
    ///
    /// Example:
    ///   silc encrypt model.silc --key keys/client.key --train examples/data/iris_train.csv -o enc.bin
    #[cfg(feature = "fhe")]
    #[command(verbatim_doc_comment)]
    Encrypt(fhe::EncryptArgs),
    /// Server: train on the encrypted job, with no secret key.
    ///
    /// Examples:
    ///   silc run --data enc.bin -o trained.bin
    ///   silc run --data enc.bin -o trained.bin --threads 2 --checkpoint-every 10
    ///   silc run --data enc.bin -o trained.bin --resume      # after an interruption
    ///
    /// On many machines (silc built with `--features mpi`), one rank per machine;
    /// rank 0 reads the job and writes the outputs; they decrypt as one process's would:
    ///   mpirun --hostfile hosts --map-by node --bind-to none silc run --data enc.bin -o trained.bin
    #[cfg(feature = "fhe")]
    #[command(verbatim_doc_comment)]
    Run(fhe::RunArgs),
    /// Client: decrypt trained weights to JSON (integers, scales, real weights).
    ///
    /// Example:
    ///   silc decrypt trained.bin --key keys/client.key -o weights.json
    #[cfg(feature = "fhe")]
    #[command(verbatim_doc_comment)]
    Decrypt(fhe::DecryptArgs),
    /// Measure the encrypted engine's efficiency: raw tfhe-rs PBS throughput at
    /// the circuit's parameters against the throughput achieved in training steps.
    ///
    /// Two raw figures, from the same run: independent bootstraps one by one
    /// (tfhe-rs's `apply_lookup_table` on every thread), and the same
    /// bootstraps batched as the engine runs them (one pass over the keys per
    /// batch of up to 8). The engine's ratio to each is printed, and the share
    /// of its time spent in bootstrap waves.
    ///
    /// Example:
    ///   silc bench-engine model.silc --steps 3 --samples 120   # and the whole training, projected
    #[cfg(feature = "fhe")]
    #[command(verbatim_doc_comment)]
    BenchEngine(fhe::BenchArgs),
    /// Accuracy of decrypted (or simulated) weights on test data.
    ///
    /// Example:
    ///   silc eval weights.json --test examples/data/iris_test.csv
    #[command(verbatim_doc_comment)]
    Eval(eval::EvalArgs),
}

#[derive(clap::Args)]
pub struct CompileArgs {
    /// The model description (`.mlp`).
    pub model: PathBuf,
    /// Write the compiled circuit here (a versioned `.silc` artifact).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the IR after a stage (high, rns, karatsuba, scale, nonlinear,
    /// schedule) or after every stage (`all`).
    #[arg(long, value_name = "STAGE")]
    pub dump_ir: Option<String>,
    /// Print the report as one JSON object instead of text (IR dumps then go
    /// to standard error).
    #[arg(long)]
    pub json: bool,
    /// What to do when the range/noise checker finds a violation.
    #[arg(long, value_enum, default_value_t = CheckArg::Deny)]
    pub check: CheckArg,
    /// Training samples per epoch, for the per-epoch and total figures
    /// (default: one batch per epoch).
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Leave the bootstraps that read the samples alone to the server at
    /// every step, instead of the client computing them once at encryption
    /// and uploading them beside each sample (the default; see
    /// docs/arithmetic.md, "Forms of the samples from the client").
    #[arg(long)]
    pub server_forms: bool,
    /// Multiply the sample's own values by external products: the residue
    /// products of one operand pair (the first layer's forward product and
    /// weight gradient, chunks included) become one sum at the lcm of their
    /// moduli, wherever the noise bound allows. The client uploads each
    /// sample's features and bias column as GGSW ciphertexts (64 KiB each)
    /// and the server refreshes each other operand once with a second,
    /// precise bootstrapping key (docs/external-products.md): fewer
    /// bootstraps for a larger upload, and `silc keygen` adds the precise
    /// key to server.key (about 85 MB more).
    ///
    /// `auto` (the default) takes them at bits 4, the only precision their
    /// noise is modelled for, and the report says so; `on` (or the bare
    /// flag) asks for them and is an error at other bits; `off` keeps every
    /// product on tables. On the shipped examples at bits 4 a sample's
    /// upload grows 1.3 to 1.7 times for 1.1 to 2.1 times fewer bootstraps.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ExternalArg::Auto, num_args = 0..=1,
          default_missing_value = "on")]
    pub external_products: ExternalArg,
    /// Use this residue product method wherever it is feasible, instead of the
    /// cheapest (for comparisons).
    #[arg(long, value_enum, value_name = "METHOD")]
    pub product: Option<ProductArg>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum ExternalArg {
    /// At bits 4 (where they are modelled).
    Auto,
    /// Always (bits 4 only).
    On,
    /// Never: every product on tables.
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CheckArg {
    /// A violation is an error (exit status 2).
    Deny,
    /// Report violations and carry on.
    Warn,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ProductArg {
    /// `T[a·m + b] = a·b mod m`: one table, small moduli only.
    Packed,
    /// `⌊(a+b)²/4⌋ − ⌊(a−b)²/4⌋`: two tables per product.
    QuarterSquares,
    /// `C(a+b, 2) − C(a, 2) − C(b, 2)`: one table per product, the operands'
    /// own terms summed once per row and column.
    Binomial,
    /// The same on the raw operands, whose residues are then not needed.
    RawBinomial,
    /// Limb products, three tables.
    Karatsuba,
    /// Quarter squares of the raw operands, modulo 2^p or 2^(p+1), summed
    /// with no reduction.
    Wrapping,
    /// Binomial terms of the raw operands, modulo 2^p or 2^(p+1).
    WrappingBinomial,
}

/// Writes to standard output; a closed pipe (`silc ... | head`) ends the
/// program quietly instead of panicking.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// A progress bar on standard error for long work (hidden when standard
/// error is not a terminal): `what`, the bar, counts in `unit`, elapsed
/// time and an ETA.
#[cfg(feature = "fhe")]
pub fn progress(len: u64, what: &str, unit: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let template = format!("{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{elapsed}} elapsed, ETA {{eta}}");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).expect("template").progress_chars("=> "));
    bar
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compile(args) => compile::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        #[cfg(feature = "fhe")]
        Command::Keygen(args) => fhe::keygen(&args),
        #[cfg(feature = "fhe")]
        Command::Encrypt(args) => fhe::encrypt(&args),
        #[cfg(feature = "fhe")]
        Command::Run(args) => fhe::run(&args),
        #[cfg(feature = "fhe")]
        Command::Decrypt(args) => fhe::decrypt(&args),
        #[cfg(feature = "fhe")]
        Command::BenchEngine(args) => fhe::bench(&args),
        Command::Eval(args) => eval::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // Empty: said already (by rank 0 of an MPI job).
            eprint!("{message}");
            if !message.is_empty() && !message.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(2)
        }
    }
}
