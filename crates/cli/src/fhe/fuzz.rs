//! Mutation tests of key and ciphertext loading: truncated, bit-flipped,
//! length-inflated and random bytes fed to the client-key decoder and to
//! both ciphertext section decoders never panic, and counts that announce
//! more than the bytes hold are refused before anything is allocated.
//! Seeded, so a failure reproduces.

use silc_sim::Tensor;
use silc_tfhe::{params, ClientKeys};

use super::cts::{decode_compressed, encode_cts};
use super::{client_key, ser};

/// Length words a corrupted file may announce, and zeros.
fn mutator(seed: u64) -> silc_testkit::Mutator {
    let words: Vec<[u8; 8]> = [u64::MAX, 100 << 30, 1 << 40, 0].map(u64::to_le_bytes).to_vec();
    let tokens: Vec<&[u8]> = words.iter().map(|w| &w[..]).collect();
    silc_testkit::Mutator::new(seed, &tokens)
}

fn keys() -> ClientKeys {
    let cand = params::choose(4, 128, 1.0).expect("a 4-bit set");
    ClientKeys::new(&cand, 4)
}

#[test]
fn mutated_client_keys_never_panic() {
    let client = keys();
    let bytes = ser(&client.key);
    assert!(client_key("k", &bytes, 4).is_ok());
    let mut g = mutator(0x5eed_0002);
    for case in 0..1000 {
        let v = g.mutate(&bytes, case);
        let _ = client_key("k", &v, 4);
    }
}

#[test]
fn mutated_seeded_ciphertext_sections_never_panic() {
    let client = keys();
    let section = encode_cts(&client.encrypt_compressed(&Tensor::new(vec![6], vec![0, 1, 2, 3, 4, 5])));
    assert_eq!(decode_compressed("f", "x", &section).unwrap().len(), 6);
    let mut g = mutator(0x5eed_0003);
    for case in 0..3000 {
        let v = g.mutate(&section, case);
        let _ = decode_compressed("f", "x", &v);
    }
    // A count of 100 G ciphertexts in a few bytes is refused at once.
    let mut huge = section.clone();
    huge[..8].copy_from_slice(&(100u64 << 30).to_le_bytes());
    let e = decode_compressed("f", "x", &huge).err().expect("refused");
    assert!(e.contains("claims 107374182400 ciphertexts"), "{e}");
}

#[test]
fn mutated_ciphertext_sections_never_panic() {
    use tfhe::safe_serialization::safe_serialize;
    let client = keys();
    let t = client.encrypt(&Tensor::new(vec![3], vec![1, 2, 3]));
    let mut section = (t.cts.len() as u64).to_le_bytes().to_vec();
    for c in &t.cts {
        safe_serialize(c, &mut section, super::CT_LIMIT).unwrap();
    }
    let mut g = mutator(0x5eed_0004);
    for case in 0..2000 {
        let v = g.mutate(&section, case);
        let _ = super::cts::decode_cts_for_tests("f", "w1", &v);
    }
}
