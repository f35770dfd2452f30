//! Where `silc run` gets its bytes, alone or as one rank of an MPI job.
//!
//! A single process reads the job file (verified whole first) and its
//! checkpoint itself. Under `mpirun` (the `mpi` feature), rank 0 does
//! exactly that and shares every byte it read with the other ranks, which
//! never touch the file system: the job, with its server key, reaches each
//! rank once. Every rank then decodes the same bytes the same way, so a
//! malformed job fails on every rank alike; a file rank 0 cannot read
//! stops the others too (the shared status says so), and rank 0 alone
//! prints why ([`Node::stop`]).

use std::path::Path;

use crate::container;

/// One process of the run: alone, or one rank of an MPI job.
pub struct Node {
    #[cfg(feature = "mpi")]
    pub cluster: Option<silc_tfhe::cluster::Cluster>,
}

impl Node {
    /// Joins the MPI job when `mpirun` started this process (and the `mpi`
    /// feature is built in); otherwise runs alone.
    pub fn start() -> Node {
        #[cfg(feature = "mpi")]
        {
            let launched =
                ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"].iter().any(|v| std::env::var_os(v).is_some());
            let cluster = if launched { silc_tfhe::cluster::Cluster::init() } else { None };
            Node { cluster: cluster.filter(|c| c.size() > 1) }
        }
        #[cfg(not(feature = "mpi"))]
        Node {}
    }

    /// Rank 0, or the only process: the one that reads and writes files
    /// and reports.
    pub fn is_root(&self) -> bool {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.cluster {
            return c.is_root();
        }
        true
    }

    /// Ranks in the job (1 alone).
    pub fn ranks(&self) -> usize {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.cluster {
            return c.size();
        }
        1
    }

    /// `read()` on rank 0 (or alone), shared with every rank. On ranks
    /// other than 0 `read` is not called.
    pub fn share(&self, read: impl FnOnce() -> Result<Vec<u8>, String>) -> Result<Vec<u8>, String> {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.cluster {
            let mine = c.is_root().then(read);
            // Rank 0 gets its own message back; the others stop with it
            // and say nothing more ([`Node::stop`]).
            return c.share(mine).map_err(|e| e.unwrap_or_default());
        }
        read()
    }

    /// After an error every rank has (rank 0's failed read, which it shared,
    /// or the same decoding error on the same bytes): rank 0 prints it,
    /// then every rank waits for the others, so that no rank's exit makes
    /// `mpirun` kill rank 0 before it has spoken. Returns what is left to
    /// print (alone: the whole message).
    pub fn stop(&self, message: String) -> String {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.cluster {
            if c.is_root() {
                eprintln!("{}", message.trim_end());
            }
            c.barrier();
            return String::new();
        }
        message
    }

    /// Ends the whole MPI job after an error only this rank saw (rank 0's
    /// file writes); alone, returns the error.
    pub fn fail(&self, message: String) -> String {
        #[cfg(feature = "mpi")]
        if let Some(c) = &self.cluster {
            eprintln!("{message}");
            c.abort(2);
        }
        message
    }
}

/// The job's sections, as rank 0 read them from the verified file.
pub struct Source<'n> {
    node: &'n Node,
    job: Option<container::Opened>,
    /// The file's name, for messages.
    pub name: String,
    /// The header, and the id of the file's whole content.
    pub header: serde_json::Value,
    pub file_id: String,
}

impl<'n> Source<'n> {
    /// Opens the job: rank 0 (or the only process) verifies every section's
    /// checksum and refuses secret material; the header reaches every rank.
    pub fn open(node: &'n Node, path: &Path) -> Result<Source<'n>, String> {
        let name = path.display().to_string();
        let mut job = None;
        let index = node.share(|| {
            let opened = open_job(path)?;
            let index = serde_json::json!({ "header": opened.index.header, "file_id": opened.index.file_id });
            job = Some(opened);
            Ok(serde_json::to_vec(&index).expect("JSON to memory"))
        })?;
        let index: serde_json::Value =
            serde_json::from_slice(&index).map_err(|e| format!("error: {name}: the shared header is not JSON: {e}"))?;
        let file_id = index["file_id"].as_str().unwrap_or_default().to_string();
        Ok(Source { node, job, name, header: index["header"].clone(), file_id })
    }

    pub fn str(&self, key: &str) -> &str {
        self.header.get(key).and_then(|v| v.as_str()).unwrap_or("")
    }

    /// One section's body, on every rank.
    pub fn section(&mut self, tag: &str) -> Result<Vec<u8>, String> {
        let job = &mut self.job;
        self.node.share(|| job.as_mut().expect("rank 0 holds the job").read(tag))
    }
}

fn open_job(path: &Path) -> Result<container::Opened, String> {
    let name = path.display().to_string();
    let mut head = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open(path) {
        use std::io::Read;
        let _ = f.read(&mut head);
    }
    if &head == b"SILCCKEY" {
        return Err(format!("error: {name} is a client key: the server must never be given the secret key"));
    }
    // Every checksum, streamed, before anything else.
    let job = container::open(path, b"SILCJOB1")?;
    if job.index.sections.iter().any(|s| s.tag.contains("client")) || job.index.str("kind") != "job" {
        return Err(format!("error: {name} carries secret client material; refusing to run it on a server"));
    }
    Ok(job)
}
