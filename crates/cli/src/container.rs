//! The container every silc file uses: magic bytes, a format version, a JSON
//! header (what the file is, the parameters it was made for), then tagged
//! binary sections.
//!
//! ```text
//! magic [8] | version u32 LE | header length u32 LE | header JSON
//! then per section: tag length u8 | tag | body length u64 LE | body
//! ```
//!
//! A section can be streamed (its length patched in when its body is
//! done), so a large encrypted data set is never held in memory whole.
//! Reading checks the magic, the version and every length against the file
//! size, so a truncated or corrupted file is a clear error, never a panic or
//! a huge allocation.

#![cfg_attr(not(feature = "fhe"), allow(dead_code))]

use std::io::{Read, Seek, SeekFrom, Write};

pub const VERSION: u32 = 1;

pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    pub fn new(mut out: W, magic: &[u8; 8], header: &serde_json::Value) -> std::io::Result<Self> {
        let head = serde_json::to_vec(header).expect("headers serialize");
        out.write_all(magic)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&(head.len() as u32).to_le_bytes())?;
        out.write_all(&head)?;
        Ok(Writer { out })
    }

    pub fn section(&mut self, tag: &str, body: &[u8]) -> std::io::Result<()> {
        self.out.write_all(&[tag.len() as u8])?;
        self.out.write_all(tag.as_bytes())?;
        self.out.write_all(&(body.len() as u64).to_le_bytes())?;
        self.out.write_all(body)
    }

    /// A section whose body `fill` streams straight into the output; its
    /// length is patched in afterwards, so the body never sits in memory.
    pub fn section_streamed(&mut self, tag: &str, fill: impl FnOnce(&mut W) -> Result<(), String>) -> Result<(), String>
    where
        W: Seek,
    {
        let io = |e: std::io::Error| format!("error: writing section `{tag}`: {e}");
        self.out.write_all(&[tag.len() as u8]).map_err(io)?;
        self.out.write_all(tag.as_bytes()).map_err(io)?;
        let len_at = self.out.stream_position().map_err(io)?;
        self.out.write_all(&0u64.to_le_bytes()).map_err(io)?;
        fill(&mut self.out)?;
        let end = self.out.stream_position().map_err(io)?;
        self.out.seek(SeekFrom::Start(len_at)).map_err(io)?;
        self.out.write_all(&(end - len_at - 8).to_le_bytes()).map_err(io)?;
        self.out.seek(SeekFrom::Start(end)).map_err(io)?;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A parsed container, sections borrowed from the file's bytes.
pub struct Container<'a> {
    pub header: serde_json::Value,
    pub sections: Vec<(String, &'a [u8])>,
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

pub fn parse<'a>(name: &str, bytes: &'a [u8], magic: &[u8; 8]) -> Result<Container<'a>, String> {
    let bad = |what: &str| format!("error: {name}: {what}");
    if bytes.len() < 16 {
        return Err(bad("the file is truncated (shorter than a silc header)"));
    }
    if &bytes[..8] != magic {
        return Err(bad(&format!("this is {}, expected {}", kind_of(&bytes[..8]), kind_of(magic))));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(bad(&format!("format version {version}, this silc reads version {VERSION}; use a matching silc")));
    }
    let hlen = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    let rest = &bytes[16..];
    if hlen > rest.len() {
        return Err(bad("the file is truncated (in its header)"));
    }
    let header: serde_json::Value =
        serde_json::from_slice(&rest[..hlen]).map_err(|e| bad(&format!("corrupted header: {e}")))?;
    let mut at = hlen;
    let mut sections = Vec::new();
    while at < rest.len() {
        let tlen = rest[at] as usize;
        let body_at = at + 1 + tlen + 8;
        if body_at > rest.len() {
            return Err(bad("the file is truncated (in a section header)"));
        }
        let tag = String::from_utf8_lossy(&rest[at + 1..at + 1 + tlen]).into_owned();
        let blen = u64::from_le_bytes(rest[at + 1 + tlen..body_at].try_into().expect("8 bytes"));
        if blen > (rest.len() - body_at) as u64 {
            return Err(bad(&format!("the file is truncated (section `{tag}` is incomplete)")));
        }
        let end = body_at + blen as usize;
        sections.push((tag, &rest[body_at..end]));
        at = end;
    }
    Ok(Container { header, sections })
}

impl<'a> Container<'a> {
    pub fn section(&self, name: &str, tag: &str) -> Result<&'a [u8], String> {
        self.sections
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("error: {name}: the file has no `{tag}` section (truncated or corrupted)"))
    }

    pub fn str(&self, key: &str) -> &str {
        self.header.get(key).and_then(|v| v.as_str()).unwrap_or("")
    }
}

/// Reads a whole file for [`parse`].
pub fn read_all(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("error: cannot read {}: {e}", path.display()))?;
    let mut v = Vec::new();
    f.read_to_end(&mut v).map_err(|e| format!("error: cannot read {}: {e}", path.display()))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let out = std::io::Cursor::new(Vec::new());
        let mut w = Writer::new(out, b"SILCJOB1", &serde_json::json!({"a": 1})).unwrap();
        w.section("one", b"hello").unwrap();
        w.section("two", &[1, 2, 3]).unwrap();
        w.section_streamed("three", |o| o.write_all(&[7; 300]).map_err(|e| e.to_string())).unwrap();
        w.section("four", b"!").unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let c = parse("f", &bytes, b"SILCJOB1").unwrap();
        assert_eq!(c.section("f", "two").unwrap(), &[1, 2, 3]);
        assert_eq!(c.section("f", "three").unwrap(), &[7; 300][..]);
        assert_eq!(c.section("f", "four").unwrap(), b"!");
        for cut in 0..bytes.len() {
            if let Ok(c) = parse("f", &bytes[..cut], b"SILCJOB1") {
                assert!(c.section("f", "four").is_err(), "a cut at {cut} must lose the last section");
            }
        }
        let e = parse("f", &bytes, b"SILCTRND").err().unwrap();
        assert!(e.contains("this is an encrypted training job, expected trained encrypted weights"), "{e}");
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert!(parse("f", &newer, b"SILCJOB1").err().unwrap().contains("format version 9"));
    }
}
