//! Facts about tfhe-rs that the next arithmetic design rests on
//! (docs/arithmetic.md, "Residues at the scale of their modulus"), checked on
//! real ciphertexts at the 4-bit parameter set silc uses:
//!
//! - a bootstrap can answer any torus value, not only multiples of the
//!   message unit: a table may answer `r/m` for any modulus `m` (tfhe-rs's
//!   native CRT encoding, `encrypt_native_crt`);
//! - sums of such answers wrap modulo `m` exactly, however many are added
//!   (within the noise bound): a residue modulo 3, 5, 7 or 15 accumulates
//!   with no reduction table, as the modulus `2^(p+1)` does today;
//! - the sum is read back exactly in two bootstraps: a constant table whose
//!   negacyclic answer tells the two halves of the torus apart, added back,
//!   moves every residue into the readable half, where a table placed at
//!   the residues' own positions (not at the message grid) reads it.
//!
//! A table here is an accumulator built position by position: the blind
//! rotation of a phase `j` (of `2N`) answers `acc[j]` for `j < N` and
//! `-acc[j - N]` above.

use silc_tfhe::batch::{self, Table};
use silc_tfhe::{params, ClientKeys};
use tfhe::core_crypto::algorithms::{lwe_ciphertext_add_assign, lwe_ciphertext_plaintext_add_assign};
use tfhe::core_crypto::entities::Plaintext;
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::{Ciphertext, ServerKey};

/// The torus value `num/den` as a 64-bit phase, rounded.
fn torus(num: i64, den: i64) -> u64 {
    let t = ((num.rem_euclid(den) as u128) << 64) / den as u128;
    let r = ((num.rem_euclid(den) as u128) << 64) % den as u128;
    (t + u128::from(2 * r >= den as u128)) as u64
}

/// A table given by what it answers at each of the `2N` phases of the
/// blind rotation (`None`: no input lands there). Panics where the
/// negacyclic rule makes two wanted answers disagree: the layout itself
/// would then be unreadable.
fn table_at(key: &ServerKey, answer: impl Fn(usize) -> Option<u64>) -> LookupTableOwned {
    let mut lut = key.generate_lookup_table(|_| 0);
    let n_poly = lut.acc.polynomial_size().0;
    let mut body = lut.acc.get_mut_body();
    let acc = body.as_mut();
    assert_eq!(acc.len(), n_poly);
    let n = acc.len();
    let mut set = vec![None::<u64>; n];
    for j in 0..2 * n {
        let Some(v) = answer(j) else { continue };
        let (i, v) = if j < n { (j, v) } else { (j - n, v.wrapping_neg()) };
        match set[i] {
            Some(w) => assert_eq!(w, v, "phases {i} and {} want different answers", i + n),
            None => set[i] = Some(v),
        }
    }
    for (a, s) in acc.iter_mut().zip(set) {
        *a = s.unwrap_or(0);
    }
    lut
}

/// Every phase in `[x - margin, x + margin)` of one of `points` `x` (torus positions in `1/2N`
/// units) answers that point's value.
fn windows(points: &[(f64, u64)], two_n: usize, margin: f64) -> impl Fn(usize) -> Option<u64> + '_ {
    move |j| {
        points.iter().find_map(|&(x, v)| {
            // `j - x` in [-margin, margin), half open, as tfhe-rs's boxes.
            let d = (j as f64 - x * two_n as f64 + margin * two_n as f64).rem_euclid(two_n as f64);
            (d < 2.0 * margin * two_n as f64).then_some(v)
        })
    }
}

struct Setup {
    client: ClientKeys,
    key: ServerKey,
    two_n: usize,
}

fn setup() -> Setup {
    let c = params::choose(4, 128, 5.0).expect("the 4-bit set");
    let client = ClientKeys::new(&c, 4);
    let key = client.server_keys().key;
    let two_n = 2 * key.generate_lookup_table(|_| 0).acc.polynomial_size().0;
    Setup { client, key, two_n }
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

/// The half-width of a readable window: the message grid of the 4-bit set
/// has 32 boxes over the torus, read within half a box.
const MARGIN: f64 = 1.0 / 64.0;

#[test]
fn residues_at_scale_one_over_m_accumulate_and_read_back_exactly() {
    let s = setup();
    let mut next = lcg(0x5eed_u64);
    // Products on stored operands: a table on `a + b` (in `[0, 16)`, the
    // message grid) answering `C(a+b, 2) mod m` at scale `1/m`.
    let grid: Vec<f64> = (0..16).map(|v| v as f64 / 32.0).collect();
    for m in [3i64, 5, 7, 9, 15] {
        let binom = |s: i64| s * (s - 1) / 2;
        let points: Vec<(f64, u64)> = grid.iter().enumerate().map(|(v, &x)| (x, torus(binom(v as i64), m))).collect();
        let term = table_at(&s.key, windows(&points, s.two_n, MARGIN));
        // Offset of the residues on the torus: away from 0 and 1/2 by at
        // least 1/(4m), which the sign table needs.
        let off = torus(1, 4 * m);
        // Sign: +1/4 on the lower half of the torus, -1/4 on the upper.
        let sign = table_at(&s.key, |j| (j < s.two_n / 2).then_some(1u64 << 62));
        // The folded positions of every residue, each answering the residue
        // on the message grid (`r/32`).
        let folded: Vec<(f64, u64)> = (0..m)
            .map(|r| {
                let x = r as f64 / m as f64 + 0.25 / m as f64;
                (if x < 0.5 { x } else { x - 0.5 }, (r as u64) << 59)
            })
            .collect();
        let read = table_at(&s.key, windows(&folded, s.two_n, MARGIN));
        for trial in 0..4 {
            // 24 terms: within the noise bound ν² = 25 of the 4-bit set.
            let k = 24;
            let (mut acc, mut want) = (None::<Ciphertext>, 0i64);
            for _ in 0..k {
                let v = next(16) as i64;
                want += binom(v);
                let t = pbs(&s.key, &s.client.key.unchecked_encrypt(v as u64), &term);
                match acc.as_mut() {
                    None => acc = Some(t),
                    Some(a) => lwe_ciphertext_add_assign(&mut a.ct, &t.ct),
                }
            }
            let mut sum = acc.expect("k > 0");
            lwe_ciphertext_plaintext_add_assign(&mut sum.ct, Plaintext(off));
            // The phase is the residue at its scale, exactly up to noise.
            let phase = s.client.key.decrypt_no_decode(&sum).0;
            let ideal = torus(4 * want.rem_euclid(m) + 1, 4 * m);
            let err = phase.wrapping_sub(ideal) as i64 as f64 / 2f64.powi(64);
            assert!(err.abs() < MARGIN / 4.0, "m = {m}, trial {trial}: phase off by {err}");
            // Fold: x - sign(x) + 1/4 lies in [0, 1/2).
            let sg = pbs(&s.key, &sum, &sign);
            let mut fold = sum.clone();
            let mut neg = sg.clone();
            tfhe::core_crypto::algorithms::lwe_ciphertext_opposite_assign(&mut neg.ct);
            lwe_ciphertext_add_assign(&mut fold.ct, &neg.ct);
            lwe_ciphertext_plaintext_add_assign(&mut fold.ct, Plaintext(1u64 << 62));
            let r = pbs(&s.key, &fold, &read);
            let got = s.client.key.decrypt_message_and_carry(&r) as i64;
            assert_eq!(got, want.rem_euclid(m), "m = {m}, trial {trial}: Σ C(v, 2) = {want}");
        }
    }
}

/// The conversion the design needs, on real ciphertexts: `V = Σ t_i` is
/// summed twice, as a residue modulo `D = 15` at scale `1/15` (wrapping)
/// and as itself at scale `1/480` (never wrapping: `V < 240`). Reading the
/// residue (sign, then a table answering `-L/480`) and adding it to the
/// fine sum leaves `15·q/480 = q/32` with `q = ⌊V/15⌋`: on the message
/// grid, where an ordinary table reads it, here `clamp(q - 4, 0, 7)`.
/// Two bootstraps per term, three per output, and no reduction anywhere.
#[test]
fn a_residue_and_a_fine_sum_give_the_rescaled_value() {
    let s = setup();
    let mut next = lcg(0xfeed_u64);
    let (d, fine) = (15i64, 480i64);
    let g = |v: i64| v % 10;
    let grid: Vec<f64> = (0..16).map(|v| v as f64 / 32.0).collect();
    let at_grid = |f: &dyn Fn(i64) -> u64| -> Vec<(f64, u64)> {
        grid.iter().enumerate().map(|(v, &x)| (x, f(v as i64))).collect()
    };
    let low_term = table_at(&s.key, windows(&at_grid(&|v| torus(g(v), d)), s.two_n, MARGIN));
    let fine_term = table_at(&s.key, windows(&at_grid(&|v| torus(g(v), fine)), s.two_n, MARGIN));
    let sign = table_at(&s.key, |j| (j < s.two_n / 2).then_some(1u64 << 62));
    let folded: Vec<(f64, u64)> = (0..d)
        .map(|r| {
            let x = r as f64 / d as f64 + 0.25 / d as f64;
            (if x < 0.5 { x } else { x - 0.5 }, torus(-r, fine))
        })
        .collect();
    let read_low = table_at(&s.key, windows(&folded, s.two_n, MARGIN));
    let clamp = s.key.generate_lookup_table(|q| (q as i64 - 4).clamp(0, 7) as u64);
    for trial in 0..8 {
        let (mut low, mut high, mut v_sum) = (None::<Ciphertext>, None::<Ciphertext>, 0i64);
        // Terms biased by trial so that q covers the clamp's whole range.
        for _ in 0..24 {
            let v = if next(8) < trial { 9 } else { next(16) as i64 };
            v_sum += g(v);
            let ct = s.client.key.unchecked_encrypt(v as u64);
            for (acc, t) in [(&mut low, &low_term), (&mut high, &fine_term)] {
                let out = pbs(&s.key, &ct, t);
                match acc.as_mut() {
                    None => *acc = Some(out),
                    Some(a) => lwe_ciphertext_add_assign(&mut a.ct, &out.ct),
                }
            }
        }
        let (mut low, mut high) = (low.expect("terms"), high.expect("terms"));
        lwe_ciphertext_plaintext_add_assign(&mut low.ct, Plaintext(torus(1, 4 * d)));
        let sg = pbs(&s.key, &low, &sign);
        let mut neg = sg;
        tfhe::core_crypto::algorithms::lwe_ciphertext_opposite_assign(&mut neg.ct);
        lwe_ciphertext_add_assign(&mut low.ct, &neg.ct);
        lwe_ciphertext_plaintext_add_assign(&mut low.ct, Plaintext(1u64 << 62));
        let minus_low = pbs(&s.key, &low, &read_low);
        lwe_ciphertext_add_assign(&mut high.ct, &minus_low.ct);
        let q = v_sum / d;
        assert_eq!(s.client.key.decrypt_message_and_carry(&high) as i64, q, "trial {trial}: V = {v_sum}");
        let out = pbs(&s.key, &high, &clamp);
        assert_eq!(s.client.key.decrypt_message_and_carry(&out) as i64, (q - 4).clamp(0, 7), "trial {trial}");
    }
}
