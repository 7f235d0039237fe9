//! The members of a tar stream (what `dpkg-deb --fsys-tarfile` writes): type, mode, owner,
//! content digest and link target of each, by path key. ustar, GNU long names and pax
//! `path`/`linkpath` records.

use std::collections::HashMap;
use std::io::{self, Read};

use homeostat_core::digest::{digest, Algorithm, Hasher};
use homeostat_core::fim::Kind;
use homeostat_core::package::Archived;

use super::path_key;

/// Every member of `r`, by the key of its absolute path (`./usr/bin/x` → `/usr/bin/x`);
/// contents hashed with `alg`.
pub(crate) fn members(mut r: impl Read, alg: Algorithm) -> io::Result<HashMap<u64, Archived>> {
    let mut out = HashMap::new();
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let mut header = [0u8; 512];
    loop {
        if !read_block(&mut r, &mut header)? || header.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        let size = octal(&header[124..136]).ok_or_else(|| bad("member size"))?;
        let flag = header[156];
        match flag {
            b'L' | b'K' | b'x' => {
                let data = read_data(&mut r, size)?;
                match flag {
                    b'L' => long_name = Some(cstr(&data).to_vec()),
                    b'K' => long_link = Some(cstr(&data).to_vec()),
                    _ => pax(&data, &mut long_name, &mut long_link),
                }
                continue;
            }
            _ => {}
        }
        let name = long_name.take().unwrap_or_else(|| ustar_name(&header));
        let link = long_link
            .take()
            .unwrap_or_else(|| cstr(&header[157..257]).to_vec());
        let mode = octal(&header[100..108]).ok_or_else(|| bad("mode"))? as u32 & 0o7777;
        let uid = octal(&header[108..116]).ok_or_else(|| bad("uid"))? as u32;
        let gid = octal(&header[116..124]).ok_or_else(|| bad("gid"))? as u32;
        let key = path_key(absolute(&name).as_slice());
        let mut a = Archived {
            kind: Kind::File,
            mode,
            uid,
            gid,
            content: None,
            target: None,
        };
        match flag {
            b'0' | 0 | b'7' => {
                let mut h = Hasher::new(alg);
                copy_hashing(&mut r, size, &mut h)?;
                a.content = Some(h.finalize());
                out.insert(key, a);
                continue;
            }
            b'1' => {
                // A hard link holds what its target holds.
                let target = path_key(absolute(&link).as_slice());
                a.content = out.get(&target).and_then(|t: &Archived| t.content);
            }
            b'2' => {
                a.kind = Kind::Symlink;
                a.target = digest(Algorithm::Sha256, &link).as_bytes().try_into().ok();
            }
            b'5' => a.kind = Kind::Dir,
            b'3' => a.kind = Kind::CharDevice,
            b'4' => a.kind = Kind::BlockDevice,
            b'6' => a.kind = Kind::Fifo,
            _ => {}
        }
        skip(&mut r, size)?;
        out.insert(key, a);
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("tar header: bad {what}"),
    )
}

fn read_block(r: &mut impl Read, buf: &mut [u8; 512]) -> io::Result<bool> {
    let mut got = 0;
    while got < 512 {
        match r.read(&mut buf[got..])? {
            0 if got == 0 => return Ok(false),
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tar: torn block",
                ))
            }
            n => got += n,
        }
    }
    Ok(true)
}

/// Data of `size` bytes and its padding; extended headers are small, so capped.
fn read_data(r: &mut impl Read, size: u64) -> io::Result<Vec<u8>> {
    if size > 1 << 20 {
        return Err(bad("extended header size"));
    }
    let mut data = vec![0u8; size as usize];
    r.read_exact(&mut data)?;
    skip(r, padding(size))?;
    Ok(data)
}

fn copy_hashing(r: &mut impl Read, size: u64, h: &mut Hasher) -> io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let n = (left as usize).min(buf.len());
        r.read_exact(&mut buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    skip(r, padding(size))
}

fn padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    match copied == n {
        true => Ok(()),
        false => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "tar: torn member",
        )),
    }
}

fn cstr(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or_default()
}

fn ustar_name(h: &[u8; 512]) -> Vec<u8> {
    let name = cstr(&h[0..100]);
    let prefix = cstr(&h[345..500]);
    match &h[257..262] == b"ustar" && !prefix.is_empty() {
        true => [prefix, b"/", name].concat(),
        false => name.to_vec(),
    }
}

/// `./usr/bin/x`, `usr/bin/x/` → `/usr/bin/x`; `./` → `/`.
fn absolute(name: &[u8]) -> Vec<u8> {
    let n = name.strip_prefix(b".").unwrap_or(name);
    let n = n.strip_suffix(b"/").unwrap_or(n);
    match n.first() {
        Some(b'/') => n.to_vec(),
        _ => [b"/", n].concat(),
    }
}

/// pax records `LEN key=value\n`: the ones that rename.
fn pax(data: &[u8], name: &mut Option<Vec<u8>>, link: &mut Option<Vec<u8>>) {
    let mut rest = data;
    while let Some(sp) = rest.iter().position(|&b| b == b' ') {
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            return;
        };
        if len <= sp + 1 || len > rest.len() {
            return;
        }
        let rec = &rest[sp + 1..len - 1];
        if let Some(v) = rec.strip_prefix(b"path=") {
            *name = Some(v.to_vec());
        } else if let Some(v) = rec.strip_prefix(b"linkpath=") {
            *link = Some(v.to_vec());
        }
        rest = &rest[len..];
    }
}

/// An octal field (NUL or space terminated); GNU base-256 for big numbers.
fn octal(f: &[u8]) -> Option<u64> {
    if f.first().is_some_and(|&b| b & 0x80 != 0) {
        return Some(f[1..].iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)));
    }
    let s = std::str::from_utf8(f).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    match s.is_empty() {
        true => Some(0),
        false => u64::from_str_radix(s, 8).ok(),
    }
}
