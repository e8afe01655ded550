//! Files inside archives, read without unpacking the archive, in GDAL's path syntax so the
//! same manifest entries open in GDAL:
//!
//! - uncompressed `.tar` archives (how USGS delivers Landsat scenes),
//!   `/vsitar/<archive>.tar/<member>`: a member is a contiguous byte range of the archive, so
//!   a GeoTIFF inside is read with positioned reads at an offset, like any file;
//! - `.zip` archives (how Copernicus delivers Sentinel-2 products: the `.SAFE` folder
//!   zipped, often over 4 GiB, so zip64 is read too), `/vsizip/<archive>.zip/<member>`.
//!   *Stored* members (method 0) are read in place like tar members. *Deflated* members
//!   (method 8) cannot be read at random offsets, so each is inflated once, streaming (64 KiB
//!   buffers, whatever the member's size), into a cache file that later opens reuse; its
//!   CRC-32 and size are checked on the way, and the file is written under a temporary name
//!   and renamed into place, so an interrupted or corrupt inflation never leaves a cache file
//!   behind. The cache folder is `$CHRONOMAP_ZIP_CACHE` when set, else
//!   `<system temp dir>/chronomap-vsizip` ([`zip_cache_dir`]); it costs disk, not memory:
//!   a 10980 x 10980 Sentinel-2 band (~100-130 MB of JPEG 2000) takes that much disk once,
//!   and an open reader holds only its file handle and decoded-tile cache, where inflating
//!   into memory would have held the whole ~130 MB per open band (a series of ten dates of
//!   four bands: over 5 GB). A cache file is named after a hash of the archive's path,
//!   size and modification time and of the member's name, size and CRC-32, so a changed
//!   archive is inflated again; nothing removes old cache files (the folder can be emptied
//!   at any time).
//!
//! Stored members are not CRC-checked when read in place (that would read the whole member
//! at every open, as GDAL does not either); [`check_zip_member`] does it on demand.

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

/// Splits a `<prefix><archive>.<ext>/<member>` path (GDAL's `/vsitar/` and `/vsizip/`
/// syntax) into the archive and the member name: the first `.<ext>/` (any case) ends the
/// archive's part. As in GDAL, `/vsitar//abs/a.tar/m` names an absolute archive path and
/// `/vsitar/rel/a.tar/m` one relative to the current directory.
fn split_vsi(path: &Path, prefix: &str, ext: &str) -> Option<(PathBuf, String)> {
    let rest = path.to_str()?.strip_prefix(prefix)?;
    let cut = rest.to_ascii_lowercase().find(&format!(".{ext}/"))? + 1 + ext.len();
    Some((PathBuf::from(&rest[..cut]), rest[cut + 1..].to_string()))
}

/// The `<prefix>` path of `member` inside `archive`, made absolute (so written as GDAL
/// writes it: `/vsitar//abs/path/a.tar/member`).
fn vsi_path(prefix: &str, archive: &Path, member: &str) -> PathBuf {
    let abs = std::path::absolute(archive).unwrap_or_else(|_| archive.to_path_buf());
    PathBuf::from(format!("{prefix}{}/{member}", abs.to_string_lossy()))
}

/// Whether `path` is an existing file whose extension is `ext` (any case).
fn is_file_with_extension(path: &Path, ext: &str) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Splits a `/vsitar/<archive>.tar/<member>` path into the archive and the member name;
/// `None` for any other path.
pub fn split_vsitar(path: &Path) -> Option<(PathBuf, String)> {
    split_vsi(path, VSITAR, "tar")
}

/// The `/vsitar/` path of `member` inside `archive`, made absolute (so written as GDAL
/// writes it: `/vsitar//abs/path/a.tar/member`).
pub fn vsitar_path(archive: &Path, member: &str) -> PathBuf {
    vsi_path(VSITAR, archive, member)
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
    is_file_with_extension(path, "tar")
}

/// Whether a path names a `.tar` or `.zip` archive member that exists, or an existing file.
pub fn path_exists(path: &Path) -> bool {
    if split_vsitar(path).is_some() {
        return find_member(path).is_ok();
    }
    if split_vsizip(path).is_some() {
        return find_zip_member(path).is_ok();
    }
    path.exists()
}

/// Whether `path` is a `/vsitar/` or `/vsizip/` path (a member of an archive).
pub fn is_archive_path(path: &Path) -> bool {
    split_vsitar(path).is_some() || split_vsizip(path).is_some()
}

/// The bytes of the archive member a `/vsitar/` or `/vsizip/` path names (`None` for any
/// other path): a byte range of the archive, or for a deflated zip member its inflated cache
/// file.
pub(crate) fn open_archived(path: &Path) -> Result<Option<Box<dyn ByteSource>>> {
    use crate::file_pool::PooledFile;
    if split_vsitar(path).is_some() {
        let (archive, m) = find_member(path)?;
        let file = PooledFile::open(&archive, m.offset, Some(m.size))
            .map_err(|e| Error::io(&archive, e))?;
        return Ok(Some(Box::new(file)));
    }
    if split_vsizip(path).is_some() {
        let (archive, m) = find_zip_member(path)?;
        let file = match m.method {
            ZIP_STORED => {
                let data = zip_data_offset(&archive, &m)?;
                PooledFile::open(&archive, data, Some(m.size))
                    .map_err(|e| Error::io(&archive, e))?
            }
            _ => {
                let cached = inflated_zip_member(&archive, &m)?;
                PooledFile::open(&cached, 0, Some(m.size)).map_err(|e| Error::io(&cached, e))?
            }
        };
        return Ok(Some(Box::new(file)));
    }
    Ok(None)
}

// ----- zip --------------------------------------------------------------------------------

/// The prefix of a path inside a zip archive (GDAL's virtual file system name).
pub const VSIZIP: &str = "/vsizip/";

/// Zip compression method 0: the member's bytes are stored as they are (read in place).
pub const ZIP_STORED: u16 = 0;

/// Zip compression method 8: deflate (inflated once into the cache, see [`zip_cache_dir`]).
pub const ZIP_DEFLATED: u16 = 8;

/// Largest central directory read (a Sentinel-2 product's holds a few hundred entries,
/// ~100 KiB); a larger one is refused as corrupt rather than allocated.
const MAX_CENTRAL_DIRECTORY: u64 = 256 << 20;

/// One file of a zip archive, from its central directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipMember {
    /// Its name inside the archive (`/`-separated).
    pub name: String,
    /// Compression method ([`ZIP_STORED`], [`ZIP_DEFLATED`]; others are listed but not read).
    pub method: u16,
    /// Whether it is encrypted (listed, not read).
    pub encrypted: bool,
    /// Its size in the archive (compressed) in bytes.
    pub compressed_size: u64,
    /// Its size in bytes.
    pub size: u64,
    /// CRC-32 of its bytes, as the directory gives it.
    pub crc32: u32,
    /// Offset of its local header in the archive (its data follows the header).
    pub header_offset: u64,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn member_err(archive: &Path, member: &str, detail: String) -> Error {
    bad(archive, format!("member {member:?}: {detail}"))
}

fn open_file(path: &Path) -> Result<FileSource> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    Ok(FileSource { file, len, base: 0 })
}

/// Lists the files of the zip archive `path` (directory entries left out) from its central
/// directory, zip64 included; only the end of the archive and its directory are read.
///
/// # Errors
/// [`Error::Io`]; [`Error::Archive`] naming the archive when it is not a zip (no
/// end-of-central-directory record), is truncated (the directory or a member's header lies
/// past the end), spans several disks, or has a malformed directory entry.
pub fn zip_members(path: &Path) -> Result<Vec<ZipMember>> {
    let file = open_file(path)?;
    let len = file.len;
    let read = |at: u64, n: usize| -> Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        file.read_exact_at(&mut buf, at)
            .map_err(|e| Error::io(path, e))?;
        Ok(buf)
    };
    // the end-of-central-directory record: 22 bytes and a comment of up to 65535
    let tail_len = len.min(22 + 65535);
    let tail = read(len - tail_len, tail_len as usize)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| {
            tail[i..i + 4] == *b"PK\x05\x06"
                && i + 22 + usize::from(le16(&tail, i + 20)) <= tail.len()
        })
        .ok_or_else(|| {
            let mut head = [0u8; 4];
            let zip_start = file.read_exact_at(&mut head, 0).is_ok() && head == *b"PK\x03\x04";
            bad(
                path,
                if zip_start {
                    "no end-of-central-directory record: truncated zip archive".into()
                } else {
                    "not a zip archive (no end-of-central-directory record)".into()
                },
            )
        })?;
    let eocd_at = len - tail_len + eocd as u64;
    let e = &tail[eocd..eocd + 22];
    let (disk, cd_disk) = (le16(e, 4), le16(e, 6));
    let mut entries = u64::from(le16(e, 10));
    let mut cd_size = u64::from(le32(e, 12));
    let mut cd_offset = u64::from(le32(e, 16));
    let mut multi_disk = disk != 0 || cd_disk != 0;
    // zip64: a locator 20 bytes before the record points at the zip64 record
    if eocd_at >= 20 {
        let loc = read(eocd_at - 20, 20)?;
        if loc[..4] == *b"PK\x06\x07" {
            let at = le64(&loc, 8);
            if at.checked_add(56).is_none_or(|end| end > eocd_at) {
                return Err(bad(
                    path,
                    format!(
                        "zip64 end-of-central-directory record at byte {at} lies past the end: truncated or corrupt"
                    ),
                ));
            }
            let z = read(at, 56)?;
            if z[..4] != *b"PK\x06\x06" {
                return Err(bad(
                    path,
                    format!("no zip64 end-of-central-directory record at byte {at}: corrupt"),
                ));
            }
            multi_disk = le32(&z, 16) != 0 || le32(&z, 20) != 0 || le32(&loc, 16) > 1;
            entries = le64(&z, 32);
            cd_size = le64(&z, 40);
            cd_offset = le64(&z, 48);
        }
    }
    if multi_disk {
        return Err(bad(
            path,
            "spans several disks (split archive), which chronomap cannot read".into(),
        ));
    }
    if cd_offset
        .checked_add(cd_size)
        .is_none_or(|end| end > eocd_at)
    {
        return Err(bad(
            path,
            format!(
                "central directory ({cd_size} bytes at byte {cd_offset}) lies past the end \
                 ({len} bytes): truncated archive"
            ),
        ));
    }
    if cd_size > MAX_CENTRAL_DIRECTORY {
        return Err(bad(
            path,
            format!("central directory of {cd_size} bytes: corrupt"),
        ));
    }
    let cd = read(cd_offset, cd_size as usize)?;
    let mut out = Vec::new();
    let mut at = 0usize;
    for n in 0..entries {
        let entry_err = |detail: &str| bad(path, format!("central directory entry {n}: {detail}"));
        let fixed = cd
            .get(at..at + 46)
            .ok_or_else(|| entry_err("past the end of the directory"))?;
        if fixed[..4] != *b"PK\x01\x02" {
            return Err(entry_err("bad signature (corrupt directory)"));
        }
        let flags = le16(fixed, 8);
        let method = le16(fixed, 10);
        let crc32 = le32(fixed, 16);
        let mut compressed_size = u64::from(le32(fixed, 20));
        let mut size = u64::from(le32(fixed, 24));
        let name_len = usize::from(le16(fixed, 28));
        let extra_len = usize::from(le16(fixed, 30));
        let comment_len = usize::from(le16(fixed, 32));
        let mut header_offset = u64::from(le32(fixed, 42));
        let var = cd
            .get(at + 46..at + 46 + name_len + extra_len + comment_len)
            .ok_or_else(|| entry_err("past the end of the directory"))?;
        let name = String::from_utf8_lossy(&var[..name_len]).into_owned();
        // zip64 extended information: the 8-byte values of the fields saturated above, in
        // this order
        let mut extra = &var[name_len..name_len + extra_len];
        while extra.len() >= 4 {
            let (id, n) = (le16(extra, 0), usize::from(le16(extra, 2)));
            let data = extra.get(4..4 + n).unwrap_or(&[]);
            if id == 1 {
                let mut fields = data.chunks_exact(8).map(|c| le64(c, 0));
                for (field, saturated) in [
                    (&mut size, le32(fixed, 24) == u32::MAX),
                    (&mut compressed_size, le32(fixed, 20) == u32::MAX),
                    (&mut header_offset, le32(fixed, 42) == u32::MAX),
                ] {
                    if saturated {
                        *field = fields
                            .next()
                            .ok_or_else(|| entry_err("zip64 extra field too short"))?;
                    }
                }
            }
            extra = extra.get(4 + n..).unwrap_or(&[]);
        }
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue; // a folder
        }
        out.push(ZipMember {
            name,
            method,
            encrypted: flags & 1 != 0,
            compressed_size,
            size,
            crc32,
            header_offset,
        });
    }
    Ok(out)
}

/// Offset of a member's (compressed) data: after its local header, whose name and extra
/// field lengths may differ from the central directory's.
fn zip_data_offset(archive: &Path, m: &ZipMember) -> Result<u64> {
    let file = open_file(archive)?;
    let mut h = [0u8; 30];
    let truncated = || {
        member_err(
            archive,
            &m.name,
            format!(
                "{} bytes at byte {} lie past the end of the archive ({} bytes): truncated",
                m.compressed_size, m.header_offset, file.len
            ),
        )
    };
    if m.header_offset.saturating_add(30) > file.len {
        return Err(truncated());
    }
    file.read_exact_at(&mut h, m.header_offset)
        .map_err(|e| Error::io(archive, e))?;
    if h[..4] != *b"PK\x03\x04" {
        return Err(member_err(
            archive,
            &m.name,
            format!("no local header at byte {}: corrupt", m.header_offset),
        ));
    }
    let data = m.header_offset + 30 + u64::from(le16(&h, 26)) + u64::from(le16(&h, 28));
    if data.saturating_add(m.compressed_size) > file.len {
        return Err(truncated());
    }
    if m.encrypted {
        return Err(member_err(
            archive,
            &m.name,
            "is encrypted, which chronomap cannot read".into(),
        ));
    }
    if !matches!(m.method, ZIP_STORED | ZIP_DEFLATED) {
        return Err(member_err(
            archive,
            &m.name,
            format!(
                "compression method {} is not supported (stored = 0 and deflate = 8 are read)",
                m.method
            ),
        ));
    }
    if m.method == ZIP_STORED && m.compressed_size != m.size {
        return Err(member_err(
            archive,
            &m.name,
            format!(
                "stored with {} bytes in the archive but a size of {}: corrupt",
                m.compressed_size, m.size
            ),
        ));
    }
    Ok(data)
}

/// Splits a `/vsizip/<archive>.zip/<member>` path into the archive and the member name;
/// `None` for any other path (a `.zip` suffix, any case, ends the archive's part).
pub fn split_vsizip(path: &Path) -> Option<(PathBuf, String)> {
    split_vsi(path, VSIZIP, "zip")
}

/// The `/vsizip/` path of `member` inside `archive`, made absolute (so written as GDAL
/// writes it: `/vsizip//abs/path/a.zip/member`).
pub fn vsizip_path(archive: &Path, member: &str) -> PathBuf {
    vsi_path(VSIZIP, archive, member)
}

/// The zip member a `/vsizip/` path names, and the archive.
///
/// # Errors
/// As [`zip_members`]; [`Error::Archive`] when the archive holds no such member.
pub fn find_zip_member(path: &Path) -> Result<(PathBuf, ZipMember)> {
    let (archive, member) = split_vsizip(path)
        .ok_or_else(|| bad(path, "not a /vsizip/<archive>.zip/<member> path".into()))?;
    let m = zip_members(&archive)?
        .into_iter()
        .find(|m| m.name == member || m.name.trim_start_matches("./") == member)
        .ok_or_else(|| bad(&archive, format!("holds no member {member:?}")))?;
    Ok((archive, m))
}

/// Whether `path` is an existing file named `*.zip`.
pub fn is_zip(path: &Path) -> bool {
    is_file_with_extension(path, "zip")
}

/// Reads the whole member `m` of `archive` (the bytes as stored, or inflated), in 64 KiB
/// pieces passed to `sink`, checking its size and CRC-32 against the central directory.
fn stream_zip_member(
    archive: &Path,
    m: &ZipMember,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let data = zip_data_offset(archive, m)?;
    let mut f = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    f.seek(SeekFrom::Start(data))
        .map_err(|e| Error::io(archive, e))?;
    let raw = std::io::BufReader::with_capacity(1 << 16, f.take(m.compressed_size));
    let mut input: Box<dyn Read> = if m.method == ZIP_DEFLATED {
        Box::new(flate2::read::DeflateDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut crc = flate2::Crc::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(member_err(
                    archive,
                    &m.name,
                    format!("corrupt deflate data after {total} bytes ({e})"),
                ));
            }
        };
        total += n as u64;
        if total > m.size {
            return Err(member_err(
                archive,
                &m.name,
                format!(
                    "holds more than the {} bytes its directory entry says: corrupt",
                    m.size
                ),
            ));
        }
        crc.update(&buf[..n]);
        sink(&buf[..n]).map_err(|e| Error::io(archive, e))?;
    }
    if total != m.size {
        return Err(member_err(
            archive,
            &m.name,
            format!(
                "ends after {total} of its {} bytes: truncated or corrupt",
                m.size
            ),
        ));
    }
    if crc.sum() != m.crc32 {
        return Err(member_err(
            archive,
            &m.name,
            format!(
                "CRC-32 mismatch ({:08x}, the directory says {:08x}): corrupt",
                crc.sum(),
                m.crc32
            ),
        ));
    }
    Ok(())
}

/// Reads the whole member a `/vsizip/` path names and checks its size and CRC-32 (stored
/// members are not checked when opened, being read in place).
///
/// # Errors
/// As [`find_zip_member`]; [`Error::Archive`] naming the archive and the member when it is
/// truncated, corrupt (bad deflate data, another size or CRC-32 than the directory says),
/// encrypted, or compressed with another method than stored or deflate.
pub fn check_zip_member(path: &Path) -> Result<()> {
    let (archive, m) = find_zip_member(path)?;
    stream_zip_member(&archive, &m, &mut |_| Ok(()))
}

/// Reads a whole zip member into memory (for small members such as metadata files).
///
/// # Errors
/// As [`check_zip_member`]; [`Error::Archive`] when the member is larger than `limit`
/// bytes.
pub fn read_zip_member(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let (archive, m) = find_zip_member(path)?;
    if m.size > limit {
        return Err(member_err(
            &archive,
            &m.name,
            format!(
                "is {} bytes, over the {limit} bytes read into memory",
                m.size
            ),
        ));
    }
    let mut out = Vec::with_capacity(m.size as usize);
    stream_zip_member(&archive, &m, &mut |b| {
        out.extend_from_slice(b);
        Ok(())
    })?;
    Ok(out)
}

/// Where deflated zip members are inflated for reading: `$CHRONOMAP_ZIP_CACHE` when set
/// (and not empty), else `chronomap-vsizip` in the system's temporary folder.
pub fn zip_cache_dir() -> PathBuf {
    match std::env::var_os("CHRONOMAP_ZIP_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::temp_dir().join("chronomap-vsizip"),
    }
}

/// FNV-1a, 64 bits: a stable hash for cache file names.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for &b in p.iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The cache file holding member `m` of `archive` inflated, made when absent (see the
/// module documentation).
fn inflated_zip_member(archive: &Path, m: &ZipMember) -> Result<PathBuf> {
    use std::io::Write;
    let meta = std::fs::metadata(archive).map_err(|e| Error::io(archive, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let abs = std::path::absolute(archive).unwrap_or_else(|_| archive.to_path_buf());
    let key = fnv1a(&[
        abs.to_string_lossy().as_bytes(),
        &meta.len().to_le_bytes(),
        &mtime.to_le_bytes(),
        m.name.as_bytes(),
        &m.size.to_le_bytes(),
        &m.compressed_size.to_le_bytes(),
        &m.crc32.to_le_bytes(),
        &m.header_offset.to_le_bytes(),
    ]);
    let base: String = m
        .name
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    let dir = zip_cache_dir();
    let target = dir.join(format!("{key:016x}-{base}"));
    if std::fs::metadata(&target).is_ok_and(|t| t.is_file() && t.len() == m.size) {
        return Ok(target);
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let tmp = crate::atomic_file::temp_next_to(&target).map_err(|e| Error::io(&target, e))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, tmp.as_file());
        stream_zip_member(archive, m, &mut |b| w.write_all(b))?;
        w.flush().map_err(|e| Error::io(&target, e))?;
    }
    // on error the temporary file is removed when `tmp` drops
    tmp.persist(&target)
        .map_err(|e| Error::io(&target, e.error))?;
    Ok(target)
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

#[cfg(test)]
mod zip_tests {
    use super::*;

    /// A zip archive written by hand: `(name, bytes, deflate)` members, with zip64 extra
    /// fields and records when `zip64` (as Info-ZIP writes them for archives over 4 GiB).
    fn zip(members: &[(&str, &[u8], bool)], zip64: bool) -> Vec<u8> {
        use std::io::Write;
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data, deflate) in members {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let body = if *deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u64;
            let sat = |v: u64| if zip64 { u32::MAX } else { v as u32 };
            let mut extra = Vec::new();
            if zip64 {
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&24u16.to_le_bytes());
                for v in [data.len() as u64, body.len() as u64, offset] {
                    extra.extend_from_slice(&v.to_le_bytes());
                }
            }
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&crc.sum().to_le_bytes());
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&45u16.to_le_bytes());
            cd.extend_from_slice(&45u16.to_le_bytes());
            cd.extend_from_slice(&0u16.to_le_bytes());
            cd.extend_from_slice(&method.to_le_bytes());
            cd.extend_from_slice(&[0; 4]);
            cd.extend_from_slice(&crc.sum().to_le_bytes());
            cd.extend_from_slice(&sat(body.len() as u64).to_le_bytes());
            cd.extend_from_slice(&sat(data.len() as u64).to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0; 10]);
            cd.extend_from_slice(&sat(offset).to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
            cd.extend_from_slice(&extra);
        }
        let cd_offset = out.len() as u64;
        out.extend_from_slice(&cd);
        let n = members.len() as u64;
        if zip64 {
            let at = out.len() as u64;
            out.extend_from_slice(b"PK\x06\x06");
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            for v in [n, n, cd.len() as u64, cd_offset] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(b"PK\x06\x07");
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&at.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0; 4]);
        let (n16, size32, off32) = if zip64 {
            (u16::MAX, u32::MAX, u32::MAX)
        } else {
            (n as u16, cd.len() as u32, cd_offset as u32)
        };
        for _ in 0..2 {
            out.extend_from_slice(&n16.to_le_bytes());
        }
        out.extend_from_slice(&size32.to_le_bytes());
        out.extend_from_slice(&off32.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn payload() -> Vec<u8> {
        (0..70_000u32).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn members_stored_deflated_and_zip64() {
        let dir = tempfile::tempdir().unwrap();
        let data = payload();
        for zip64 in [false, true] {
            let p = dir.path().join(format!("a{zip64}.zip"));
            std::fs::write(
                &p,
                zip(
                    &[
                        ("d/", b"", false),
                        ("d/s.bin", &data, false),
                        ("d/z.bin", &data, true),
                    ],
                    zip64,
                ),
            )
            .unwrap();
            let m = zip_members(&p).unwrap();
            let names: Vec<_> = m.iter().map(|m| (m.name.as_str(), m.method)).collect();
            assert_eq!(names, [("d/s.bin", ZIP_STORED), ("d/z.bin", ZIP_DEFLATED)]);
            assert!(m[1].compressed_size < m[1].size && m[1].size == data.len() as u64);
            for member in ["d/s.bin", "d/z.bin"] {
                let v = vsizip_path(&p, member);
                assert!(v.to_string_lossy().starts_with("/vsizip//"), "{v:?}");
                assert_eq!(split_vsizip(&v), Some((p.clone(), member.to_string())));
                assert!(path_exists(&v) && is_archive_path(&v));
                check_zip_member(&v).unwrap();
                assert_eq!(read_zip_member(&v, 1 << 20).unwrap(), data);
                // the bytes a reader sees, twice (the second open reuses the cache file)
                for _ in 0..2 {
                    let src = open_archived(&v).unwrap().unwrap();
                    let mut buf = vec![0u8; 1000];
                    src.read_exact_at(&mut buf, 65_000).unwrap();
                    assert_eq!(buf, data[65_000..66_000]);
                    assert_eq!(src.len(), data.len() as u64);
                }
            }
            assert!(!path_exists(&vsizip_path(&p, "d/missing.bin")));
            let e = find_zip_member(&vsizip_path(&p, "d/missing.bin")).unwrap_err();
            assert!(e.to_string().contains("no member \"d/missing.bin\""), "{e}");
            let e = read_zip_member(&vsizip_path(&p, "d/z.bin"), 10).unwrap_err();
            assert!(e.to_string().contains("over the 10 bytes"), "{e}");
        }
        assert_eq!(
            open_archived(Path::new("/tmp/x.tif")).unwrap().map(|_| ()),
            None
        );
    }

    #[test]
    fn zip_problems_name_the_archive_and_member() {
        let dir = tempfile::tempdir().unwrap();
        let data = payload();
        let good = zip(&[("s.bin", &data, false), ("z.bin", &data, true)], false);
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let msg = |p: &Path, member: &str| -> String {
            let e = open_archived(&vsizip_path(p, member))
                .err()
                .expect("an error");
            assert!(
                matches!(&e, Error::Archive { path, .. } if path == p),
                "{e:?}"
            );
            e.to_string()
        };
        // not a zip
        let p = write(
            "not.zip",
            b"hello, this is text and not a zip archive at all",
        );
        assert!(msg(&p, "s.bin").contains("not a zip archive"));
        // cut short: the central directory is gone
        let p = write("cut.zip", &good[..good.len() / 2]);
        assert!(msg(&p, "s.bin").contains("truncated"));
        // a corrupt deflate stream, or a CRC that does not match
        let p = write("good.zip", &good);
        let z = zip_members(&p).unwrap().remove(1);
        let z_data = (z.header_offset + 30 + 5 + z.compressed_size / 2) as usize;
        let mut bytes = good.clone();
        bytes[z_data] ^= 0x55;
        let p = write("corrupt.zip", &bytes);
        let m = msg(&p, "z.bin");
        assert!(
            m.contains("member \"z.bin\"") && m.contains("corrupt"),
            "{m}"
        );
        // a flipped byte of a stored member: found by an explicit check only
        let mut bytes = good.clone();
        bytes[30 + 5 + 100] ^= 1;
        let p = write("flip.zip", &bytes);
        assert!(open_archived(&vsizip_path(&p, "s.bin")).is_ok());
        let e = check_zip_member(&vsizip_path(&p, "s.bin")).unwrap_err();
        assert!(e.to_string().contains("CRC-32 mismatch"), "{e}");
        // another compression method (12, bzip2) in the local and central headers
        let mut bytes = good.clone();
        let cd = bytes.len() - 22 - 2 * (46 + 5);
        bytes[8] = 12;
        bytes[cd + 10] = 12;
        let p = write("bzip2.zip", &bytes);
        let m = msg(&p, "s.bin");
        assert!(m.contains("compression method 12"), "{m}");
        // a member whose data lies past the end (the directory kept, the data cut)
        let mut bytes = good[..30 + 5 + 1000].to_vec();
        bytes.extend_from_slice(&good[good.len() - 22 - 2 * (46 + 5)..]);
        let cd_offset = (30 + 5 + 1000) as u32;
        let n = bytes.len();
        bytes[n - 6..n - 2].copy_from_slice(&cd_offset.to_le_bytes());
        let p = write("short.zip", &bytes);
        let m = msg(&p, "s.bin");
        assert!(
            m.contains("member \"s.bin\"") && m.contains("truncated"),
            "{m}"
        );
    }
}
