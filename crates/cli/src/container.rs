//! The container every silc file uses: magic bytes, a format version, a JSON
//! header (what the file is, the parameters it was made for), then tagged
//! binary sections, each with a BLAKE3 checksum, and an end mark.
//!
//! ```text
//! magic [8] | version u32 LE | header length u32 LE | header JSON | checksum [32]
//! per section: tag length u8 | tag | body length u64 LE | body | checksum [32]
//! end mark:    0u8 | length 32 u64 LE | digest [32] | checksum [32]
//! ```
//!
//! The header's checksum covers everything before it; a section's covers
//! `tag length ‖ tag ‖ body ‖ body length` (the length last, so a streamed
//! section, whose length is patched in when its body is done, is hashed as
//! it is written). The end mark's digest hashes the header's and every
//! section's checksum in order: a file cut at a section boundary, or with
//! sections dropped, swapped or appended, is refused, and the digest
//! identifies the file's whole content (the *file id* that ties a checkpoint
//! to its job).
//!
//! Reading streams: [`scan`] verifies every checksum a chunk at a time and
//! keeps only an index of the sections, so memory stays flat whatever the
//! file's size; every length is checked against the file's size before
//! anything is allocated. [`Opened::read`] re-reads one section and checks
//! it again. BLAKE3 (the `blake3` crate, already in the build as a tfhe-rs
//! dependency) hashes at several GB/s on one core with SIMD, streams, and is
//! collision resistant, so the same digest serves as integrity check and as
//! file identity.

#![cfg_attr(not(feature = "fhe"), allow(dead_code))]

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

pub const VERSION: u32 = 2;
const SUM: usize = 32;
/// The largest header a silc file may have (headers are small JSON).
const MAX_HEADER: usize = 1 << 24;

fn section_hasher(tag: &str) -> blake3::Hasher {
    let mut h = blake3::Hasher::new();
    h.update(&[tag.len() as u8]);
    h.update(tag.as_bytes());
    h
}

/// A writer that hashes what passes through it.
pub struct Hashing<'a, W: Write> {
    inner: &'a mut W,
    hasher: blake3::Hasher,
    len: u64,
}

impl<W: Write> Write for Hashing<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

pub struct Writer<W: Write> {
    out: W,
    /// The header's and every section's checksum so far, for the end mark.
    digest: blake3::Hasher,
}

impl<W: Write> Writer<W> {
    pub fn new(mut out: W, magic: &[u8; 8], header: &serde_json::Value) -> std::io::Result<Self> {
        let head = serde_json::to_vec(header).expect("headers serialize");
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(head.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&head);
        let sum = blake3::hash(&bytes);
        out.write_all(&bytes)?;
        out.write_all(sum.as_bytes())?;
        let mut digest = blake3::Hasher::new();
        digest.update(sum.as_bytes());
        Ok(Writer { out, digest })
    }

    pub fn section(&mut self, tag: &str, body: &[u8]) -> std::io::Result<()> {
        assert!(!tag.is_empty() && tag.len() < 256, "section tags are 1 to 255 bytes");
        let mut h = section_hasher(tag);
        h.update(body);
        h.update(&(body.len() as u64).to_le_bytes());
        self.out.write_all(&[tag.len() as u8])?;
        self.out.write_all(tag.as_bytes())?;
        self.out.write_all(&(body.len() as u64).to_le_bytes())?;
        self.out.write_all(body)?;
        self.put_sum(h.finalize())
    }

    fn put_sum(&mut self, sum: blake3::Hash) -> std::io::Result<()> {
        self.digest.update(sum.as_bytes());
        self.out.write_all(sum.as_bytes())
    }

    /// A section whose body `fill` streams straight into the output (hashed
    /// on the way); its length is patched in afterwards, so the body never
    /// sits in memory.
    pub fn section_streamed(
        &mut self,
        tag: &str,
        fill: impl FnOnce(&mut Hashing<'_, W>) -> Result<(), String>,
    ) -> Result<(), String>
    where
        W: Seek,
    {
        assert!(!tag.is_empty() && tag.len() < 256, "section tags are 1 to 255 bytes");
        let io = |e: std::io::Error| format!("error: writing section `{tag}`: {e}");
        self.out.write_all(&[tag.len() as u8]).map_err(io)?;
        self.out.write_all(tag.as_bytes()).map_err(io)?;
        let len_at = self.out.stream_position().map_err(io)?;
        self.out.write_all(&0u64.to_le_bytes()).map_err(io)?;
        let mut hashing = Hashing { inner: &mut self.out, hasher: section_hasher(tag), len: 0 };
        fill(&mut hashing)?;
        let Hashing { mut hasher, len, .. } = hashing;
        hasher.update(&len.to_le_bytes());
        let end = self.out.stream_position().map_err(io)?;
        self.out.seek(SeekFrom::Start(len_at)).map_err(io)?;
        self.out.write_all(&len.to_le_bytes()).map_err(io)?;
        self.out.seek(SeekFrom::Start(end)).map_err(io)?;
        self.put_sum(hasher.finalize()).map_err(io)
    }

    /// Writes the end mark and returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        let digest = self.digest.finalize();
        let mut h = section_hasher("");
        h.update(digest.as_bytes());
        h.update(&(SUM as u64).to_le_bytes());
        self.out.write_all(&[0])?;
        self.out.write_all(&(SUM as u64).to_le_bytes())?;
        self.out.write_all(digest.as_bytes())?;
        self.out.write_all(h.finalize().as_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// What a magic number means, for messages about the wrong kind of file.
pub fn kind_of(magic: &[u8]) -> &'static str {
    match magic {
        b"SILCMODL" => "a compiled model (.silc)",
        b"SILCCKEY" => "a client key",
        b"SILCSKEY" => "a server key",
        b"SILCJOB1" => "an encrypted training job",
        b"SILCTRND" => "trained encrypted weights",
        b"SILCCKPT" => "a training checkpoint",
        _ => "not a silc file",
    }
}

/// Where one verified section's body lies in its file.
#[derive(Clone, Debug)]
pub struct SectionInfo {
    pub tag: String,
    /// Offset of the body's first byte in the file.
    pub at: u64,
    pub len: u64,
    sum: [u8; SUM],
}

/// A verified file's header and section index.
#[derive(Clone, Debug)]
pub struct Index {
    pub header: serde_json::Value,
    pub sections: Vec<SectionInfo>,
    /// Hex of the end mark's digest: identifies the file's whole content.
    pub file_id: String,
}

/// Reads exactly `buf.len()` bytes or reports a truncation at `what`.
fn fill(r: &mut impl Read, buf: &mut [u8], name: &str, what: &dyn Fn() -> String) -> Result<(), String> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => format!("error: {name}: the file is truncated ({})", what()),
        _ => format!("error: cannot read {name}: {e}"),
    })
}

/// Reads and verifies a whole file of `total` bytes from `r`, a chunk at a
/// time: the magic, the version, the header's checksum, every section's
/// checksum and the end mark. Keeps only the index.
pub fn scan(name: &str, r: &mut impl Read, total: u64, magic: &[u8; 8]) -> Result<Index, String> {
    let bad = |what: &str| format!("error: {name}: {what}");
    if total < 16 {
        return Err(bad("the file is truncated (shorter than a silc header)"));
    }
    let mut head = [0u8; 16];
    fill(r, &mut head, name, &|| "in its header".into())?;
    if &head[..8] != magic {
        return Err(bad(&format!(
            "the header's magic number (bytes 0..8) says this is {}, expected {}",
            kind_of(&head[..8]),
            kind_of(magic)
        )));
    }
    let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(bad(&format!(
            "the header's version field (bytes 8..12) gives format version {version}, this silc reads version {VERSION}; use a matching silc (or the file is corrupted)"
        )));
    }
    let hlen = u32::from_le_bytes(head[12..16].try_into().expect("4 bytes")) as usize;
    if hlen > MAX_HEADER || 16 + hlen as u64 + SUM as u64 > total {
        return Err(bad(&format!(
            "the header's length field (bytes 12..16) says {hlen} bytes, the file has {total}: truncated or corrupted"
        )));
    }
    let mut json = vec![0u8; hlen];
    fill(r, &mut json, name, &|| "in its header".into())?;
    let mut sum = [0u8; SUM];
    fill(r, &mut sum, name, &|| "in its header".into())?;
    let mut h = blake3::Hasher::new();
    h.update(&head);
    h.update(&json);
    if h.finalize().as_bytes() != &sum {
        return Err(bad(&format!(
            "the header (bytes 0..{}) is corrupted: its checksum does not match",
            16 + hlen + SUM
        )));
    }
    let header: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| bad(&format!("the header is not valid JSON: {e}")))?;
    let mut digest = blake3::Hasher::new();
    digest.update(&sum);
    let mut at = (16 + hlen + SUM) as u64;
    let mut sections = Vec::new();
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let start = at;
        let number = sections.len() + 1;
        let place = |tag: &str| {
            if tag.is_empty() {
                format!("the end mark at byte {start}")
            } else {
                format!("section {number} `{tag}` at byte {start}")
            }
        };
        if at == total {
            return Err(bad("the file is truncated (its end mark is missing)"));
        }
        let mut tlen = [0u8; 1];
        fill(r, &mut tlen, name, &|| format!("in the section header at byte {start}"))?;
        let mut tag = vec![0u8; tlen[0] as usize];
        fill(r, &mut tag, name, &|| format!("in the section header at byte {start}"))?;
        let tag = String::from_utf8_lossy(&tag).into_owned();
        let mut len = [0u8; 8];
        fill(r, &mut len, name, &|| format!("in the header of {}", place(&tag)))?;
        let len = u64::from_le_bytes(len);
        let body_at = start + 1 + tlen[0] as u64 + 8;
        let remain = total.saturating_sub(body_at);
        if tag.is_empty() && len != SUM as u64 {
            return Err(bad(&format!(
                "{}: its length field says {len} bytes, an end mark has {SUM}: corrupted",
                place("")
            )));
        }
        if len > remain.saturating_sub(SUM as u64) {
            return Err(bad(&format!(
                "{}: its length field says {len} bytes, only {} follow: the file is truncated or corrupted",
                place(&tag),
                remain.saturating_sub(SUM as u64)
            )));
        }
        let mut h = section_hasher(&tag);
        let mut end_body = Vec::new();
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            fill(r, &mut chunk[..n], name, &|| format!("in {}", place(&tag)))?;
            h.update(&chunk[..n]);
            if tag.is_empty() {
                end_body.extend_from_slice(&chunk[..n]);
            }
            left -= n as u64;
        }
        h.update(&len.to_le_bytes());
        fill(r, &mut sum, name, &|| format!("in {}", place(&tag)))?;
        at = body_at + len + SUM as u64;
        if h.finalize().as_bytes() != &sum {
            return Err(bad(&format!(
                "{} (bytes {start}..{at}) is corrupted: its checksum does not match",
                place(&tag)
            )));
        }
        if tag.is_empty() {
            if end_body.as_slice() != digest.finalize().as_bytes() {
                return Err(bad(&format!(
                    "{} does not match the sections before it: sections were lost, added or reordered",
                    place("")
                )));
            }
            if at != total {
                return Err(bad(&format!("{} bytes follow the end mark (byte {at}): corrupted", total - at)));
            }
            let file_id = end_body.iter().take(16).map(|b| format!("{b:02x}")).collect();
            return Ok(Index { header, sections, file_id });
        }
        digest.update(&sum);
        sections.push(SectionInfo { tag, at: body_at, len, sum });
    }
}

impl Index {
    pub fn info(&self, name: &str, tag: &str) -> Result<&SectionInfo, String> {
        self.sections
            .iter()
            .find(|s| s.tag == tag)
            .ok_or_else(|| format!("error: {name}: the file has no `{tag}` section (not a file silc wrote)"))
    }

    pub fn str(&self, key: &str) -> &str {
        header_str(&self.header, key)
    }
}

/// A string field of a header, or "" when absent.
fn header_str<'h>(header: &'h serde_json::Value, key: &str) -> &'h str {
    header.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// A parsed in-memory container, its sections borrowed from the bytes.
pub struct Container<'a> {
    pub header: serde_json::Value,
    pub sections: Vec<(String, &'a [u8])>,
}

/// Verifies and indexes a whole file held in memory.
pub fn parse<'a>(name: &str, bytes: &'a [u8], magic: &[u8; 8]) -> Result<Container<'a>, String> {
    let index = scan(name, &mut &bytes[..], bytes.len() as u64, magic)?;
    let sections =
        index.sections.iter().map(|s| (s.tag.clone(), &bytes[s.at as usize..(s.at + s.len) as usize])).collect();
    Ok(Container { header: index.header, sections })
}

impl<'a> Container<'a> {
    pub fn section(&self, name: &str, tag: &str) -> Result<&'a [u8], String> {
        self.sections
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("error: {name}: the file has no `{tag}` section (not a file silc wrote)"))
    }

    pub fn str(&self, key: &str) -> &str {
        header_str(&self.header, key)
    }
}

/// A file verified whole by [`open`], kept open to read its sections.
pub struct Opened {
    pub name: String,
    pub index: Index,
    file: File,
}

/// Opens and verifies a whole file, streaming (flat memory).
pub fn open(path: &Path, magic: &[u8; 8]) -> Result<Opened, String> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("error: cannot read {name}: {e}"))?;
    let total = file.metadata().map_err(|e| format!("error: cannot read {name}: {e}"))?.len();
    let mut r = BufReader::with_capacity(1 << 20, &file);
    let index = scan(&name, &mut r, total, magic)?;
    Ok(Opened { name, index, file })
}

impl Opened {
    /// One section's body, read again and checked against its checksum (the
    /// file may have changed since [`open`] verified it).
    pub fn read(&mut self, tag: &str) -> Result<Vec<u8>, String> {
        let info = self.index.info(&self.name, tag)?.clone();
        let io = |e: std::io::Error| format!("error: cannot read {}: {e}", self.name);
        self.file.seek(SeekFrom::Start(info.at)).map_err(io)?;
        let mut body = vec![0u8; info.len as usize];
        self.file.read_exact(&mut body).map_err(io)?;
        let mut h = section_hasher(tag);
        h.update(&body);
        h.update(&info.len.to_le_bytes());
        if h.finalize().as_bytes() != &info.sum {
            return Err(format!(
                "error: {}: section `{tag}` (body bytes {}..{}) changed on disk after it was verified",
                self.name,
                info.at,
                info.at + info.len
            ));
        }
        Ok(body)
    }
}

/// Reads a whole file for [`parse`].
pub fn read_all(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("error: cannot read {}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
