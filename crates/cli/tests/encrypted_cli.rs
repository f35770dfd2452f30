//! The client/server walkthrough through the `silc` binary, encrypted for
//! real at 4 bits: keygen → encrypt → run → decrypt equals `simulate`, a
//! killed run resumes to the same weights, and bad files are clear errors.

#![cfg(feature = "fhe")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{default_job, encrypted_setup, integers, ok, root, silc};

fn setup(tag: &str) -> PathBuf {
    encrypted_setup(&format!("enc-{tag}"))
}

/// Starts `silc run` on `data` writing `out` with a checkpoint every `every`
/// steps, and kills it as soon as its first checkpoint exists (before it
/// finishes).
fn kill_after_first_checkpoint(data: &str, out: &std::path::Path, every: usize) {
    let ckpt = PathBuf::from(format!("{}.ckpt", out.display()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_silc"))
        .args(["run", "--data", data, "-o", &out.display().to_string(), "--checkpoint-every", &every.to_string()])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ckpt.exists() && start.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(ckpt.exists(), "no checkpoint was written");
    assert!(!out.exists(), "the killed run must not have finished");
}

#[test]
fn walkthrough_equals_simulate_and_resume_equals_an_uninterrupted_run() {
    let dir = setup("walk");
    let p = |f: &str| dir.join(f).display().to_string();
    let out = ok(&["run", "--data", &p("enc.bin"), "-o", &p("trained.bin"), "--threads", "2"]);
    assert!(out.contains("PBS/s"), "{out}");
    ok(&["decrypt", &p("trained.bin"), "--key", &p("keys/client.key"), "-o", &p("weights.json")]);
    ok(&["simulate", "examples/tiny.mlp", "--train", &p("two.csv"), "--test", &p("two.csv"), "--save", &p("sim.json")]);
    assert_eq!(integers(&dir.join("weights.json")), integers(&dir.join("sim.json")), "decrypted ≠ simulated");
    let acc = ok(&["eval", &p("weights.json"), "--test", &p("two.csv"), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&acc).unwrap();
    assert!((0.0..=1.0).contains(&v["accuracy"].as_f64().unwrap()));

    // Kill a checkpointing run once its first checkpoint exists, then resume.
    kill_after_first_checkpoint(&p("enc.bin"), &dir.join("again.bin"), 1);
    let out = ok(&["run", "--data", &p("enc.bin"), "-o", &p("again.bin"), "--resume"]);
    assert!(out.contains("resuming at epoch 1, step 1"), "{out}");
    ok(&["decrypt", &p("again.bin"), "--key", &p("keys/client.key"), "-o", &p("again.json")]);
    assert_eq!(integers(&dir.join("again.json")), integers(&dir.join("weights.json")), "resumed ≠ uninterrupted");
    std::fs::remove_dir_all(&dir).ok();
}

/// `rounding dither;` (`tests/in/dither4.mlp`, two epochs of two steps):
/// the dither is salted by the step's index from the start of the run, so a
/// run killed after its first epoch and resumed draws the same dither as
/// the simulator, and ends at its integers: the last weights and the first
/// epoch's, which the default ensemble keeps and the checkpoint carries.
#[test]
fn a_dithered_run_resumed_after_its_first_epoch_equals_simulate() {
    let dir = setup("dither");
    let p = |f: &str| dir.join(f).display().to_string();
    let model = std::fs::read_to_string(root().join("tests/in/dither4.mlp")).unwrap();
    std::fs::write(dir.join("d.mlp"), model.replace("epochs 1;", "epochs 2;")).unwrap();
    let compiled = ok(&["compile", &p("d.mlp"), "-o", &p("d.silc")]);
    assert!(compiled.contains("dithered on 1 of 2 weight gradients"), "{compiled}");
    ok(&["keygen", &p("d.silc"), "-o", &p("dkeys")]);
    ok(&["encrypt", &p("d.silc"), "--key", &p("dkeys/client.key"), "--train", &p("two.csv"), "-o", &p("d.bin")]);
    kill_after_first_checkpoint(&p("d.bin"), &dir.join("dt.bin"), 2);
    let out = ok(&["run", "--data", &p("d.bin"), "-o", &p("dt.bin"), "--resume"]);
    assert!(out.contains("resuming at epoch 2, step 0"), "{out}");
    assert!(out.contains("kept the weights after epoch 1 for the client's ensemble"), "{out}");
    ok(&["decrypt", &p("dt.bin"), "--key", &p("dkeys/client.key"), "-o", &p("dt.json")]);
    ok(&["simulate", &p("d.mlp"), "--train", &p("two.csv"), "--test", &p("two.csv"), "--save", &p("ds.json")]);
    // Two epochs keep both epochs' weights (the default ensemble): the
    // first epoch's came back from the checkpoint.
    let (enc, sim) = (integers(&dir.join("dt.json")), integers(&dir.join("ds.json")));
    assert_eq!(enc, sim, "resumed dithered run ≠ simulated");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("dt.json")).unwrap()).unwrap();
    assert_eq!(v["ensemble"][0]["epoch"], 1, "{v}");
    let acc = ok(&["eval", &p("dt.json"), "--test", &p("two.csv"), "--model", &p("d.mlp"), "--json"]);
    let sim = ok(&["simulate", &p("d.mlp"), "--train", &p("two.csv"), "--test", &p("two.csv"), "--json"]);
    let (acc, sim): (serde_json::Value, serde_json::Value) =
        (serde_json::from_str(&acc).unwrap(), serde_json::from_str(&sim).unwrap());
    assert_eq!((&acc["accuracy"], &acc["ensemble"]), (&sim["test_accuracy"], &serde_json::json!(2)), "{acc} {sim}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_files_are_clear_errors() {
    let dir = setup("bad");
    let p = |f: &str| dir.join(f).display().to_string();
    // A truncated job.
    let job = std::fs::read(dir.join("enc.bin")).unwrap();
    std::fs::write(dir.join("cut.bin"), &job[..job.len() / 2]).unwrap();
    let (code, _, err) = silc(&["run", "--data", &p("cut.bin"), "-o", &p("x.bin")]);
    assert_eq!(code, 2);
    assert!(err.contains("truncated"), "{err}");
    assert!(!dir.join("x.bin").exists(), "no output after an error");
    // A newer format version.
    let mut newer = job.clone();
    newer[8] = 9;
    std::fs::write(dir.join("new.bin"), &newer).unwrap();
    let (_, _, err) = silc(&["run", "--data", &p("new.bin"), "-o", &p("x.bin")]);
    assert!(err.contains("format version 9"), "{err}");
    // The secret key handed to the server.
    let (code, _, err) = silc(&["run", "--data", &p("keys/client.key"), "-o", &p("x.bin")]);
    assert_eq!(code, 2);
    assert!(err.contains("is a client key"), "{err}");
    // A key made for another model.
    ok(&["compile", "tests/in/hidden5.mlp", "-o", &p("other.silc")]);
    let (code, _, err) = silc(&[
        "encrypt",
        &p("other.silc"),
        "--key",
        &p("keys/client.key"),
        "--train",
        &p("two.csv"),
        "-o",
        &p("y.bin"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("was made for another circuit"), "{err}");
    // A model file where a job is expected.
    let (_, _, err) = silc(&["run", "--data", &p("tiny.silc"), "-o", &p("x.bin")]);
    assert!(err.contains("this is a compiled model"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_engine_brackets_each_step_with_raw_passes_and_projects_the_training() {
    let dir = std::env::temp_dir().join(format!("silc-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("tiny.silc").display().to_string();
    ok(&["compile", "examples/tiny.mlp", "-o", &model]);
    let out = ok(&["bench-engine", &model, "--steps", "1", "--raw", "32", "--samples", "8"]);
    // One raw pass before the step and one after it.
    assert!(out.contains("median of 2 passes of 32 independent bootstraps one by one"), "{out}");
    // "efficiency ratio: R of raw one by one, B of batched"
    let ratios: Vec<f64> = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("efficiency ratio: "))
        .map(|r| r.split(", ").filter_map(|part| part.split(' ').next()?.parse().ok()).collect())
        .unwrap_or_else(|| panic!("no efficiency ratio in {out}"));
    assert_eq!(ratios.len(), 2, "{out}");
    assert!(ratios.iter().all(|r| r.is_finite() && *r > 0.0), "{out}");
    assert!(out.contains("the same bootstraps batched: "), "{out}");
    // tiny: batch 2, 1 epoch, so 8 samples are 4 steps.
    assert!(out.contains("4 steps (8 samples, batch 2, 1 epochs)"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The default circuit at bits 4 takes external products: the keys carry
/// the precise bootstrapping key, the job the samples' GGSW ciphertexts,
/// and the run's external products give exactly the simulator's integers;
/// keys without the precise key are refused, and `bench-engine` prices the
/// refreshes.
#[test]
fn external_products_walkthrough_equals_simulate() {
    let dir = setup("ext");
    let p = |f: &str| dir.join(f).display().to_string();
    let [_, keys, enc] = default_job(&dir);
    assert!(keys.contains("server.key"), "{keys}");
    // tiny: 2 features and the bias's constant 1 per sample.
    assert!(enc.contains("24 GGSW ciphertexts for the external products"), "{enc}");
    ok(&["run", "--data", &p("x.bin"), "-o", &p("xt.bin")]);
    ok(&["decrypt", &p("xt.bin"), "--key", &p("xkeys/client.key"), "-o", &p("xw.json")]);
    ok(&["simulate", "examples/tiny.mlp", "--train", &p("two.csv"), "--test", &p("two.csv"), "--save", &p("sim.json")]);
    assert_eq!(integers(&dir.join("xw.json")), integers(&dir.join("sim.json")), "external products ≠ simulated");

    // Keys of the model compiled with `--external-products off` (no precise
    // key) are another circuit's.
    let key = std::fs::read(dir.join("keys/server.key")).unwrap();
    std::fs::create_dir_all(dir.join("mixed")).unwrap();
    std::fs::write(dir.join("mixed/server.key"), key).unwrap();
    std::fs::copy(dir.join("xkeys/client.key"), dir.join("mixed/client.key")).unwrap();
    let (code, _, err) =
        silc(&["encrypt", &p("x.silc"), "--key", &p("mixed/client.key"), "--train", &p("two.csv"), "-o", &p("y.bin")]);
    assert_eq!(code, 2);
    assert!(err.contains("was made for another circuit"), "{err}");

    let out = ok(&["bench-engine", &p("x.silc"), "--steps", "1", "--raw", "16"]);
    assert!(out.contains("refreshes with the precise key"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}
