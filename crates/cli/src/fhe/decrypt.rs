//! `silc decrypt`: the client decrypts trained weights to JSON, refusing a
//! key, trained file or standardization that do not belong together.

use std::path::{Path, PathBuf};

use silc_sim::Tensor;
use silc_tfhe::params;

use super::client_key;
use super::cts::{read_members, read_weights};
use crate::container;

#[derive(clap::Args)]
pub struct DecryptArgs {
    /// The trained weights from `silc run`.
    pub trained: PathBuf,
    /// The client key (`data.stats.json` is read beside it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Where to write the weights (JSON).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

pub fn decrypt(args: &DecryptArgs) -> Result<(), String> {
    let kname = args.key.display().to_string();
    let kbytes = container::read_all(&args.key)?;
    let kc = container::parse(&kname, &kbytes, b"SILCCKEY")?;
    let info: crate::weights::ModelInfo = serde_json::from_value(kc.header["model_info"].clone())
        .map_err(|e| format!("error: {kname}: the header's `model_info` is not valid: {e}"))?;
    let client = client_key(&kname, kc.section(&kname, "key")?, info.precision)?;
    let name = args.trained.display().to_string();
    let bytes = container::read_all(&args.trained)?;
    let c = container::parse(&name, &bytes, b"SILCTRND")?;
    if c.str("circuit") != kc.str("circuit") {
        return Err(format!(
            "error: {name} was trained for another circuit than {kname} was made for (model `{}` vs `{}`)",
            c.str("model"),
            kc.str("model")
        ));
    }
    if c.str("key_id") != kc.str("key_id") {
        return Err(format!(
            "error: {name} was trained under another key pair than {kname} (key ids {} and {}); decrypt it with the client key that encrypted its job",
            c.str("key_id"),
            kc.str("key_id")
        ));
    }
    // The key's own parameter set: the one its encryptions conform to.
    let probe = client.key.unchecked_encrypt(0);
    let set = kc.str("parameter_set");
    let cand = params::named(info.precision, set)
        .into_iter()
        .find(|cand| cand.ciphertext_conforms(&probe))
        .ok_or_else(|| format!("error: {kname}: section `key` does not match its parameter set {set}"))?;
    let shapes: Vec<Vec<usize>> = info.weights.iter().map(|(s, _)| s.clone()).collect();
    let weights = read_weights(&name, &c, &shapes, &cand)?;
    let last = c.header["epochs"].as_u64().map_or(usize::MAX, |e| e as usize);
    let earlier = read_members(&name, &c, &shapes, &cand, last)?;
    let open = |ws: &[silc_tfhe::exec::CtTensor]| -> Vec<Tensor> {
        ws.iter().zip(&info.weights).map(|(w, (_, off))| client.decrypt(w).map(|v| v - off)).collect()
    };
    let ints = open(&weights);
    let earlier: Vec<(usize, Vec<Tensor>)> = earlier.iter().map(|(e, ws)| (*e, open(ws))).collect();
    let stats = read_stats(&args.key.parent().unwrap_or(Path::new(".")).join("data.stats.json"), kc.str("key_id"))?;
    let out = crate::weights::to_json(&info, &ints, &earlier, stats.as_ref());
    crate::io::write_atomic(&args.output, serde_json::to_string_pretty(&out).expect("json").as_bytes())?;
    crate::emit(&format!("wrote {}\n", args.output.display()));
    Ok(())
}

/// The training set's standardization beside the key, if `encrypt` wrote
/// one; it must be valid JSON and belong to the key pair `key_id`.
fn read_stats(path: &Path, key_id: &str) -> Result<Option<serde_json::Value>, String> {
    let Ok(bytes) = std::fs::read(path) else { return Ok(None) };
    let name = path.display();
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("error: {name}: not a standardization file: {e}"))?;
    let ok = |k: &str| v.get(k).and_then(|x| x.as_array()).is_some();
    if !ok("mean") || !ok("std") {
        return Err(format!("error: {name}: the standardization lacks `mean` or `std`"));
    }
    if v.get("key_id").and_then(|x| x.as_str()) != Some(key_id) {
        return Err(format!(
            "error: {name} was written for another key pair (key id {}, the key's is {key_id}); encrypt again with this key",
            v.get("key_id").and_then(|x| x.as_str()).unwrap_or("none")
        ));
    }
    Ok(Some(v))
}
