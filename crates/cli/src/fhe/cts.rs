//! Ciphertext sections: seeded (compressed) ciphertexts as `encrypt` writes
//! them, full ciphertexts as `run` writes trained weights and checkpoints,
//! and the checks on reading them back (counts, shapes, tfhe-rs conformance
//! to the job's parameter set). Every count and length is checked against
//! the bytes at hand before anything is allocated.

use std::io::Cursor;
use std::path::Path;

use silc_sim::Tensor;
use silc_tfhe::exec::CtTensor;
use silc_tfhe::{params, ClientKeys};
use tfhe::safe_serialization::{safe_deserialize, safe_serialize};
use tfhe::shortint::{Ciphertext, CompressedCiphertext};

use super::{de, ser, write_file, CT_LIMIT, GGSW_LIMIT};
use crate::container;
use silc_tfhe::upload::{ggsws_conform, SeededGgsws};

/// Seeded ciphertexts: a count, then per ciphertext a length and its bytes.
pub(super) fn encode_cts(cts: &[CompressedCiphertext]) -> Vec<u8> {
    let mut v = (cts.len() as u64).to_le_bytes().to_vec();
    write_seeded(&mut v, cts).expect("writing to memory cannot fail");
    v
}

/// Each ciphertext's length and bytes, after the count [`encode_cts`] and
/// [`stream_cts`] write (serialized in parallel).
fn write_seeded<O: std::io::Write>(out: &mut O, cts: &[CompressedCiphertext]) -> std::io::Result<()> {
    use rayon::prelude::*;
    let bytes: Vec<Vec<u8>> = cts.par_iter().map(ser).collect();
    for b in bytes {
        out.write_all(&(b.len() as u64).to_le_bytes())?;
        out.write_all(&b)?;
    }
    Ok(())
}

pub(super) fn decode_compressed(name: &str, what: &str, bytes: &[u8]) -> Result<Vec<CompressedCiphertext>, String> {
    let bad = |i: usize| format!("error: {name}: section `{what}`: ciphertext {i} is truncated or corrupted");
    records(name, what, bytes, ("ciphertext", "ciphertexts"), &bad)?
        .into_iter()
        .enumerate()
        .map(|(i, body)| de(body, CT_LIMIT).map_err(|e| format!("{}: {e}", bad(i))))
        .collect()
}

/// The records of a section written as a count, then per record its
/// length and bytes, checked against the bytes at hand before anything is
/// allocated; `bad(i)` says that record `i` is truncated, and `noun` names
/// a record (singular, plural) in the other messages.
fn records<'b>(
    name: &str,
    what: &str,
    bytes: &'b [u8],
    noun: (&str, &str),
    bad: &dyn Fn(usize) -> String,
) -> Result<Vec<&'b [u8]>, String> {
    let take =
        |at: usize| bytes.get(at..at.checked_add(8)?).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let n = take(0).ok_or_else(|| bad(0))?;
    // Each record takes at least its 8-byte length: a larger count is a lie.
    if n > (bytes.len() / 8) as u64 {
        return Err(format!(
            "error: {name}: section `{what}` claims {n} {} in {} bytes: corrupted",
            noun.1,
            bytes.len()
        ));
    }
    let mut at = 8usize;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let len = take(at).ok_or_else(|| bad(i))?;
        let body = usize::try_from(len)
            .ok()
            .and_then(|len| bytes.get(at + 8..(at + 8).checked_add(len)?))
            .ok_or_else(|| bad(i))?;
        out.push(body);
        at += 8 + body.len();
    }
    if at != bytes.len() {
        return Err(format!(
            "error: {name}: section `{what}` has {} bytes after its last {}",
            bytes.len() - at,
            noun.0
        ));
    }
    Ok(out)
}

fn decode_cts(name: &str, what: &str, bytes: &[u8]) -> Result<Vec<Ciphertext>, String> {
    if bytes.len() < 8 {
        return Err(format!("error: {name}: section `{what}` is truncated"));
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > bytes.len() as u64 {
        return Err(format!(
            "error: {name}: section `{what}` claims {n} ciphertexts in {} bytes: corrupted",
            bytes.len()
        ));
    }
    let mut cur = Cursor::new(&bytes[8..]);
    (0..n)
        .map(|i| {
            safe_deserialize(&mut cur, CT_LIMIT)
                .map_err(|e| format!("error: {name}: section `{what}`: ciphertext {i} is corrupted: {e}"))
        })
        .collect()
}

#[cfg(test)]
pub(super) fn decode_cts_for_tests(name: &str, what: &str, bytes: &[u8]) -> Result<Vec<Ciphertext>, String> {
    decode_cts(name, what, bytes)
}

/// Samples encrypted (and written) per chunk: bounds `encrypt`'s memory.
const ENCRYPT_CHUNK: usize = 1024;

/// Streams seeded encryptions of `rows` rows of `width` stored values each
/// (row `i` from `row(i)`) in the layout [`decode_compressed`] reads: the
/// count, then each ciphertext's length and bytes. Only one chunk of rows is
/// in memory at a time.
pub(super) fn stream_cts<O: std::io::Write>(
    out: &mut O,
    client: &ClientKeys,
    rows: usize,
    width: usize,
    row: &(dyn Fn(usize) -> Vec<i64> + Sync),
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    use rayon::prelude::*;
    let io = |e: std::io::Error| format!("error: writing ciphertexts: {e}");
    out.write_all(&((rows * width) as u64).to_le_bytes()).map_err(io)?;
    for first in (0..rows).step_by(ENCRYPT_CHUNK) {
        let last = (first + ENCRYPT_CHUNK).min(rows);
        let flat: Vec<i64> = (first..last).into_par_iter().flat_map_iter(row).collect();
        write_seeded(out, &client.encrypt_compressed(&Tensor::new(vec![flat.len()], flat))).map_err(io)?;
        bar.inc((last - first) as u64);
    }
    Ok(())
}

/// Streams the forms of `rows` samples (`silc_sim::forms`), a chunk of
/// samples at a time: `chunk(range)` gives their stored values, each
/// sample's `tori.len()` values in turn, and value `j` of a sample is
/// encrypted at the torus `tori[j]`. The layout is [`stream_cts`]'s.
pub(super) fn stream_forms<O: std::io::Write>(
    out: &mut O,
    client: &ClientKeys,
    rows: usize,
    tori: &[i64],
    chunk: &dyn Fn(std::ops::Range<usize>) -> Result<Vec<i64>, String>,
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    let io = |e: std::io::Error| format!("error: writing ciphertexts: {e}");
    out.write_all(&((rows * tori.len()) as u64).to_le_bytes()).map_err(io)?;
    for first in (0..rows).step_by(ENCRYPT_CHUNK) {
        let last = (first + ENCRYPT_CHUNK).min(rows);
        let flat = chunk(first..last)?;
        if flat.len() != (last - first) * tori.len() {
            return Err(format!(
                "error: the forms of samples {first}..{last} hold {} values, not {} per sample",
                flat.len(),
                tori.len()
            ));
        }
        let at: Vec<(i64, i64)> = flat.iter().zip(tori.iter().cycle()).map(|(&v, &t)| (v, t)).collect();
        let sealed = client.encrypt_at_compressed(&at);
        write_seeded(out, &sealed).map_err(io)?;
        bar.inc((last - first) as u64);
    }
    Ok(())
}

/// Samples whose GGSW ciphertexts are encrypted together (about 8 MiB
/// each for a 64-feature sample, seeded).
const GGSW_CHUNK: usize = 32;

/// Streams the GGSW forms of `rows` samples (`silc_sim::forms`, the first
/// operands of the circuit's `ext_dot`s), a chunk of samples at a time:
/// `chunk(range)` gives their logical values, `width` per sample, and each
/// sample's are encrypted as one seeded list. The layout is the count of
/// samples, then per sample its list's length and bytes
/// ([`decode_ggsws`]).
pub(super) fn stream_ggsws<O: std::io::Write>(
    out: &mut O,
    client: &ClientKeys,
    rows: usize,
    width: usize,
    chunk: &dyn Fn(std::ops::Range<usize>) -> Result<Vec<i64>, String>,
    bar: &indicatif::ProgressBar,
) -> Result<(), String> {
    use rayon::prelude::*;
    let io = |e: std::io::Error| format!("error: writing GGSW ciphertexts: {e}");
    out.write_all(&(rows as u64).to_le_bytes()).map_err(io)?;
    for first in (0..rows).step_by(GGSW_CHUNK) {
        let last = (first + GGSW_CHUNK).min(rows);
        let flat = chunk(first..last)?;
        if flat.len() != (last - first) * width {
            return Err(format!(
                "error: the GGSW forms of samples {first}..{last} hold {} values, not {width} per sample",
                flat.len()
            ));
        }
        let lists: Vec<Vec<u8>> =
            flat.par_chunks(width.max(1)).map(|values| ser(&client.encrypt_ggsw_seeded(values))).collect();
        for b in lists {
            out.write_all(&(b.len() as u64).to_le_bytes()).map_err(io)?;
            out.write_all(&b).map_err(io)?;
        }
        bar.inc((last - first) as u64);
    }
    Ok(())
}

/// The samples' GGSW lists of section `what` ([`stream_ggsws`]), each
/// checked to hold `width` GGSW ciphertexts of the set `cand`.
pub(super) fn decode_ggsws(
    name: &str,
    what: &str,
    bytes: &[u8],
    width: usize,
    cand: &params::Candidate,
) -> Result<Vec<SeededGgsws>, String> {
    let bad = |i: usize| {
        format!("error: {name}: section `{what}`: the GGSW ciphertexts of sample {i} are truncated or corrupted")
    };
    records(name, what, bytes, ("sample", "samples"), &bad)?
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let list: SeededGgsws = de(body, GGSW_LIMIT).map_err(|e| format!("{}: {e}", bad(i)))?;
            if !ggsws_conform(&list, cand, width) {
                return Err(format!(
                    "error: {name}: section `{what}`: the GGSW ciphertexts of sample {i} are not {width} GGSW \
                     ciphertexts of {}",
                    cand.name
                ));
            }
            Ok(list)
        })
        .collect()
}

fn encode_plain_cts(cts: &[Ciphertext]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(cts.len() as u64).to_le_bytes());
    for c in cts {
        safe_serialize(c, &mut v, CT_LIMIT).expect("in memory");
    }
    v
}

/// Earlier ensemble members: `(epoch, weights after it)`, the oldest first.
pub(super) type Members = [(usize, Vec<CtTensor>)];

/// A trained or checkpoint file: the weights `w1 …`, and each earlier
/// ensemble member's as `epoch{E}.w1 …`, their epochs listed in the header's
/// `ensemble_epochs`.
pub(super) fn write_weights(
    path: &Path,
    magic: &[u8; 8],
    mut header: serde_json::Value,
    weights: &[CtTensor],
    earlier: &Members,
) -> Result<(), String> {
    header["ensemble_epochs"] = serde_json::json!(earlier.iter().map(|m| m.0).collect::<Vec<_>>());
    let mut sections: Vec<(String, Vec<u8>)> =
        weights.iter().enumerate().map(|(l, w)| (format!("w{}", l + 1), encode_plain_cts(&w.cts))).collect();
    for (epoch, ws) in earlier {
        sections
            .extend(ws.iter().enumerate().map(|(l, w)| (format!("epoch{epoch}.w{}", l + 1), encode_plain_cts(&w.cts))));
    }
    write_file(path, magic, header, &sections)
}

/// The weight tensors `w1 …` of a trained or checkpoint file, each checked
/// against its shape and for conformance to the parameter set `cand`.
pub(super) fn read_weights(
    name: &str,
    c: &container::Container<'_>,
    shapes: &[Vec<usize>],
    cand: &params::Candidate,
) -> Result<Vec<CtTensor>, String> {
    read_set(name, c, "", shapes, cand)
}

/// The earlier ensemble members of a trained or checkpoint file, by the
/// header's `ensemble_epochs` (none if it has no such list): each epoch
/// from 1 to `epochs`, rising, below `last`, with every layer's section.
pub(super) fn read_members(
    name: &str,
    c: &container::Container<'_>,
    shapes: &[Vec<usize>],
    cand: &params::Candidate,
    last: usize,
) -> Result<Vec<(usize, Vec<CtTensor>)>, String> {
    let Some(list) = c.header.get("ensemble_epochs") else { return Ok(Vec::new()) };
    let epochs: Vec<usize> = serde_json::from_value(list.clone())
        .map_err(|_| format!("error: {name}: the header's `ensemble_epochs` is not a list of epoch numbers"))?;
    if epochs.windows(2).any(|w| w[0] >= w[1]) || epochs.iter().any(|&e| e == 0 || e >= last) {
        return Err(format!(
            "error: {name}: the header's `ensemble_epochs` {epochs:?} must rise and lie between 1 and epoch {last}, \
             the weights' own"
        ));
    }
    epochs.into_iter().map(|e| Ok((e, read_set(name, c, &format!("epoch{e}."), shapes, cand)?))).collect()
}

/// The sections `{prefix}w1 …`, each checked against its shape and for
/// conformance to `cand`.
fn read_set(
    name: &str,
    c: &container::Container<'_>,
    prefix: &str,
    shapes: &[Vec<usize>],
    cand: &params::Candidate,
) -> Result<Vec<CtTensor>, String> {
    shapes
        .iter()
        .enumerate()
        .map(|(l, shape)| {
            let shape = shape.clone();
            let wname = format!("{prefix}w{}", l + 1);
            let cts = decode_cts(name, &wname, c.section(name, &wname)?)?;
            conform(name, &wname, &cts, cand.name, |ct| cand.ciphertext_conforms(ct))?;
            if cts.len() != shape.iter().product::<usize>() {
                return Err(format!(
                    "error: {name}: section `{wname}` holds {} ciphertexts, the circuit needs {:?}",
                    cts.len(),
                    shape
                ));
            }
            Ok(CtTensor { shape, cts })
        })
        .collect()
}

/// Refuses ciphertexts of section `what` that `conforms` rejects (made for
/// other parameters than the set `set`, or corrupted).
pub(super) fn conform<T>(
    name: &str,
    what: &str,
    cts: &[T],
    set: &str,
    conforms: impl Fn(&T) -> bool,
) -> Result<(), String> {
    match cts.iter().position(|ct| !conforms(ct)) {
        Some(i) => Err(format!("error: {name}: section `{what}`: ciphertext {i} does not conform to {set}")),
        None => Ok(()),
    }
}
