//! Files inside uncompressed `.tar` archives (how USGS delivers Landsat scenes), read in place
//! without unpacking: a member is a contiguous byte range of the archive, so a GeoTIFF inside
//! is read with positioned reads at an offset, like any file.
//!
//! Paths use GDAL's syntax, `/vsitar/<archive>.tar/<member>`, so the same manifest entries
//! open in GDAL (`gdalinfo /vsitar/scene.tar/scene_SR_B4.TIF`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::tiff_format::source::{ByteSource, FileSource};

/// The prefix of a path inside a tar archive (GDAL's virtual file system name).
pub const VSITAR: &str = "/vsitar/";

/// One regular file of a tar archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarMember {
    /// Its name inside the archive (`/`-separated).
    pub name: String,
    /// Offset of its first byte in the archive.
    pub offset: u64,
    /// Its size in bytes.
    pub size: u64,
}

fn bad(path: &Path, detail: String) -> Error {
    Error::Archive {
        path: path.to_path_buf(),
        detail,
    }
}

fn octal(field: &[u8]) -> Option<u64> {
    // GNU base-256 for sizes >= 8 GiB: high bit of the first byte set
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let s: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let s = s.trim();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Lists the regular files of the tar archive `path` (ustar, GNU long names, pax `path`
/// records), reading only the 512-byte headers.
///
/// # Errors
/// [`Error::Io`]; [`Error::Archive`] for a header with a bad checksum or size, or a member
/// that extends past the end of the archive.
pub fn tar_members(path: &Path) -> Result<Vec<TarMember>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = f.metadata().map_err(|e| Error::io(path, e))?.len();
    let file = FileSource {
        file: f,
        len,
        base: 0,
    };
    let mut out = Vec::new();
    let mut at = 0u64;
    let mut long_name: Option<String> = None;
    let mut header = [0u8; 512];
    while at + 512 <= len {
        file.read_exact_at(&mut header, at)
            .map_err(|e| Error::io(path, e))?;
        if header.iter().all(|&b| b == 0) {
            break; // end-of-archive blocks
        }
        let stored = octal(&header[148..156])
            .ok_or_else(|| bad(path, format!("header at byte {at}: bad checksum field")))?;
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored {
            return Err(bad(
                path,
                format!(
                    "header at byte {at}: checksum {stored} instead of {sum} (not a tar file, or corrupt)"
                ),
            ));
        }
        let size = octal(&header[124..136])
            .ok_or_else(|| bad(path, format!("header at byte {at}: bad size field")))?;
        let data = at + 512;
        let end = data
            .checked_add(size)
            .filter(|&e| e <= len)
            .ok_or_else(|| {
                bad(
                    path,
                    format!("member at byte {at} of {size} bytes extends past the end ({len} bytes): truncated archive"),
                )
            })?;
        let kind = header[156];
        let name = {
            let base = text(&header[0..100]);
            let prefix = if &header[257..262] == b"ustar" {
                text(&header[345..500])
            } else {
                String::new()
            };
            if prefix.is_empty() {
                base
            } else {
                format!("{prefix}/{base}")
            }
        };
        match kind {
            b'L' => {
                // GNU long name of the next member
                let mut buf = vec![0u8; size.min(1 << 16) as usize];
                file.read_exact_at(&mut buf, data)
                    .map_err(|e| Error::io(path, e))?;
                long_name = Some(text(&buf));
            }
            b'x' => {
                let mut buf = vec![0u8; size.min(1 << 20) as usize];
                file.read_exact_at(&mut buf, data)
                    .map_err(|e| Error::io(path, e))?;
                for rec in String::from_utf8_lossy(&buf).lines() {
                    if let Some((_, kv)) = rec.split_once(' ')
                        && let Some(p) = kv.strip_prefix("path=")
                    {
                        long_name = Some(p.to_string());
                    }
                }
            }
            b'0' | 0 | b'7' => {
                let name = long_name.take().unwrap_or(name);
                out.push(TarMember {
                    name,
                    offset: data,
                    size,
                });
            }
            _ => long_name = None,
        }
        at = end.div_ceil(512) * 512;
    }
    Ok(out)
}

/// Splits a `/vsitar/<archive>.tar/<member>` path into the archive and the member name;
/// `None` for any other path.
pub fn split_vsitar(path: &Path) -> Option<(PathBuf, String)> {
    let s = path.to_str()?;
    let rest = s.strip_prefix(VSITAR)?;
    let lower = rest.to_ascii_lowercase();
    let cut = lower.find(".tar/")? + 4;
    let archive = &rest[..cut];
    let member = &rest[cut + 1..];
    // as GDAL: `/vsitar//abs/a.tar/m` for an absolute archive path, `/vsitar/rel/a.tar/m`
    // relative to the current directory
    let archive = PathBuf::from(archive);
    Some((archive, member.to_string()))
}

/// The `/vsitar/` path of `member` inside `archive`, made absolute (so written as GDAL
/// writes it: `/vsitar//abs/path/a.tar/member`).
pub fn vsitar_path(archive: &Path, member: &str) -> PathBuf {
    let abs = std::path::absolute(archive).unwrap_or_else(|_| archive.to_path_buf());
    let a = abs.to_string_lossy();
    PathBuf::from(format!("/vsitar/{a}/{member}"))
}

/// The archive member a `/vsitar/` path names, and the archive: where its bytes are.
///
/// # Errors
/// As [`tar_members`]; [`Error::Archive`] when the archive holds no such member.
pub fn find_member(path: &Path) -> Result<(PathBuf, TarMember)> {
    let (archive, member) = split_vsitar(path)
        .ok_or_else(|| bad(path, "not a /vsitar/<archive>.tar/<member> path".into()))?;
    let members = tar_members(&archive)?;
    let m = members
        .into_iter()
        .find(|m| m.name == member || m.name.trim_start_matches("./") == member)
        .ok_or_else(|| bad(&archive, format!("holds no member {member:?}")))?;
    Ok((archive, m))
}

/// Whether `path` is an existing file named `*.tar` (an archive to list or read in place).
pub fn is_tar(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tar"))
}

/// Whether a path names a `.tar` archive member or an existing file.
pub fn path_exists(path: &Path) -> bool {
    match split_vsitar(path) {
        Some(_) => find_member(path).is_ok(),
        None => path.exists(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar header written by hand (ustar, checksum computed as POSIX defines it: the
    /// header's bytes summed with the checksum field as spaces).
    fn header(name: &str, size: u64) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    #[test]
    fn members_checksums_and_vsitar_paths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.tar");
        let mut bytes = header("x.TIF", 3).to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        bytes.resize(1024, 0);
        bytes.extend_from_slice(&header("dir/y.txt", 0));
        bytes.resize(2560, 0);
        std::fs::write(&p, &bytes).unwrap();
        let m = tar_members(&p).unwrap();
        assert_eq!(
            m,
            vec![
                TarMember {
                    name: "x.TIF".into(),
                    offset: 512,
                    size: 3
                },
                TarMember {
                    name: "dir/y.txt".into(),
                    offset: 1536,
                    size: 0
                },
            ]
        );
        let v = vsitar_path(&p, "x.TIF");
        assert!(v.to_string_lossy().starts_with("/vsitar//"), "{v:?}");
        assert_eq!(split_vsitar(&v), Some((p.clone(), "x.TIF".to_string())));
        assert_eq!(find_member(&v).unwrap().1.offset, 512);
        assert!(path_exists(&v) && !path_exists(&vsitar_path(&p, "z.TIF")));
        // a flipped byte: the checksum names the header
        bytes[10] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let e = tar_members(&p).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
    }
}
