//! Residues held at the torus position `r/m` (IR type `torus m`): the
//! accumulators of the ops that make and read them, and the plaintexts
//! their leveled ops add.
//!
//! A blind rotation answers whatever its accumulator holds at the rotated
//! phase, any 64-bit torus value. `lut_torus` answers `table[x]/m` instead
//! of `table[x]` on the message grid, so sums of its answers wrap modulo
//! `m` (tfhe-rs's native CRT encoding). Reading such a sum takes two
//! bootstraps: `torus_sign`, the constant table `2^(p-1)` at `r/m +
//! 1/(4m)`, answers `±1/4` by the half of the torus it lies in; added back
//! with `+1/4`, it moves the phase into the lower half, at
//! `semantics::torus_read_position`, where `torus_read`'s accumulator has a
//! window of its own for every residue. A window is the half box of the
//! message grid on either side (±1/2^(p+2) of the torus), the distance the
//! parameter set reads correctly at its failure probability: the positions
//! of an odd `m < 2^p` are at least `1/(2m)` apart, two windows.
//! `tests/torus_scale.rs` checks the layout on real ciphertexts.

use silc_ir::semantics;
use tfhe::shortint::server_key::LookupTableOwned;
use tfhe::shortint::ServerKey;

/// The torus value `num/den` as a 64-bit phase, rounded to nearest.
pub fn phase(num: i64, den: i64) -> u64 {
    let n = num.rem_euclid(den) as u128;
    let (q, r) = ((n << 64) / den as u128, (n << 64) % den as u128);
    (q + u128::from(2 * r >= den as u128)) as u64
}

/// An accumulator whose coefficient `j` (of `N`) is `value(j)`.
fn accumulator(key: &ServerKey, value: impl Fn(usize, usize) -> u64) -> LookupTableOwned {
    let mut lut = key.generate_lookup_table(|_| 0);
    let n = lut.acc.polynomial_size().0;
    let mut body = lut.acc.get_mut_body();
    for (j, a) in body.as_mut().iter_mut().enumerate() {
        *a = value(j, n);
    }
    lut
}

/// `lut_torus`: the grid input `v` (box `v` of `2^p`, centred on `v`)
/// answers `entries[v]/m`; the half box below 0, reached from the top of the
/// torus, answers `-entries[0]/m` (negacyclic), as shortint lays out its own
/// tables.
pub fn lut_torus(key: &ServerKey, entries: &[i64], m: i64, p: u32) -> LookupTableOwned {
    accumulator(key, |j, n| {
        let boxed = n >> p;
        let v = (j + boxed / 2) / boxed;
        if v < entries.len() {
            phase(entries[v], m)
        } else {
            phase(-entries[0], m)
        }
    })
}

/// `torus_read` of residues modulo `m`: the window of residue `r`, around
/// its folded position `(4r + 1 mod 2m)/(4m)`, answers `entries[r]` on the
/// message grid (`out = None`) or `entries[r]/t` (`out = Some(t)`).
pub fn torus_read(key: &ServerKey, entries: &[i64], m: i64, out: Option<i64>, p: u32) -> LookupTableOwned {
    let answer = |e: i64| match out {
        Some(t) => phase(e, t),
        None => phase(e, 1i64 << (p + 1)),
    };
    accumulator(key, |j, n| {
        // In units of 1/(2N): the centre of r's window is pos·2N/(4m).
        let (two_n, half_window) = (2 * n as i64, (n >> p) as i64 / 2);
        (0..m)
            .find(|&r| {
                let centre = semantics::torus_read_position(r, m) * two_n / (4 * m);
                (centre - half_window..centre + half_window).contains(&(j as i64))
            })
            .map_or(0, |r| answer(entries[r as usize]))
    })
}

/// `torus_sign`'s constant table: `+1/4` over the whole lower half of the
/// torus, so `-1/4` over the upper (negacyclic), with the boundaries at 0
/// and 1/2 exactly. (shortint's own tables are shifted by half a box to
/// centre the grid values; residues at `r/m + 1/(4m)` are not on the grid.)
pub fn sign(key: &ServerKey) -> LookupTableOwned {
    accumulator(key, |_, _| QUARTER)
}

/// What `torus_sign` adds to its residue before the bootstrap: `1/(4m)`,
/// which keeps every residue off the two halves' boundaries.
pub fn sign_offset(m: i64) -> u64 {
    phase(1, 4 * m)
}

/// What `torus_read` adds to residue plus offset minus sign: a quarter.
pub const QUARTER: u64 = 1 << 62;
