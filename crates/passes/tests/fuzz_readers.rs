//! Mutation tests of the two text readers: the `.mlp` front end and the IR
//! text reader. Truncated, byte-flipped, token-inserted and random inputs
//! give an error value or a valid result, never a panic; an accepted IR text
//! verifies. Seeded (`silc_testkit::Mutator`), so a failure reproduces from its case.

mod common;

#[test]
fn mutated_models_never_panic() {
    let tokens: &[&[u8]] = &[
        b"99999999999999999999999",
        b"-1",
        b"0",
        b";",
        b"{",
        b"}",
        b"dense 3 relu;",
        b"bits 2;",
        b"bits 9;",
        b"quantize weights=12;",
        b"lr=1e308",
        b"2^-9999",
        b"\xe2\x82",
        b"//",
        b"\n",
    ];
    let mut g = silc_testkit::Mutator::new(0x5eed_0007, tokens);
    for name in common::example_names() {
        let path = common::examples_dir().join(format!("{name}.mlp"));
        let base = std::fs::read(&path).unwrap();
        for case in 0..1500 {
            let v = g.mutate(&base, case);
            if let Err(d) = silc_frontend::compile_source("m.mlp", &v) {
                let text = d.to_string();
                assert!(text.contains("m.mlp"), "{name} case {case}: {text}");
            }
        }
    }
}

#[test]
fn mutated_ir_texts_never_panic() {
    let spec = common::spec("tiny", None);
    let compiled = silc_passes::compile(&spec, &silc_passes::Options::default()).unwrap();
    let tokens: &[&[u8]] = &[
        b"%999999",
        b"t999",
        b"[4294967296]",
        b"[0, 0]",
        b"-9223372036854775808",
        b"18446744073709551616",
        b"lut",
        b"matmul",
        b" = ",
        b"\n",
        b",",
        b"(",
        b")",
    ];
    let mut g = silc_testkit::Mutator::new(0x5eed_0008, tokens);
    for stage in ["high", "schedule"] {
        let base = silc_ir::text::print(compiled.stage(stage).unwrap());
        for case in 0..2000 {
            let v = g.mutate(base.as_bytes(), case);
            let Ok(text) = std::str::from_utf8(&v) else { continue };
            if let Ok(graph) = silc_ir::read::read(text) {
                assert!(silc_ir::verify::verify(&graph).is_ok(), "{stage} case {case}: accepted an invalid graph");
            }
        }
    }
}
