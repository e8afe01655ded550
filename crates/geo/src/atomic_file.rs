//! Temporary files next to their destination, renamed into place when complete, so that no
//! half-written output is ever visible under the final name.

use std::path::Path;

/// A temporary file in the directory of `dest` (the current directory for a bare file name),
/// named `.<dest name>.<pid>-<random>.tmp`, with the permissions `File::create` would give
/// (0o666 minus the umask) instead of tempfile's private 0o600.
///
/// Temporary files of the same destination left by a process that no longer runs (killed
/// with SIGKILL, or a power cut, before it could remove its own) are removed first, so
/// writing an output again leaves nothing of an interrupted attempt behind.
pub(crate) fn temp_next_to(dest: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale(dir, &name);
    let prefix = format!(".{name}.{}-", std::process::id());
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b.tempfile_in(dir)
}

/// Removes `.<name>.<pid>-*.tmp` files of `dir` whose process is gone. Only where liveness
/// can be told (Linux `/proc`); elsewhere leftovers stay until removed by hand.
fn remove_stale(dir: &Path, name: &str) {
    let proc_fs = Path::new("/proc/self");
    if !proc_fs.exists() {
        return;
    }
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes `text` to `path` through a [`temp_next_to`] file renamed into place.
pub(crate) fn write_atomic(path: &Path, text: &str) -> crate::error::Result<()> {
    use std::io::Write;
    let io = |e| crate::error::Error::io(path, e);
    let mut tmp = temp_next_to(path).map_err(io)?;
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.flush())
        .map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A leftover of a dead process (pid 0 never names a live user process; `u32::MAX` is
    /// above Linux's pid limit) is removed; one of this process and other files are kept.
    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("map.tif");
        let dead = dir.path().join(format!(".map.tif.{}-abc.tmp", u32::MAX));
        let other = dir.path().join(".other.tif.1-abc.tmp");
        std::fs::write(&dead, b"half").unwrap();
        std::fs::write(&other, b"x").unwrap();
        let t = temp_next_to(&dest).unwrap();
        assert_eq!(dead.exists(), !Path::new("/proc/self").exists());
        assert!(other.exists() && t.path().exists());
        // a second temporary of this live process does not remove the first
        let t2 = temp_next_to(&dest).unwrap();
        assert!(t.path().exists() && t2.path().exists());
    }

    #[test]
    fn outputs_are_not_private() {
        let dir = tempfile::tempdir().unwrap();
        let t = temp_next_to(&dir.path().join("out.tif")).unwrap();
        let mode = t.path().metadata().unwrap().permissions().mode() & 0o777;
        // group/other read unless the umask removes them; never tempfile's 0o600 with a
        // standard umask of 0o022 or 0o002
        assert_eq!(mode & 0o600, 0o600);
        assert!(
            t.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".out.tif.")
        );
    }
}
