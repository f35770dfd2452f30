//! Helpers shared by the CLI tests: the repository root and running `silc`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `cmd` from the repository root: exit code, stdout, stderr.
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.current_dir(root()).output().expect("the command starts");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs `silc` from the repository root: exit code, stdout, stderr.
pub fn silc(args: &[&str]) -> (i32, String, String) {
    output(Command::new(env!("CARGO_BIN_EXE_silc")).args(args))
}

/// The weight integers, layer by layer, of a `weights.json` (from
/// `decrypt` or `simulate --save`).
pub fn integers(path: &std::path::Path) -> Vec<Vec<i64>> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let layers = |set: &serde_json::Value| -> Vec<Vec<i64>> {
        set.as_array().unwrap().iter().map(|l| serde_json::from_value(l["integers"].clone()).unwrap()).collect()
    };
    let mut all = layers(&v["layers"]);
    for m in v["ensemble"].as_array().map(Vec::as_slice).unwrap_or_default() {
        all.push(vec![m["epoch"].as_i64().unwrap()]);
        all.extend(layers(&m["layers"]));
    }
    all
}

/// Runs `silc` and expects success; returns standard output.
pub fn ok(args: &[&str]) -> String {
    let (code, out, err) = silc(args);
    assert_eq!(code, 0, "silc {args:?} failed:\n{err}");
    out
}

/// A fresh folder `silc-TAG-PID` with a compiled tiny model (`tiny.silc`),
/// keys (`keys/`), a small CSV (`two.csv`) and its encrypted job (`enc.bin`).
pub fn encrypted_setup(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("silc-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("a,b,label\n");
    for i in 0..8 {
        csv.push_str(&format!("{},{},{}\n", (i as f64) * 0.7 - 2.0, ((i * 5) % 7) as f64 * 0.3, i % 2));
    }
    std::fs::write(dir.join("two.csv"), csv).unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    // Every product on tables; `external_products_walkthrough_equals_simulate`
    // runs the default circuit, with external products.
    ok(&["compile", "examples/tiny.mlp", "--external-products", "off", "-o", &p("tiny.silc")]);
    ok(&["keygen", &p("tiny.silc"), "-o", &p("keys")]);
    ok(&["encrypt", &p("tiny.silc"), "--key", &p("keys/client.key"), "--train", &p("two.csv"), "-o", &p("enc.bin")]);
    dir
}

/// In `dir` (which holds `two.csv`): tiny compiled by default, so with
/// external products (`x.silc`), its keys (`xkeys/`) and its encrypted job
/// (`x.bin`). Returns what `compile`, `keygen` and `encrypt` printed.
pub fn default_job(dir: &std::path::Path) -> [String; 3] {
    let p = |f: &str| dir.join(f).display().to_string();
    let report = ok(&["compile", "examples/tiny.mlp", "-o", &p("x.silc")]);
    assert!(report.contains("external     on by default at bits 4"), "{report}");
    let keys = ok(&["keygen", &p("x.silc"), "-o", &p("xkeys")]);
    let enc =
        ok(&["encrypt", &p("x.silc"), "--key", &p("xkeys/client.key"), "--train", &p("two.csv"), "-o", &p("x.bin")]);
    [report, keys, enc]
}
