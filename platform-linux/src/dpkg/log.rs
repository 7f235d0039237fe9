//! `/var/log/dpkg.log` and its rotations (`.1`, `.N.gz`): the package transactions.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use homeostat_core::event::Epoch;
use homeostat_core::package::TxKind;

use super::Problem;

/// One logged transaction (`install`, `upgrade`, `remove`, `purge`).
#[derive(Debug, Clone)]
pub(crate) struct Tx {
    pub t: Epoch,
    pub name: String,
    pub arch: String,
    pub kind: TxKind,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The log and its rotations, oldest first: `LOG.N.gz` … `LOG.2.gz`, `LOG.1`, `LOG`.
fn rotations(log: &Path) -> Vec<PathBuf> {
    let mut files = vec![log.to_path_buf()];
    for n in 1.. {
        let plain = PathBuf::from(format!("{}.{n}", log.display()));
        let gz = PathBuf::from(format!("{}.{n}.gz", log.display()));
        match (plain.exists(), gz.exists()) {
            (true, _) => files.push(plain),
            (_, true) => files.push(gz),
            _ => break,
        }
    }
    files.reverse();
    files
}

/// Every transaction logged at or after `since`, oldest first. A line that is not dpkg's
/// is a problem named by file and line; the rest is read.
pub(crate) fn read(log: &Path, since: Epoch, problems: &mut Vec<Problem>) -> Vec<Tx> {
    let mut out = Vec::new();
    for file in rotations(log) {
        let f = match std::fs::File::open(&file) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(Problem::at(&file, 0, &format!("cannot be read: {e}")));
                continue;
            }
        };
        let reader: Box<dyn Read> = match file.extension().is_some_and(|e| e == "gz") {
            true => Box::new(flate2::read::MultiGzDecoder::new(f)),
            false => Box::new(f),
        };
        let reader = crate::bounded::Limited::new(reader, &file, crate::bounded::limits::DPKG_DATA);
        for (i, line) in BufReader::new(reader).split(b'\n').enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    problems.push(Problem::at(&file, i + 1, &format!("read error: {e}")));
                    break;
                }
            };
            match parse(&line) {
                Ok(Some(tx)) if tx.t >= since => out.push(tx),
                Ok(_) => {}
                Err(what) => problems.push(Problem::at(&file, i + 1, what)),
            }
        }
    }
    out
}

/// `2024-01-05 10:11:12 upgrade coreutils:amd64 9.1-1 9.4-1`; `Ok(None)` for dpkg's other
/// lines (`status`, `configure`, `startup`, …).
pub(super) fn parse(line: &[u8]) -> Result<Option<Tx>, &'static str> {
    const SHAPE: &str = "expected `YYYY-MM-DD HH:MM:SS ACTION …` (dpkg.log)";
    let line = std::str::from_utf8(line).map_err(|_| "not UTF-8")?;
    if line.is_empty() {
        return Ok(None);
    }
    let mut w = line.split(' ');
    let (Some(date), Some(time), Some(action)) = (w.next(), w.next(), w.next()) else {
        return Err(SHAPE);
    };
    let t = epoch(date, time).ok_or(SHAPE)?;
    let kind = match action {
        "install" => TxKind::Install,
        "upgrade" => TxKind::Upgrade,
        "remove" => TxKind::Remove,
        "purge" => TxKind::Purge,
        "startup" | "status" | "configure" | "trigproc" | "conffile" => return Ok(None),
        _ => return Err("unknown dpkg.log action"),
    };
    let (Some(pkg), Some(from), Some(to)) = (w.next(), w.next(), w.next()) else {
        return Err("expected `ACTION PACKAGE:ARCH FROM TO`");
    };
    let (name, arch) = pkg.split_once(':').ok_or("expected PACKAGE:ARCH")?;
    let version = |v: &str| (v != "<none>").then(|| v.to_owned());
    Ok(Some(Tx {
        t,
        name: name.to_owned(),
        arch: arch.to_owned(),
        kind,
        from: version(from),
        to: version(to),
    }))
}

/// dpkg writes local time: `YYYY-MM-DD` `HH:MM:SS` to epoch seconds through `mktime`.
fn epoch(date: &str, time: &str) -> Option<Epoch> {
    let num = |s: &str, len: usize| (s.len() == len).then(|| s.parse::<i32>().ok())?;
    let d: Vec<&str> = date.split('-').collect();
    let c: Vec<&str> = time.split(':').collect();
    if d.len() != 3 || c.len() != 3 {
        return None;
    }
    let (y, mo, da) = (num(d[0], 4)?, num(d[1], 2)?, num(d[2], 2)?);
    let (h, mi, s) = (num(c[0], 2)?, num(c[1], 2)?, num(c[2], 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    local_to_epoch(y, mo, da, h, mi, s)
}

#[allow(unsafe_code)]
fn local_to_epoch(y: i32, mo: i32, d: i32, h: i32, mi: i32, s: i32) -> Option<Epoch> {
    // SAFETY: `tm` is a plain C struct, zeroed is a valid value; mktime only reads and
    // normalises it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, exclusively borrowed struct for the call.
    let t = unsafe { libc::mktime(&mut tm) };
    (t != -1).then_some(t as Epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_rotations_and_names_damaged_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("dpkg.log");
        std::fs::write(
            &log,
            "2026-01-02 10:00:00 upgrade a:all 1.0 2.0\n2026-01-02 10:00:00 status installed a:all 2.0\nnot a line\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("dpkg.log.1"),
            "2026-01-01 10:00:00 install a:all <none> 1.0\n",
        )
        .unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"2025-12-01 10:00:00 purge b:amd64 3 <none>\n")
            .unwrap();
        std::fs::write(dir.path().join("dpkg.log.2.gz"), gz.finish().unwrap()).unwrap();
        let mut problems = Vec::new();
        let txs = read(&log, 0, &mut problems);
        let kinds: Vec<TxKind> = txs.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [TxKind::Purge, TxKind::Install, TxKind::Upgrade]);
        assert_eq!(txs[2].from.as_deref(), Some("1.0"));
        assert_eq!(txs[1].from, None);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            (problems[0].file.as_path(), problems[0].line),
            (log.as_path(), 3)
        );
        let later = read(&log, txs[2].t, &mut Vec::new());
        assert_eq!(later.len(), 1);
    }
}
