//! The `silc` binary end to end: exit statuses, located errors, JSON report,
//! dumps and the artifact.

mod common;

use common::{root, silc};

#[test]
fn every_example_compiles_with_a_json_report() {
    for name in ["tiny", "iris", "wine", "breast_cancer", "digits", "mnist"] {
        let path = format!("examples/{name}.mlp");
        let (code, out, err) = silc(&["compile", &path, "--json"]);
        assert_eq!(code, 0, "{name}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        for key in ["precision", "pbs_per_step", "pbs_per_epoch", "estimated_seconds_per_step", "violations"] {
            assert!(v.get(key).is_some(), "{name}: missing `{key}`");
        }
        assert_eq!(v["violations"], 0, "{name}");
        assert!(v["pbs_per_step"].as_u64().unwrap() > 0);
        assert!(!v["rns"].as_array().unwrap().is_empty(), "{name}: the report lists the moduli");
        // The statements share out the whole step: every bootstrap and every
        // product belongs to one of them, and each dense layer has products.
        let by = v["cost"]["by_statement"].as_array().unwrap();
        let sum = |key: &str| by.iter().map(|s| s[key].as_u64().unwrap()).sum::<u64>();
        assert_eq!(sum("pbs"), v["pbs_per_step"].as_u64().unwrap(), "{name}");
        assert_eq!(sum("products"), v["products_per_step"].as_u64().unwrap(), "{name}");
        let src = std::fs::read_to_string(root().join(&path)).unwrap();
        let dense = src.lines().filter(|l| l.trim_start().starts_with("dense")).count();
        assert_eq!(by.iter().filter(|s| s["products"].as_u64().unwrap() > 0).count(), dense, "{name}: {by:?}");
    }
}

/// The text report quotes each statement beside what it costs.
#[test]
fn the_report_shares_the_step_out_by_statement() {
    let (code, out, err) = silc(&["compile", "examples/iris.mlp"]);
    assert_eq!(code, 0, "{err}");
    let at = out.find("by statement").expect("a by-statement section");
    let section = &out[at..];
    for statement in ["`dense 8 relu;`", "`dense 3;`", "`loss cross_entropy;`", "`optimizer sgd;`"] {
        assert!(section.contains(statement), "{statement} missing from:\n{section}");
    }
    assert!(section.contains(" products, "), "{section}");
}

/// A block-scaled model says so in its report, lists each backward product's
/// candidate divisors, and trains in the simulator on the lowered circuit.
#[test]
fn block_scaling_is_reported_and_simulates() {
    let (code, out, err) = silc(&["compile", "tests/in/block5.mlp"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bits 5, batch 1, block scaling"), "{out}");
    assert_eq!(out.matches(", block ÷1 or ÷").count(), 3, "{out}");
    let (code, out, _) = silc(&["compile", "tests/in/block5.mlp", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let blocks: Vec<&serde_json::Value> = v["rns"].as_array().unwrap().iter().map(|r| &r["block_divisors"]).collect();
    assert_eq!(blocks.iter().filter(|b| b.is_array()).count(), 3, "{blocks:?}");
    let iris = std::fs::read_to_string(root().join("examples/iris.mlp")).unwrap();
    let iris = iris.replace("epochs 30;", "epochs 2;").replace("bits 8;", "bits 6;    scaling block;");
    let path = std::env::temp_dir().join(format!("silc-block-{}.mlp", std::process::id()));
    std::fs::write(&path, iris).unwrap();
    let (code, out, err) = silc(&[
        "simulate",
        path.to_str().unwrap(),
        "--train",
        "examples/data/iris_train.csv",
        "--test",
        "examples/data/iris_test.csv",
        "--exact",
        "--json",
    ]);
    std::fs::remove_file(&path).ok();
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["epochs"].as_array().map(|e| e.len()), Some(2), "{out}");
}

#[test]
fn dump_all_shows_every_stage() {
    let (code, out, _) = silc(&["compile", "examples/tiny.mlp", "--dump-ir", "all"]);
    assert_eq!(code, 0);
    for stage in silc_passes::STAGES {
        assert!(out.contains(&format!(";; ---- stage: {stage} ----")), "missing {stage}");
    }
    let (code, _, err) = silc(&["compile", "examples/tiny.mlp", "--dump-ir", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown stage `nope`"), "{err}");
}

#[test]
fn malformed_input_exits_2_with_a_location() {
    for entry in std::fs::read_dir(root().join("tests/in/errors")).unwrap() {
        let path = entry.unwrap().path();
        let rel = path.strip_prefix(root()).unwrap().to_string_lossy().into_owned();
        let (code, out, err) = silc(&["compile", &rel]);
        assert_eq!(code, 2, "{rel}: {err}");
        assert!(out.is_empty(), "{rel}: nothing on stdout");
        assert!(err.contains(&format!("{rel}:")), "{rel}: {err}");
        assert!(err.contains('^'), "{rel}: {err}");
        assert!(!err.contains("panicked"), "{rel}: {err}");
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let (code, _, err) = silc(&["compile", "no/such/model.mlp"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read no/such/model.mlp"), "{err}");
}

#[test]
fn a_width_too_wide_for_the_lowering_points_at_the_statement() {
    let dir = std::env::temp_dir().join(format!("silc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("wide.mlp");
    std::fs::write(
        &model,
        "model wide {\n  input 2;\n  dense 2;\n  loss cross_entropy;\n  optimizer sgd lr=0.5;\n  batch 2;\n  epochs 1;\n  bits 5;\n  quantize activations=5;\n}\n",
    )
    .unwrap();
    let (code, _, err) = silc(&["compile", model.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("wide.mlp:9:3"), "{err}");
    assert!(err.contains("activations width 5 is too wide for bits 5"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_artifact_is_versioned_and_written_whole() {
    let dir = std::env::temp_dir().join(format!("silc-art-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tiny.silc");
    let (code, stdout, err) = silc(&["compile", "examples/tiny.mlp", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("wrote"));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..8], b"SILCMODL");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), 2);
    let head_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[16..16 + head_len]).unwrap();
    assert_eq!(header["parameter_set"], "MESSAGE_2_CARRY_2");
    // The header's BLAKE3 checksum covers everything before it.
    assert_eq!(&bytes[16 + head_len..16 + head_len + 32], blake3::hash(&bytes[..16 + head_len]).as_bytes());
    // One section: tag length, tag `circuit`, u64 length, the circuit text,
    // its checksum; then the end mark (1 + 8 + 32 + 32 bytes).
    let rest = &bytes[16 + head_len + 32..];
    assert_eq!(&rest[..8], b"\x07circuit");
    let circuit_len = u64::from_le_bytes(rest[8..16].try_into().unwrap()) as usize;
    assert_eq!(rest.len(), 16 + circuit_len + 32 + 73, "only the checksum and the end mark after the circuit");
    let circuit = std::str::from_utf8(&rest[16..16 + circuit_len]).unwrap();
    silc_ir::read::read(circuit).expect("the stored circuit parses");
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_teaches_every_flag_with_examples() {
    let (code, out, _) = silc(&["compile", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--output",
        "--dump-ir",
        "--json",
        "--check",
        "--samples",
        "--product",
        "--external-products",
        "silc compile examples/iris.mlp",
    ] {
        assert!(out.contains(flag), "--help lacks {flag}");
    }
}

/// `--external-products`: on by default at bits 4, off by default
/// elsewhere, with the report saying which and why; asked for at bits 5 it
/// is refused at the `bits` statement, with what to change. The upload
/// line counts the GGSW ciphertexts at their own size.
#[test]
fn external_products_by_default_at_bits_4_and_refused_elsewhere() {
    let (code, out, err) = silc(&["compile", "examples/tiny.mlp"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("external     on by default at bits 4: each sample as 3 GGSW ciphertexts of 64 KiB (192 KiB)"),
        "{out}"
    );
    // tiny: 3 GGSW and 7 LWE ciphertexts of 16 KiB per sample.
    assert!(
        out.contains("data         304 KiB per sample: 10 ciphertexts (6 of them forms, 3 of them GGSW of 64 KiB)"),
        "{out}"
    );
    assert!(out.contains("ext_dot"), "{out}");
    let (_, off, _) = silc(&["compile", "examples/tiny.mlp", "--external-products", "off"]);
    assert!(off.contains("external     off (--external-products off)"), "{off}");
    assert!(!off.contains("ext_dot"), "{off}");
    let (_, json, _) = silc(&["compile", "examples/tiny.mlp", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["external_products"], true);
    assert_eq!(v["upload_kib_per_sample"], 304);

    let (code, out, _) = silc(&["compile", "tests/in/block5.mlp"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("external     off by default: they are modelled for bits 4 only, and this model has bits 5"),
        "{out}"
    );
    let (code, _, err) = silc(&["compile", "tests/in/block5.mlp", "--external-products"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("error[E0023]: external products are modelled for bits 4 only, and this model has `bits 5`"),
        "{err}"
    );
    assert!(err.contains("block5.mlp:11:5"), "{err}");
    assert!(err.contains("without external products (`--external-products off`)"), "{err}");
}

/// A model that cannot be built at its precision is refused with the
/// product, its span, what the precision can cover, and what to change.
/// (MNIST compiles at bits 4 since products are cut into chunks; 8 000
/// inputs span 224 029 values, past 8 chunks of 3 360.)
#[test]
fn a_product_too_wide_for_its_bits_says_what_to_change() {
    let wide = std::fs::read_to_string(root().join("examples/mnist.mlp"))
        .unwrap()
        .replace("bits 8;", "bits 4;")
        .replace("input 784;", "input 8000;");
    let path = std::env::temp_dir().join(format!("silc-wide4-{}.mlp", std::process::id()));
    std::fs::write(&path, wide).unwrap();
    let (code, out, err) = silc(&["compile", path.to_str().unwrap()]);
    std::fs::remove_file(&path).ok();
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("[16x8001]·[8001x128] ranges over [-96012, 128016]"), "{err}");
    assert!(
        err.contains("it spans 224029 values; at bits 4 one residue number system tells at most 3360 apart"),
        "{err}"
    );
    assert!(err.contains("cut into at most 8 chunks"), "{err}");
    assert!(err.contains("raise `bits`"), "{err}");
}

/// At bits 3 (8-entry tables) tiny compiles with no violation, and the
/// examples that cannot be built say why: Iris's first product fits one
/// residue number system but has no saturating conversion near its divisor;
/// Wine's is past one system, and bits 3 cuts no product into chunks.
#[test]
fn bits_3_compiles_tiny_and_says_why_the_others_do_not() {
    let at_3 = |name: &str| {
        let text = std::fs::read_to_string(root().join(format!("examples/{name}.mlp"))).unwrap();
        let text = text.replace("bits 8;", "bits 3;").replace("bits 4;", "bits 3;");
        let path = std::env::temp_dir().join(format!("silc-{name}3-{}.mlp", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let out = silc(&["compile", path.to_str().unwrap()]);
        std::fs::remove_file(&path).ok();
        out
    };
    let (code, out, err) = at_3("tiny");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("bits 3") && out.contains("violations   0"), "{out}");
    let (code, _, err) = at_3("iris");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("it spans 31 values, which one residue number system at bits 3 holds (up to 48)"), "{err}");
    assert!(err.contains("saturates to 2 bits"), "{err}");
    let (code, _, err) = at_3("wine");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("it spans 85 values; at bits 3 one residue number system tells at most 48 apart"), "{err}");
    assert!(err.contains("no product can be cut into chunks"), "{err}");
}

/// `loss cross_entropy margin=M;`: the margin is in real logit units and
/// becomes whole logit steps in the step (tiny's two classes:
/// `logistic_grad … margin=`); 0 turns it off, and one past the room the
/// logit difference's table leaves either way is refused.
#[test]
fn the_loss_margin_reaches_the_step_or_says_why_not() {
    let tiny = std::fs::read_to_string(root().join("examples/tiny.mlp")).unwrap();
    let dump = |loss: &str| {
        let path = std::env::temp_dir().join(format!("silc-margin-{}-{}.mlp", loss.len(), std::process::id()));
        std::fs::write(&path, tiny.replace("loss cross_entropy;", loss)).unwrap();
        let out = silc(&["compile", path.to_str().unwrap(), "--dump-ir", "high"]);
        std::fs::remove_file(&path).ok();
        out
    };
    // The default at bits 4 is 3 logit units, one step of tiny's 3.5.
    let (code, out, err) = dump("loss cross_entropy;");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("grad_max=3, margin=1}"), "{out}");
    let (code, out, err) = dump("loss cross_entropy margin=7;");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("grad_max=3, margin=2}"), "{out}");
    let (code, out, err) = dump("loss cross_entropy margin=0;");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("grad_max=3}"), "{out}");
    let (code, _, err) = dump("loss cross_entropy margin=40;");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("error[E0023]: a margin of 40 is 11 logit steps of 3.500"), "{err}");
    assert!(err.contains("the logit difference's table (the margin moves it either way) leaves room for 4"), "{err}");
    assert!(err.contains("write `margin=` at most 14.00"), "{err}");
}

/// `input N bins=quantile;`: the rank table the client fitted travels in
/// the weights file, `silc eval` applies it, and a damaged one is named.
#[test]
fn rank_bins_travel_to_eval() {
    let iris = std::fs::read_to_string(root().join("examples/iris.mlp")).unwrap();
    assert!(iris.contains("bins=quantile"), "the Iris example bins by rank");
    let model = std::env::temp_dir().join(format!("silc-ranks-{}.mlp", std::process::id()));
    std::fs::write(&model, iris.replace("epochs 30;", "epochs 10;").replace("bits 8;", "bits 4;")).unwrap();
    let weights = model.with_extension("json");
    let (code, _, err) = silc(&[
        "simulate",
        model.to_str().unwrap(),
        "--train",
        "examples/data/iris_train.csv",
        "--test",
        "examples/data/iris_test.csv",
        "--save",
        weights.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&weights).unwrap()).unwrap();
    let ranks = &v["standardization"]["ranks"];
    assert_eq!(ranks["bits"], 3, "{ranks}");
    assert_eq!(ranks["values"].as_array().map(Vec::len), Some(4), "one rank table per feature");
    let eval = |path: &std::path::Path| {
        silc(&["eval", path.to_str().unwrap(), "--test", "examples/data/iris_test.csv", "--json"])
    };
    let (code, out, err) = eval(&weights);
    assert_eq!(code, 0, "{err}");
    let acc = serde_json::from_str::<serde_json::Value>(&out).unwrap()["accuracy"].as_f64().unwrap();
    // Without its rank table the same weights see standardized features,
    // which they were not trained on.
    let plain = model.with_extension("plain.json");
    v["standardization"].as_object_mut().unwrap().remove("ranks");
    std::fs::write(&plain, serde_json::to_vec(&v).unwrap()).unwrap();
    let (code, out, _) = eval(&plain);
    assert_eq!(code, 0);
    let acc_plain = serde_json::from_str::<serde_json::Value>(&out).unwrap()["accuracy"].as_f64().unwrap();
    assert!(acc > acc_plain, "with ranks {acc}, without {acc_plain}");
    v["standardization"]["ranks"] = serde_json::json!("eight bins");
    std::fs::write(&plain, serde_json::to_vec(&v).unwrap()).unwrap();
    let (code, _, err) = eval(&plain);
    for p in [&model, &weights, &plain] {
        std::fs::remove_file(p).ok();
    }
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`standardization` is not a silc standardization") && err.contains("ranks"), "{err}");
}

/// `silc eval --model`: decrypted (here: saved) weights predict through the
/// model's integer forward pass exactly as `silc simulate` measured its test
/// accuracy, exact and rescaled logits alike; weights of another precision
/// are refused by name.
#[test]
fn eval_with_the_model_reproduces_the_simulated_accuracy() {
    let bc = std::fs::read_to_string(root().join("examples/breast_cancer.mlp")).unwrap();
    let model = std::env::temp_dir().join(format!("silc-evalmodel-{}.mlp", std::process::id()));
    std::fs::write(&model, bc.replace("epochs 20;", "epochs 2;").replace("bits 8;", "bits 4;")).unwrap();
    let weights = model.with_extension("json");
    let (m, w) = (model.to_str().unwrap(), weights.to_str().unwrap());
    let test = "examples/data/breast_cancer_test.csv";
    let (code, out, err) = silc(&[
        "simulate",
        m,
        "--train",
        "examples/data/breast_cancer_train.csv",
        "--test",
        test,
        "--save",
        w,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let sim: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (code, out, err) = silc(&["eval", w, "--test", test, "--model", m, "--json"]);
    assert_eq!(code, 0, "{err}");
    let ev: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ev["accuracy"], sim["test_accuracy"], "{ev} {sim}");
    assert_eq!(ev["rescaled_accuracy"], sim["test_accuracy_rescaled"], "{ev} {sim}");
    assert_eq!(ev["inference"], "circuit");
    // Two epochs: the default ensemble sums both epochs' logits; `--last`
    // predicts with the last weights alone, as the simulator's
    // `test_accuracy_last`.
    assert_eq!((&ev["ensemble"], &sim["ensemble"]), (&serde_json::json!(2), &serde_json::json!(2)), "{ev} {sim}");
    let (code, out, err) = silc(&["eval", w, "--test", test, "--model", m, "--json", "--last"]);
    assert_eq!(code, 0, "{err}");
    let last: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (&last["accuracy"], &last["ensemble"]),
        (&sim["test_accuracy_last"], &serde_json::json!(1)),
        "{last} {sim}"
    );
    // A member without layers, or an ensemble that is not a list, is named.
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&weights).unwrap()).unwrap();
    let bad = model.with_extension("bad.json");
    v["ensemble"][0]["layers"] = serde_json::json!(null);
    std::fs::write(&bad, v.to_string()).unwrap();
    let (code, _, err) = silc(&["eval", bad.to_str().unwrap(), "--test", test]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ensemble member 1 has no `layers` list"), "{err}");
    v["ensemble"] = serde_json::json!(3);
    std::fs::write(&bad, v.to_string()).unwrap();
    let (code, _, err) = silc(&["eval", bad.to_str().unwrap(), "--test", test, "--model", m]);
    std::fs::remove_file(&bad).ok();
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`ensemble` must be a list"), "{err}");
    let other = model.with_extension("b5.mlp");
    std::fs::write(&other, bc.replace("bits 8;", "bits 5;")).unwrap();
    let (code, _, err) = silc(&["eval", w, "--test", test, "--model", other.to_str().unwrap()]);
    for p in [&model, &weights, &other] {
        std::fs::remove_file(p).ok();
    }
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at bits 4, not `breast_cancer` at bits 5"), "{err}");
}

/// Two classes train their logit difference, three train two columns
/// against a reference class: the weights file holds the trained columns'
/// integers (`"reference_class": true`) and the declared model's real
/// weights, the last class's logit zero, so `silc eval` by real weights and
/// by the circuit's integers both predict as `silc simulate` measured.
#[test]
fn two_classes_evaluate_from_their_logit_difference() {
    evaluates_with_a_reference_class("breast_cancer", ("epochs 20;", "epochs 2;"), 30, 2);
}

#[test]
fn three_classes_evaluate_from_two_columns_and_a_reference_class() {
    evaluates_with_a_reference_class("iris", ("epochs 30;", "epochs 10;"), 8, 3);
}

fn evaluates_with_a_reference_class(name: &str, (epochs, fewer): (&str, &str), n_in: usize, classes: usize) {
    let text = std::fs::read_to_string(root().join(format!("examples/{name}.mlp"))).unwrap();
    assert!(text.contains(epochs) && text.contains("bits 8;"), "{name}.mlp changed");
    let model = std::env::temp_dir().join(format!("silc-reference-{name}-{}.mlp", std::process::id()));
    std::fs::write(&model, text.replace(epochs, fewer).replace("bits 8;", "bits 4;")).unwrap();
    let weights = model.with_extension("json");
    let data = |set: &str| format!("examples/data/{name}_{set}.csv");
    let (code, out, err) = silc(&[
        "simulate",
        model.to_str().unwrap(),
        "--train",
        &data("train"),
        "--test",
        &data("test"),
        "--save",
        weights.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let simulated = serde_json::from_str::<serde_json::Value>(&out).unwrap()["test_accuracy"].as_f64().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&weights).unwrap()).unwrap();
    let last = &v["layers"][1];
    assert_eq!(last["reference_class"], true, "{last}");
    assert_eq!(last["shape"], serde_json::json!([n_in, classes]), "{last}");
    assert_eq!(last["integers"].as_array().map(Vec::len), Some(n_in * (classes - 1)), "one column fewer");
    let real = last["weights"].as_array().unwrap();
    assert!(real.iter().skip(classes - 1).step_by(classes).all(|w| w == 0.0), "{last}");
    assert!(real.iter().any(|w| w != 0.0), "{last}");
    let test = data("test");
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", weights.to_str().unwrap(), "--test", &test, "--json"];
        args.extend_from_slice(extra);
        let (code, out, err) = silc(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["accuracy"].as_f64().unwrap()
    };
    let (by_real, by_circuit) = (eval(&[]), eval(&["--model", model.to_str().unwrap()]));
    for p in [&model, &weights] {
        std::fs::remove_file(p).ok();
    }
    assert!(simulated > 0.8, "{simulated}");
    assert_eq!(by_circuit, simulated);
    assert_eq!(by_real, simulated);
}
