//! Every malformed input is answered with a located, rendered diagnostic —
//! never a panic. Each file in `tests/in/errors/` is one error kind; its full
//! rendered message is a snapshot.

use std::path::PathBuf;

fn errors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/in/errors")
}

fn render(name: &str, bytes: &[u8]) -> String {
    match silc_frontend::compile_source(name, bytes) {
        Ok(spec) => panic!("{name} should not compile, got {spec:?}"),
        Err(d) => d.to_string(),
    }
}

#[test]
fn every_error_file_renders_its_snapshot() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(errors_dir())
        .expect("tests/in/errors exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "mlp"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "want at least 15 error kinds, found {}", files.len());
    let mut kinds = std::collections::BTreeSet::new();
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let shown = format!("tests/in/errors/{stem}.mlp");
        let d = silc_frontend::compile_source(&shown, &bytes).expect_err("an error file must not compile");
        kinds.insert(d.kind.code());
        // Every message names file:line:col and shows a caret.
        let text = d.to_string();
        assert!(text.contains(&format!("{shown}:{}:{}", d.line, d.col)), "{text}");
        assert!(text.contains('^'), "{text}");
        insta::assert_snapshot!(stem, text);
    }
    assert!(kinds.len() >= 15, "want at least 15 distinct error kinds, found {}: {kinds:?}", kinds.len());
}

#[test]
fn hostile_inputs_never_panic() {
    let ten_mb = "x".repeat(10 << 20);
    let deep = format!("model m {}{}", "{".repeat(100_000), "}".repeat(100_000));
    let forty = format!("model m {{ input {}; }}", "9".repeat(40));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("garbage", (0..=255u8).cycle().take(4096).collect()),
        ("non-utf8", b"model m {\n input \xc3\x28;\n}".to_vec()),
        ("10 MB", ten_mb.into_bytes()),
        ("deep braces", deep.into_bytes()),
        ("40 digits", forty.into_bytes()),
        ("only model", b"model".to_vec()),
        ("nul bytes", vec![0; 100]),
    ];
    for (what, bytes) in cases {
        let text = render(what, &bytes);
        assert!(text.starts_with("error[E"), "{what}: {text}");
        assert!(text.contains(&format!("{what}:")), "{what}: {text}");
    }
}

#[test]
fn the_design_example_parses_verbatim() {
    let src = "// examples/iris.mlp — 4 features, 3 classes
model iris {
    input 4;
    dense 8 relu;
    dense 3;
    loss cross_entropy;
    optimizer sgd lr=0.125;
    batch 8;
    epochs 30;
    bits 8;        // no value processed under FHE exceeds 8 bits
}
";
    let spec = silc_frontend::compile_source("iris.mlp", src.as_bytes()).expect("parses");
    assert_eq!(spec.widths_chain(), vec![4, 8, 3]);
    assert!(spec.layers[0].relu && !spec.layers[1].relu);
    assert!(spec.layers.iter().all(|l| l.bias), "biases are on by default");
    assert_eq!((spec.batch, spec.epochs, spec.bits, spec.lr), (8, 30, 8, 0.125));
    assert_eq!(spec.widths.weights, 7, "widths default to bits - 1");
}

#[test]
fn sgd_without_a_rate_takes_the_measured_default() {
    let src = "model m { input 2; dense 2; loss cross_entropy; optimizer sgd; batch 1; epochs 1; bits 4; }";
    let spec = silc_frontend::compile_source("m.mlp", src.as_bytes()).expect("parses");
    assert_eq!(spec.lr, silc_frontend::check::DEFAULT_LR);
    assert_eq!(spec.lr, 0.125);
    let src = src.replace("optimizer sgd;", "optimizer sgd lr=0.0625;");
    let spec = silc_frontend::compile_source("m.mlp", src.as_bytes()).expect("parses");
    assert_eq!(spec.lr, 0.0625, "a given rate wins");
}

#[test]
fn optional_statements_are_read() {
    let src = "model m { input 2; dense 2; loss cross_entropy; optimizer sgd lr=0.5; batch 1; epochs 1; bits 6;
               seed 99; quantize weights=5 gradients=4; pfail 2^-64; }";
    let spec = silc_frontend::compile_source("m.mlp", src.as_bytes()).expect("parses");
    assert_eq!(spec.seed, 99);
    assert_eq!((spec.widths.weights, spec.widths.gradients, spec.widths.activations), (5, 4, 5));
    assert_eq!(spec.pfail_log2, 64);
}

#[test]
fn scaling_and_weight_defaults_follow_the_measured_choices() {
    use silc_frontend::spec::Scaling;
    // (bits, quantize, scaling, weight width) as `Scaling::default_for` and
    // `Widths::default_weights` say.
    for (bits, quantize, want, weights) in [
        (4, "", Scaling::Block, 6),
        (4, "quantize weights=3;", Scaling::Static, 3),
        (5, "", Scaling::Static, 8),
        (5, "quantize weights=4;", Scaling::Block, 4),
        (6, "", Scaling::Block, 5),
        (7, "", Scaling::Static, 6),
    ] {
        let src = format!(
            "model m {{ input 2; dense 2; loss cross_entropy; optimizer sgd lr=0.5; batch 1; epochs 1; bits {bits}; {quantize} }}"
        );
        let spec = silc_frontend::compile_source("m.mlp", src.as_bytes()).expect("parses");
        assert_eq!(spec.scaling, want, "bits {bits}");
        assert_eq!(spec.widths.weights, weights, "bits {bits}");
        let fixed = src.replace("bits", "scaling static; bits");
        assert_eq!(silc_frontend::compile_source("m.mlp", fixed.as_bytes()).unwrap().scaling, Scaling::Static);
    }
}

#[test]
fn bias_is_set_per_layer() {
    let src = "model m { input 2; dense 4 relu bias=off; dense 2 bias=on; loss cross_entropy; optimizer sgd lr=0.5;
               batch 1; epochs 1; bits 6; }";
    let spec = silc_frontend::compile_source("m.mlp", src.as_bytes()).expect("parses");
    assert_eq!(spec.layers.iter().map(|l| (l.relu, l.bias)).collect::<Vec<_>>(), vec![(true, false), (false, true)]);
    let wide = src.replace("bits 6;", "bits 6; quantize weights=10;");
    assert_eq!(silc_frontend::compile_source("m.mlp", wide.as_bytes()).expect("two digits").widths.weights, 10);
    for (bad, want) in [
        ("dense 4 relu bias=off bias=on;", "`bias` is given twice"),
        ("dense 4 relu colour=red;", "`dense` has no setting `colour`"),
        ("dense 4 relu bias=1;", "`bias` is `on` or `off`, found number `1`"),
        ("dense bias=off;", "`dense` takes a width and an optional activation, found 0 arguments"),
        ("dense 4; quantize weights=11;", "`weights=11` is too wide for `bits 6`"),
    ] {
        let text = format!("model m {{ input 2; {bad} dense 2; loss cross_entropy; optimizer sgd lr=0.5; batch 1; epochs 1; bits 6; }}");
        let d = silc_frontend::compile_source("m.mlp", text.as_bytes()).expect_err(bad);
        assert!(d.to_string().contains(want), "{bad}: {d}");
    }
}

mod fuzz {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = silc_frontend::compile_source("fuzz", &bytes);
        }

        #[test]
        fn mutated_models_never_panic(cut in 0usize..200, insert in "[ -~]{0,8}") {
            let base = "model iris { input 4; dense 8 relu; dense 3; loss cross_entropy; optimizer sgd lr=0.125; batch 8; epochs 30; bits 8; }";
            let cut = cut.min(base.len());
            let text = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
            if let Err(d) = silc_frontend::compile_source("fuzz", text.as_bytes()) {
                prop_assert!(d.to_string().contains("fuzz:"));
            }
        }
    }
}
