//! Facts about tfhe-rs that the torus residues rest on
//! (docs/arithmetic.md, "Residues at the scale of their modulus"), checked on
//! real ciphertexts at the 4-bit parameter set silc uses:
//!
//! - a bootstrap can answer any torus value, not only multiples of the
//!   message unit: a table may answer `r/m` for any modulus `m` (tfhe-rs's
//!   native CRT encoding, `encrypt_native_crt`);
//! - sums of such answers wrap modulo `m` exactly, however many are added
//!   (within the noise bound): a residue modulo 3, 5, 7 or 15 accumulates
//!   with no reduction table, as the modulus `2^(p+1)` does;
//! - the sum is read back exactly in two bootstraps: a constant table whose
//!   negacyclic answer tells the two halves of the torus apart, added back,
//!   moves every residue into the readable half, where a table placed at
//!   the residues' own positions (not at the message grid) reads it.
//!
//! The accumulators are the engine's own (`silc_tfhe::torus`), so these
//! tests check the layout the compiled circuits run on.

use silc_tfhe::batch::{self, Table};
use silc_tfhe::torus::{self, phase};
use silc_tfhe::{params, ClientKeys};
use tfhe::core_crypto::algorithms::{
    lwe_ciphertext_add_assign, lwe_ciphertext_plaintext_add_assign, lwe_ciphertext_sub_assign,
};
use tfhe::core_crypto::entities::Plaintext;
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::{Ciphertext, ServerKey};

fn setup() -> (ClientKeys, ServerKey) {
    let c = params::choose(4, 128, 5.0).expect("the 4-bit set");
    let client = ClientKeys::new(&c, 4);
    let key = client.server_keys().key;
    (client, key)
}

fn pbs(key: &ServerKey, ct: &Ciphertext, lut: &LookupTableOwned) -> Ciphertext {
    batch::bootstrap(key, &[(ct, Table::One(lut))]).remove(0).remove(0)
}

/// A small deterministic generator: `next(bound)` in `[0, bound)`.
fn lcg(mut state: u64) -> impl FnMut(u64) -> u64 {
    move |bound| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) % bound
    }
}

/// Sum of the table's answers for encryptions of `vs` (grid values).
fn sum_of(client: &ClientKeys, key: &ServerKey, lut: &LookupTableOwned, vs: &[i64]) -> Ciphertext {
    let mut acc: Option<Ciphertext> = None;
    for &v in vs {
        let t = pbs(key, &client.key.unchecked_encrypt(v as u64), lut);
        match acc.as_mut() {
            None => acc = Some(t),
            Some(a) => lwe_ciphertext_add_assign(&mut a.ct, &t.ct),
        }
    }
    acc.expect("terms")
}

/// What `torus_read` bootstraps: the residue read with its sign, the two
/// bootstraps of a read (the engine's `prepared`, written out).
fn read(key: &ServerKey, x: &Ciphertext, m: i64, read: &LookupTableOwned) -> Ciphertext {
    let mut shifted = x.clone();
    lwe_ciphertext_plaintext_add_assign(&mut shifted.ct, Plaintext(torus::sign_offset(m)));
    let sign = pbs(key, &shifted, &torus::sign(key));
    lwe_ciphertext_sub_assign(&mut shifted.ct, &sign.ct);
    lwe_ciphertext_plaintext_add_assign(&mut shifted.ct, Plaintext(torus::QUARTER));
    pbs(key, &shifted, read)
}

#[test]
fn residues_at_scale_one_over_m_accumulate_and_read_back_exactly() {
    let (client, key) = setup();
    let mut next = lcg(0x5eed_u64);
    let binom = |s: i64| s * (s - 1) / 2;
    for m in [3i64, 5, 7, 9, 15] {
        // Products on stored operands: a table on `a + b` (in `[0, 16)`)
        // answering `C(a+b, 2) mod m` at `r/m`.
        let entries: Vec<i64> = (0..16).map(|v| binom(v).rem_euclid(m)).collect();
        let term = torus::lut_torus(&key, &entries, m, 4);
        let identity: Vec<i64> = (0..m).collect();
        let back = torus::torus_read(&key, &identity, m, None, 4);
        for trial in 0..4 {
            // 24 terms: with the sign, the noise bound ν² = 25 of the set.
            let vs: Vec<i64> = (0..24).map(|_| next(16) as i64).collect();
            let want: i64 = vs.iter().map(|&v| binom(v)).sum();
            let sum = sum_of(&client, &key, &term, &vs);
            // The phase is the residue at its scale, exactly up to noise.
            let got = client.key.decrypt_no_decode(&sum).0;
            let err = got.wrapping_sub(phase(want, m)) as i64 as f64 / 2f64.powi(64);
            assert!(err.abs() < 1.0 / 256.0, "m = {m}, trial {trial}: phase off by {err}");
            let r = read(&key, &sum, m, &back);
            let got = client.key.decrypt_message_and_carry(&r) as i64;
            assert_eq!(got, want.rem_euclid(m), "m = {m}, trial {trial}: Σ C(v, 2) = {want}");
        }
    }
}

/// The conversion the design needs, on real ciphertexts: `V = Σ t_i` is
/// summed twice, as a residue modulo `D = 15` at `r/15` (wrapping) and as
/// itself at `V/480` (never wrapping: `V < 240`). Reading the residue (a
/// read answering `-L/480`) and adding it to the fine sum leaves
/// `15·q/480 = q/32` with `q = ⌊V/15⌋`: on the message grid, where an
/// ordinary table reads it, here `clamp(q - 4, 0, 7)`. Two bootstraps per
/// term, three per output, and no reduction anywhere.
#[test]
fn a_residue_and_a_fine_sum_give_the_rescaled_value() {
    let (client, key) = setup();
    let mut next = lcg(0xfeed_u64);
    let (d, fine) = (15i64, 480i64);
    let g: Vec<i64> = (0..16).map(|v| v % 10).collect();
    let low_term = torus::lut_torus(&key, &g, d, 4);
    let fine_term = torus::lut_torus(&key, &g, fine, 4);
    let minus: Vec<i64> = (0..d).map(|r| (-r).rem_euclid(fine)).collect();
    let read_low = torus::torus_read(&key, &minus, d, Some(fine), 4);
    let clamp = key.generate_lookup_table(|q| (q as i64 - 4).clamp(0, 7) as u64);
    for trial in 0..8u64 {
        // Terms biased by trial so that q covers the clamp's whole range.
        let vs: Vec<i64> = (0..24).map(|_| if next(8) < trial { 9 } else { next(16) as i64 }).collect();
        let v_sum: i64 = vs.iter().map(|&v| g[v as usize]).sum();
        let low = sum_of(&client, &key, &low_term, &vs);
        let mut high = sum_of(&client, &key, &fine_term, &vs);
        let minus_low = read(&key, &low, d, &read_low);
        lwe_ciphertext_add_assign(&mut high.ct, &minus_low.ct);
        let q = v_sum / d;
        assert_eq!(client.key.decrypt_message_and_carry(&high) as i64, q, "trial {trial}: V = {v_sum}");
        let out = pbs(&key, &high, &clamp);
        assert_eq!(client.key.decrypt_message_and_carry(&out) as i64, (q - 4).clamp(0, 7), "trial {trial}");
    }
}
