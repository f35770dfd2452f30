//! Files you can trust, through the `silc` binary at 4 bits: corrupted jobs,
//! keys and trained files are refused (exit status 2, the section named, no
//! output); files that do not belong together are refused; a command killed
//! with SIGKILL leaves either no output or a complete one.

#![cfg(feature = "fhe")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::{encrypted_setup, ok, root, silc};

/// The tiny model's encrypted setup and (if `train`) its trained file.
fn setup(tag: &str, train: bool) -> PathBuf {
    let dir = encrypted_setup(&format!("trust-{tag}"));
    if train {
        let p = |f: &str| dir.join(f).display().to_string();
        ok(&["run", "--data", &p("enc.bin"), "-o", &p("trained.bin")]);
    }
    dir
}

/// `file` with 4 bytes overwritten at `at`, written to `to`.
fn corrupt(file: &Path, to: &Path, at: usize) {
    let mut b = std::fs::read(file).unwrap();
    for (k, x) in b[at..at + 4].iter_mut().enumerate() {
        *x ^= 0xa5 ^ k as u8;
    }
    std::fs::write(to, b).unwrap();
}

/// Eight places spread over a file of `len` bytes, or four.
fn places(len: usize, n: usize) -> Vec<usize> {
    (0..n).map(|i| ((2 * i + 1) * len / (2 * n)).min(len - 4)).collect()
}

fn refused(args: &[&str], out: &Path, what: &str) {
    let (code, _, err) = silc(args);
    assert_eq!(code, 2, "{what}: silc {args:?} was not refused:\n{err}");
    assert!(err.contains("section") || err.contains("header") || err.contains("end mark"), "{what}: {err}");
    assert!(!out.exists(), "{what}: an output was written");
}

#[test]
fn corrupted_jobs_keys_and_trained_files_are_refused() {
    let dir = setup("corrupt", true);
    let p = |f: &str| dir.join(f).display().to_string();
    let len = |f: &str| std::fs::metadata(dir.join(f)).unwrap().len() as usize;
    for (i, at) in places(len("enc.bin"), 8).into_iter().enumerate() {
        corrupt(&dir.join("enc.bin"), &dir.join("bad.bin"), at);
        refused(
            &["run", "--data", &p("bad.bin"), "-o", &p("out.bin")],
            &dir.join("out.bin"),
            &format!("job @{at} ({i})"),
        );
    }
    // A corrupted client key, beside an intact server key and stats.
    std::fs::create_dir_all(dir.join("badkeys")).unwrap();
    for f in ["server.key", "data.stats.json"] {
        std::fs::copy(dir.join("keys").join(f), dir.join("badkeys").join(f)).unwrap();
    }
    for at in places(len("keys/client.key"), 4) {
        corrupt(&dir.join("keys/client.key"), &dir.join("badkeys/client.key"), at);
        let args = ["decrypt", &p("trained.bin"), "--key", &p("badkeys/client.key"), "-o", &p("w.json")];
        refused(&args, &dir.join("w.json"), &format!("client key @{at}"));
    }
    for at in places(len("trained.bin"), 4) {
        corrupt(&dir.join("trained.bin"), &dir.join("badtrained.bin"), at);
        let args = ["decrypt", &p("badtrained.bin"), "--key", &p("keys/client.key"), "-o", &p("w.json")];
        refused(&args, &dir.join("w.json"), &format!("trained @{at}"));
    }
    // The body of the samples' section: the error names it and its bytes.
    let job = std::fs::read(dir.join("enc.bin")).unwrap();
    corrupt(&dir.join("enc.bin"), &dir.join("bad.bin"), job.len() * 3 / 5);
    let (_, _, err) = silc(&["run", "--data", &p("bad.bin"), "-o", &p("out.bin")]);
    assert!(err.contains("is corrupted: its checksum does not match") && err.contains("(bytes "), "{err}");
    ok(&["decrypt", &p("trained.bin"), "--key", &p("keys/client.key"), "-o", &p("w.json")]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn files_that_do_not_belong_together_are_refused() {
    let dir = setup("belong", true);
    let p = |f: &str| dir.join(f).display().to_string();
    // Another key pair for the same circuit.
    ok(&["keygen", &p("tiny.silc"), "-o", &p("keys2")]);
    let (code, _, err) = silc(&["decrypt", &p("trained.bin"), "--key", &p("keys2/client.key"), "-o", &p("w.json")]);
    assert_eq!(code, 2);
    assert!(err.contains("was trained under another key pair than") && err.contains("keys2/client.key"), "{err}");
    assert!(!dir.join("w.json").exists());
    // A client key with the server key of another pair.
    std::fs::copy(dir.join("keys2/server.key"), dir.join("keys/server.key")).unwrap();
    let (code, _, err) = silc(&[
        "encrypt",
        &p("tiny.silc"),
        "--key",
        &p("keys/client.key"),
        "--train",
        &p("two.csv"),
        "-o",
        &p("e2.bin"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("are not one key pair"), "{err}");
    // A checkpoint of another job for the same circuit.
    ok(&["encrypt", &p("tiny.silc"), "--key", &p("keys2/client.key"), "--train", &p("two.csv"), "-o", &p("e2.bin")]);
    ok(&["run", "--data", &p("e2.bin"), "-o", &p("t2.bin"), "--checkpoint-every", "1"]);
    std::fs::copy(dir.join("t2.bin.ckpt"), dir.join("trained.bin.ckpt")).unwrap();
    let (code, _, err) = silc(&["run", "--data", &p("enc.bin"), "-o", &p("trained.bin"), "--resume"]);
    assert_eq!(code, 2);
    assert!(err.contains("is a checkpoint of another job") && err.contains("enc.bin"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `args`, kills it with SIGKILL after `after`, and says whether it had
/// finished on its own.
fn kill_after(args: &[&str], after: Duration) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_silc"))
        .args(args)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let done = child.try_wait().unwrap().is_some();
    child.kill().ok(); // SIGKILL on Unix
    child.wait().unwrap();
    done
}

#[test]
fn killed_commands_leave_no_partial_output() {
    let dir = setup("kill", true);
    let p = |f: &str| dir.join(f).display().to_string();
    let delays = [0u64, 30, 80, 150, 300, 600, 1200];
    // Seeded ciphertexts have a fixed size: a complete job is as long as
    // the reference one (and `run` below verifies one whole).
    let job_len = std::fs::metadata(dir.join("enc.bin")).unwrap().len();
    for &ms in &delays {
        let out = dir.join("k.bin");
        let _ = std::fs::remove_file(&out);
        let finished = kill_after(
            &["encrypt", &p("tiny.silc"), "--key", &p("keys/client.key"), "--train", &p("two.csv"), "-o", &p("k.bin")],
            Duration::from_millis(ms),
        );
        if out.exists() {
            let len = std::fs::metadata(&out).unwrap().len();
            assert_eq!(len, job_len, "encrypt killed at {ms} ms (finished: {finished}) left a partial job");
        }
    }
    let trained_len = std::fs::metadata(dir.join("trained.bin")).unwrap().len();
    for &ms in &delays {
        let out = dir.join("r.bin");
        let _ = std::fs::remove_file(&out);
        kill_after(&["run", "--data", &p("enc.bin"), "-o", &p("r.bin")], Duration::from_millis(ms * 5));
        if out.exists() {
            assert_eq!(std::fs::metadata(&out).unwrap().len(), trained_len, "run killed at {} ms", ms * 5);
        }
    }
    for &ms in &delays {
        let out = dir.join("d.json");
        let _ = std::fs::remove_file(&out);
        kill_after(
            &["decrypt", &p("trained.bin"), "--key", &p("keys/client.key"), "-o", &p("d.json")],
            Duration::from_millis(ms / 2),
        );
        if out.exists() {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("complete JSON");
            assert!(v["layers"].is_array());
        }
    }
    // No temporary file of a killed write is left behind once a later write
    // of the same output succeeds.
    ok(&["decrypt", &p("trained.bin"), "--key", &p("keys/client.key"), "-o", &p("d.json")]);
    ok(&["encrypt", &p("tiny.silc"), "--key", &p("keys/client.key"), "--train", &p("two.csv"), "-o", &p("k.bin")]);
    ok(&["run", "--data", &p("k.bin"), "-o", &p("k-trained.bin")]);
    let stray: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .filter(|n| n.starts_with(".d.json") || n.starts_with(".k.bin"))
        .collect();
    assert!(stray.is_empty(), "stale temporary files: {stray:?}");
    std::fs::remove_dir_all(&dir).ok();
}
