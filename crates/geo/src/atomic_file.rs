//! Temporary files next to their destination, renamed into place when complete, so that no
//! half-written output is ever visible under the final name.

use std::path::Path;

/// A temporary file in the directory of `dest` (the current directory for a bare file name),
/// named `.<dest name>.<random>.tmp`, with the permissions `File::create` would give
/// (0o666 minus the umask) instead of tempfile's private 0o600.
pub(crate) fn temp_next_to(dest: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b.tempfile_in(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
