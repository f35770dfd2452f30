//! One job on several MPI ranks (`--features mpi`, OpenMPI's `mpirun` on
//! the PATH): the tiny model trained encrypted by `mpirun -n 2` and `-n 3`
//! (oversubscribed on a 2-core machine) decrypts to the very integers of a
//! single-process run, a checkpoint written by rank 0 resumes on another
//! number of ranks, and a bad job stops every rank with one clear error.
//!
//! The ciphertexts themselves may differ in their noise bits between any
//! two runs, one process each included: tfhe-rs picks its FFT algorithm by
//! timing them at start-up (docs/scale-out.md).
//!
//! Run: `cargo test -p silc-cli --features mpi --test mpi_cli` (.ci/run does).

#![cfg(feature = "mpi")]

use std::process::Command;

mod common;

use common::{default_job, encrypted_setup, integers, ok, output};

/// `mpirun -n RANKS silc ARGS`: exit code, stdout, stderr.
fn mpirun(ranks: usize, args: &[&str]) -> (i32, String, String) {
    output(
        Command::new("mpirun")
            .args(["--oversubscribe", "-n", &ranks.to_string(), env!("CARGO_BIN_EXE_silc")])
            .args(args)
            // OpenMPI refuses to start as root unless told twice (CI runs as root).
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            // Shared memory without cross-process copies (ptrace), which some
            // containers forbid; the test checks results, not speed.
            .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none"),
    )
}

fn mpi_ok(ranks: usize, args: &[&str]) -> String {
    let (code, out, err) = mpirun(ranks, args);
    assert_eq!(code, 0, "mpirun -n {ranks} silc {args:?} failed:\n{out}\n{err}");
    out
}

#[test]
fn any_number_of_ranks_trains_the_weights_of_one_process() {
    let dir = encrypted_setup("mpi");
    let p = |f: &str| dir.join(f).display().to_string();
    let out = ok(&["run", "--data", &p("enc.bin"), "-o", &p("one.bin")]);
    assert!(!out.contains("MPI"), "a plain run reports no MPI traffic: {out}");

    let out =
        mpi_ok(2, &["run", "--data", &p("enc.bin"), "-o", &p("two.bin"), "--threads", "1", "--checkpoint-every", "3"]);
    assert!(out.contains("on 2 ranks × 1 thread"), "{out}");
    assert!(out.contains("KiB per bootstrap"), "rank 0 reports the traffic: {out}");
    assert_eq!(out.matches("trained ").count(), 1, "only rank 0 reports: {out}");
    let out = mpi_ok(3, &["run", "--data", &p("enc.bin"), "-o", &p("three.bin"), "--threads", "1"]);
    assert!(out.contains("on 3 ranks × 1 thread"), "{out}");

    // Rank 0 of the 2-rank run wrote a checkpoint after step 3 of 4; 3 ranks
    // resume from it and run step 4.
    assert!(dir.join("two.bin.ckpt").exists(), "rank 0 writes checkpoints");
    std::fs::copy(dir.join("two.bin.ckpt"), dir.join("resumed.bin.ckpt")).unwrap();
    let out = mpi_ok(3, &["run", "--data", &p("enc.bin"), "-o", &p("resumed.bin"), "--resume"]);
    assert!(out.contains("resuming at epoch 1, step 3"), "{out}");
    assert!(out.contains("trained 1 steps"), "{out}");

    let decrypt = |f: &str| {
        ok(&["decrypt", &p(&format!("{f}.bin")), "--key", &p("keys/client.key"), "-o", &p(&format!("{f}.json"))]);
        integers(&dir.join(format!("{f}.json")))
    };
    let one = decrypt("one");
    assert_eq!(one, decrypt("two"), "2 ranks ≠ 1 process");
    assert_eq!(one, decrypt("three"), "3 ranks ≠ 1 process");
    assert_eq!(one, decrypt("resumed"), "resumed on 3 ranks ≠ 1 process");
    std::fs::remove_dir_all(&dir).ok();
}

/// The default circuit at bits 4 (external products): each rank refreshes
/// the operands of its share of an `ext_dot`'s columns and computes their
/// dot products, and 2 ranks train the integers of one process.
#[test]
fn external_products_over_ranks_train_the_weights_of_one_process() {
    let dir = encrypted_setup("mpi-ext");
    let p = |f: &str| dir.join(f).display().to_string();
    default_job(&dir);
    ok(&["run", "--data", &p("x.bin"), "-o", &p("one.bin")]);
    let out = mpi_ok(2, &["run", "--data", &p("x.bin"), "-o", &p("two.bin"), "--threads", "1"]);
    assert!(out.contains("on 2 ranks × 1 thread"), "{out}");
    // Each of tiny's `ext_dot`s has one column (the logit difference), so
    // rank 1 alone refreshes it and rank 0 takes its answers from the
    // exchange.
    let decrypt = |f: &str| {
        ok(&["decrypt", &p(&format!("{f}.bin")), "--key", &p("xkeys/client.key"), "-o", &p(&format!("{f}.json"))]);
        integers(&dir.join(format!("{f}.json")))
    };
    assert_eq!(decrypt("one"), decrypt("two"), "2 ranks ≠ 1 process with external products");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_job_stops_every_rank_with_one_error() {
    let dir = encrypted_setup("mpi-bad");
    let p = |f: &str| dir.join(f).display().to_string();
    let job = std::fs::read(dir.join("enc.bin")).unwrap();
    std::fs::write(dir.join("cut.bin"), &job[..job.len() / 2]).unwrap();
    let (code, _, err) = mpirun(3, &["run", "--data", &p("cut.bin"), "-o", &p("x.bin")]);
    assert_ne!(code, 0);
    assert_eq!(err.matches("is truncated or corrupted").count(), 1, "rank 0 alone says why:\n{err}");
    let (code, _, err) = mpirun(2, &["run", "--data", &p("keys/client.key"), "-o", &p("x.bin")]);
    assert_ne!(code, 0);
    assert_eq!(err.matches("the server must never be given the secret key").count(), 1, "{err}");
    assert!(!dir.join("x.bin").exists(), "no output after an error");
    std::fs::remove_dir_all(&dir).ok();
}
