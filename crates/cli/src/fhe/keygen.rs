//! `silc keygen`: the client's key pair for a compiled model, with the
//! cheapest tfhe-rs parameter set whose noise bound covers the circuit.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use silc_tfhe::{params, ClientKeys};

use super::{key_id, load_model, ser, write_file};

#[derive(clap::Args)]
pub struct KeygenArgs {
    /// The compiled model (`silc compile ... -o model.silc`).
    pub model: PathBuf,
    /// Folder for `client.key` (secret) and `server.key` (evaluation keys).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
}

pub fn keygen(args: &KeygenArgs) -> Result<(), String> {
    let m = load_model(&args.model)?;
    let p = m.graph.bits;
    let norm = silc_passes::check::max_bootstrap_norm(&m.graph);
    let cand = params::choose(p, m.spec.pfail_log2, norm).ok_or_else(|| {
        format!(
            "error: no tfhe-rs parameter set at {p} bits has a noise bound of {norm:.2}; recompile with `--check deny`"
        )
    })?;
    std::fs::create_dir_all(&args.output)
        .map_err(|e| format!("error: cannot create {}: {e}", args.output.display()))?;
    let start = Instant::now();
    let client = ClientKeys::new(&cand, p);
    // The server key travels seeded (compressed); `run` expands it once.
    let server = tfhe::shortint::CompressedServerKey::new(&client.key);
    let ck = ser(&client.key);
    let sk = ser(&server);
    // External products refresh the server's operands with a precise key.
    let precise = super::external(&m.graph).then(|| ser(&client.precise_key_seeded()));
    let id = key_id(&sk, precise.as_deref());
    let header = |kind: &str| {
        json!({
            "kind": kind, "model": m.spec.name, "precision": p, "parameter_set": cand.name,
            "pfail_log2": cand.pfail_log2, "circuit": m.hash, "key_id": id,
            "model_info": crate::weights::ModelInfo::new(&m.spec, &m.quant, &m.graph),
        })
    };
    write_file(&args.output.join("client.key"), b"SILCCKEY", header("client-key"), &[("key", ck.clone())])?;
    let mut server_sections = vec![("key", sk)];
    server_sections.extend(precise.map(|p| ("precise-key", p)));
    let server_size: usize = server_sections.iter().map(|s| s.1.len()).sum();
    write_file(&args.output.join("server.key"), b"SILCSKEY", header("server-key"), &server_sections)?;
    crate::emit(&format!(
        "parameters {} (ν = {}, circuit needs {:.2}; p-fail 2^-{}); keys in {:.1} s, key id {id}\nwrote {} ({} KiB, secret) and {} ({} KiB)\n",
        cand.name,
        cand.nu,
        norm,
        cand.pfail_log2,
        start.elapsed().as_secs_f64(),
        args.output.join("client.key").display(),
        ck.len() / 1024,
        args.output.join("server.key").display(),
        server_size / 1024
    ));
    Ok(())
}
