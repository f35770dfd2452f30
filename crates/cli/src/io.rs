//! File IO helpers: located read errors and atomic writes (a temporary file
//! in the destination's folder, renamed into place, so no reader ever sees a
//! half-written output), whole or streamed. A later successful write of the
//! same output removes what a killed writer left behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("error: cannot read {}: {e}", path.display()))
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    write_atomic_with(path, |f| f.write_all(bytes).map_err(|e| format!("error: cannot write {}: {e}", path.display())))
}

/// Streams an output: `fill` writes into a temporary file beside `path`,
/// which is renamed into place only if `fill` succeeds; on any error the
/// temporary file is removed and `path` is left as it was.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), String>,
) -> Result<(), String> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| format!("error: {} is not a file name", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let io_err = |e: std::io::Error| format!("error: cannot write {}: {e}", path.display());
    let result = (|| {
        let mut f = BufWriter::new(File::create(&tmp).map_err(io_err)?);
        fill(&mut f)?;
        let f = f.into_inner().map_err(|e| io_err(e.into_error()))?;
        f.sync_all().map_err(io_err)?;
        std::fs::rename(&tmp, path).map_err(io_err)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    } else {
        // The rename is durable once the folder is synced (best effort).
        let _ = File::open(dir).and_then(|d| d.sync_all());
        remove_stale(dir, &name.to_string_lossy());
    }
    result
}

/// Removes the temporary files a killed writer of `name` left in `dir`
/// (`.NAME.tmpPID` whose process no longer runs; Linux only, where
/// `/proc/PID` tells).
fn remove_stale(dir: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
