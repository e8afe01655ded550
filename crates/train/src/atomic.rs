//! Writes that never leave a half-written file behind: write a temporary file in the same
//! directory, flush it to disk, then rename it over the destination (atomic on POSIX file
//! systems). A crash or Ctrl-C leaves either the old file or the new one, plus at worst a
//! `.tmp` file that the next write replaces.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary path used while writing `path`: `<dir>/.<name>.tmp-<pid>`.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Removes what a `kill -9` (or a power cut) left in `dir` of earlier writes: files and
/// folders named `*.tmp-<pid>` (the temporaries of [`write_atomic`] and of model folders)
/// whose process no longer runs. Only where liveness can be told (Linux `/proc`); elsewhere
/// leftovers stay until removed by hand. One folder listing: called once per model folder
/// written, not per file.
pub(crate) fn remove_stale_temps(dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file
            .rsplit_once(".tmp-")
            .and_then(|(_, p)| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename), creating parent folders.
///
/// # Errors
/// [`Error::Io`] naming the file if a folder cannot be created or the write/rename fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Serializes `value` as pretty JSON and writes it atomically.
///
/// # Errors
/// [`Error::Io`] as [`write_atomic`]; [`Error::Json`] if serialization fails.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::json(path, e))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads and parses a JSON file.
///
/// # Errors
/// [`Error::Io`] if it cannot be read, [`Error::Json`] if it does not parse as `T`.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::json(path, e))
}

/// Replaces directory `dst` by the complete directory `src` (same parent) as atomically as a
/// POSIX file system allows: `dst` is renamed to `dst.old`, `src` to `dst`, then `dst.old` is
/// removed. If a crash happens between the two renames, [`resolve_dir`] finds `dst.old`.
///
/// # Errors
/// [`Error::Io`] naming the folder that could not be renamed.
pub(crate) fn replace_dir(src: &Path, dst: &Path) -> Result<()> {
    let old = sibling(dst, ".old");
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    if dst.exists() {
        fs::rename(dst, &old).map_err(|e| Error::io(dst, e))?;
    }
    fs::rename(src, dst).map_err(|e| Error::io(src, e))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    }
    Ok(())
}

/// `dir`, or its `.old` sibling left by a [`replace_dir`] interrupted between its renames.
pub(crate) fn resolve_dir(dir: &Path) -> Option<PathBuf> {
    if dir.is_dir() {
        return Some(dir.to_path_buf());
    }
    let old = sibling(dir, ".old");
    old.is_dir().then_some(old)
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{name}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub/a.json");
        write_json_atomic(&p, &vec![1, 2, 3]).expect("write");
        write_json_atomic(&p, &vec![4]).expect("rewrite");
        let v: Vec<i32> = read_json(&p).expect("read");
        assert_eq!(v, vec![4]);
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.json".to_string()]);
    }

    /// Leftovers of a dead process (`u32::MAX` is above Linux's pid limit), file or folder,
    /// are removed; this process's own temporaries and other names are kept.
    #[test]
    fn stale_temps_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dead_file = dir.path().join(format!(".metrics.json.tmp-{}", u32::MAX));
        let dead_dir = dir.path().join(format!("best.tmp-{}", u32::MAX));
        let own = temp_path(&dir.path().join("config.json"));
        let other = dir.path().join("notes.tmp-abc");
        fs::write(&dead_file, b"half").unwrap();
        fs::create_dir_all(dead_dir.join("x")).unwrap();
        fs::write(&own, b"mine").unwrap();
        fs::write(&other, b"keep").unwrap();
        remove_stale_temps(dir.path());
        let linux = Path::new("/proc/self").exists();
        assert_eq!(dead_file.exists(), !linux);
        assert_eq!(dead_dir.exists(), !linux);
        assert!(own.exists() && other.exists());
    }

    #[test]
    fn replace_dir_swaps_contents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dst = dir.path().join("best");
        for round in 0..2 {
            let src = dir.path().join("best.tmp");
            fs::create_dir_all(&src).unwrap();
            fs::write(src.join("x"), format!("{round}")).unwrap();
            replace_dir(&src, &dst).expect("replace");
            assert_eq!(
                fs::read_to_string(dst.join("x")).unwrap(),
                format!("{round}")
            );
            assert!(!src.exists() && !sibling(&dst, ".old").exists());
        }
        // A crash between the renames leaves only best.old: it is still found.
        fs::rename(&dst, sibling(&dst, ".old")).unwrap();
        assert_eq!(resolve_dir(&dst), Some(sibling(&dst, ".old")));
    }
}
