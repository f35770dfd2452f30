//! The container's round trip, and its refusal of every truncation, every
//! corrupted byte, inflated lengths and random input (seeded, so a failure
//! reproduces).

use super::*;

fn sample() -> Vec<u8> {
    let out = std::io::Cursor::new(Vec::new());
    let mut w = Writer::new(out, b"SILCJOB1", &serde_json::json!({"a": 1})).unwrap();
    w.section("one", b"hello").unwrap();
    w.section("two", &[1, 2, 3]).unwrap();
    w.section_streamed("three", |o| o.write_all(&[7; 300]).map_err(|e| e.to_string())).unwrap();
    w.section("four", b"!").unwrap();
    w.finish().unwrap().into_inner()
}

#[test]
fn round_trip() {
    let bytes = sample();
    let c = parse("f", &bytes, b"SILCJOB1").unwrap();
    assert_eq!(c.section("f", "two").unwrap(), &[1, 2, 3]);
    assert_eq!(c.section("f", "three").unwrap(), &[7; 300][..]);
    assert_eq!(c.section("f", "four").unwrap(), b"!");
    assert_eq!(c.header["a"], 1);
    assert_eq!(scan("f", &mut &bytes[..], bytes.len() as u64, b"SILCJOB1").unwrap().file_id.len(), 32);
    let e = parse("f", &bytes, b"SILCTRND").err().unwrap();
    assert!(e.contains("this is an encrypted training job, expected trained encrypted weights"), "{e}");
    let mut newer = bytes.clone();
    newer[8] = 9;
    assert!(parse("f", &newer, b"SILCJOB1").err().unwrap().contains("format version 9"));
}

#[test]
fn every_truncation_is_refused() {
    let bytes = sample();
    for cut in 0..bytes.len() {
        let e = parse("f", &bytes[..cut], b"SILCJOB1").err().unwrap_or_else(|| panic!("a cut at {cut} was accepted"));
        assert!(e.starts_with("error: f: "), "{e}");
    }
}

#[test]
fn every_corrupted_byte_is_refused_and_named() {
    let bytes = sample();
    for at in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff, 0x5a] {
            let mut bad = bytes.clone();
            bad[at] ^= flip;
            let e = match parse("f", &bad, b"SILCJOB1") {
                Ok(_) => panic!("byte {at} xor {flip:#x} was accepted"),
                Err(e) => e,
            };
            // The message says where: the header, a section, the end mark or a length.
            assert!(e.contains("header") || e.contains("section") || e.contains("end mark"), "byte {at}: {e}");
        }
    }
}

#[test]
fn a_corrupted_body_names_its_section_and_byte_range() {
    let bytes = sample();
    let at = bytes.windows(5).position(|w| w == b"hello").unwrap();
    let mut bad = bytes.clone();
    bad[at + 2] ^= 4;
    let e = parse("job.bin", &bad, b"SILCJOB1").err().unwrap();
    assert!(e.contains("job.bin: section 1 `one` at byte"), "{e}");
    assert!(e.contains("is corrupted: its checksum does not match"), "{e}");
}

#[test]
fn inflated_lengths_are_refused_before_allocating() {
    let bytes = sample();
    // The first section's length field, set to 100 GB and to u64::MAX.
    let c = parse("f", &bytes, b"SILCJOB1").unwrap();
    let hlen = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let len_at = 16 + hlen + SUM + 1 + 3;
    assert_eq!(u64::from_le_bytes(bytes[len_at..len_at + 8].try_into().unwrap()), 5);
    for huge in [100u64 << 30, u64::MAX, 1 << 40] {
        let mut bad = bytes.clone();
        bad[len_at..len_at + 8].copy_from_slice(&huge.to_le_bytes());
        let e = parse("f", &bad, b"SILCJOB1").err().unwrap();
        assert!(e.contains(&format!("its length field says {huge} bytes")), "{e}");
    }
    // The header's length, inflated.
    let mut bad = bytes.clone();
    bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(parse("f", &bad, b"SILCJOB1").err().unwrap().contains("header's length field"));
    drop(c);
}

#[test]
fn sections_lost_added_or_swapped_are_refused() {
    let mk = |order: &[(&str, &[u8])]| {
        let mut w = Writer::new(Vec::new(), b"SILCJOB1", &serde_json::json!({})).unwrap();
        for (t, b) in order {
            w.section(t, b).unwrap();
        }
        w.finish().unwrap()
    };
    let a = mk(&[("a", b"1"), ("b", b"22")]);
    let b = mk(&[("b", b"22"), ("a", b"1")]);
    // Splice b's sections into a's frame: each section is valid alone.
    let head = 16 + 2 + SUM; // header JSON is `{}`
    let sec_a = 1 + 1 + 8 + 1 + SUM;
    let sec_b = 1 + 1 + 8 + 2 + SUM;
    let mut spliced = a[..head].to_vec();
    spliced.extend_from_slice(&b[head..head + sec_b]);
    spliced.extend_from_slice(&b[head + sec_b..head + sec_b + sec_a]);
    spliced.extend_from_slice(&a[head + sec_a + sec_b..]);
    let e = parse("f", &spliced, b"SILCJOB1").err().unwrap();
    assert!(e.contains("lost, added or reordered"), "{e}");
    // A file cut exactly after a section.
    let e = parse("f", &a[..head + sec_a], b"SILCJOB1").err().unwrap();
    assert!(e.contains("end mark is missing"), "{e}");
    // Bytes after the end mark.
    let mut longer = a.clone();
    longer.push(0);
    assert!(parse("f", &longer, b"SILCJOB1").err().unwrap().contains("follow the end mark"));
}

#[test]
fn mutated_and_random_inputs_never_panic() {
    let bytes = sample();
    let words: Vec<[u8; 8]> = [u64::MAX, 100 << 30, 1 << 40, 0].map(u64::to_le_bytes).to_vec();
    let tokens: Vec<&[u8]> = words.iter().map(|w| &w[..]).chain([&b"SILCJOB1"[..], b"\x00", b"\xff"]).collect();
    let mut g = silc_testkit::Mutator::new(0x5eed_0001, &tokens);
    for case in 0..5000 {
        let mut v = g.mutate(&bytes, case);
        if case % 10 == 4 && v.len() >= 8 {
            v[..8].copy_from_slice(b"SILCJOB1"); // random bytes behind a valid magic
        }
        if v != bytes {
            assert!(parse("f", &v, b"SILCJOB1").is_err(), "case {case} was accepted");
        }
    }
}

#[test]
fn opened_files_verify_and_reread() {
    let dir = std::env::temp_dir().join(format!("silc-container-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f.bin");
    std::fs::write(&path, sample()).unwrap();
    let mut o = open(&path, b"SILCJOB1").unwrap();
    assert_eq!(o.read("three").unwrap(), vec![7; 300]);
    assert!(o.read("five").unwrap_err().contains("no `five` section"));
    // Changed on disk after the check.
    let mut bytes = sample();
    let at = o.index.info("f", "three").unwrap().at as usize;
    bytes[at] = 8;
    std::fs::write(&path, &bytes).unwrap();
    assert!(o.read("three").unwrap_err().contains("changed on disk"));
    assert!(open(&path, b"SILCJOB1").err().unwrap().contains("section 3 `three`"));
    std::fs::remove_dir_all(&dir).ok();
}
