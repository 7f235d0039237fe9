//! The tripwire on a board: the configuration blob in flash, walked as a tree ([`Flash`],
//! the board's [`FileSource`]), is recorded in a file database (the core's codec, into a
//! static buffer), then the database is verified whole by the core's reader and
//! merge-joined (the core's check) with the tree as it is now, untouched and then
//! tampered with.

use homeostat_core::digest::{digest, Algorithm, Digest, Hasher};
use homeostat_core::feed::{Clock, FileSource, Found};
use homeostat_core::fim::db::{self, DbError, Encoder, Header, TreeInfo};
use homeostat_core::fim::join::{Finding, Join, Mode};
use homeostat_core::fim::reader::{Event, NoSignature, ReadError, Reader};
use homeostat_core::fim::{Attr, Attrs, Entry, Kind, Meta, Timestamp};
use static_cell::ConstStaticCell;

use crate::out::say;
use crate::{Rtc, Verdict};

/// The configuration as flashed: in `.rodata`, hashed in place.
pub static CONFIG: [u8; CONFIG_LEN] = *include_bytes!("../router.toml");
const CONFIG_LEN: usize = include_bytes!("../router.toml").len();
pub const CONFIG_PATH: &[u8] = b"/flash/router.toml";

/// The class expression of the configuration's first `[[rule]]` (`when = "…"`).
pub fn rule() -> Option<&'static str> {
    let text = core::str::from_utf8(&CONFIG).ok()?;
    let line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("when = \""))?;
    line.split('"').next()
}

/// What the attacker writes over the exclude list: the same length, so the size stays.
const ORIGINAL: &[u8] = b"exclude = [\"/etc/mtab\"]";
const TAMPERED: &[u8] = b"exclude = [\"/etc/*\"   ]";
const _: () = assert!(ORIGINAL.len() == TAMPERED.len());

/// One record's frame buffer, as the encoder's contract asks, and the database itself.
static FRAME: ConstStaticCell<[u8; db::MAX_FRAME]> = ConstStaticCell::new([0; db::MAX_FRAME]);
static DB: ConstStaticCell<[u8; 1024]> = ConstStaticCell::new([0; 1024]);

/// The flash is read a page at a time, as a driver would hand it over.
const PAGE: usize = 256;

fn hash_pages(bytes: &[u8]) -> Digest {
    let mut h = Hasher::new(Algorithm::Sha256);
    for page in bytes.chunks(PAGE) {
        h.update(page);
    }
    h.finalize()
}

fn record(path: &[u8], kind: Kind, content: Option<Digest>, size: u64, ctime: i64) -> Entry<&[u8]> {
    let mut m = Meta::empty(kind);
    m.mode = if kind == Kind::Dir { 0o755 } else { 0o600 };
    m.size = size;
    m.mtime = Timestamp {
        sec: crate::BOOT_EPOCH,
        nsec: 0,
    };
    m.ctime = Timestamp {
        sec: ctime,
        nsec: 0,
    };
    m.inode = if kind == Kind::Dir { 1 } else { 12 };
    m.dev = 0x1f01; // an mtdblock
    m.content = content;
    Entry {
        path,
        target: None,
        meta: m,
    }
}

/// The board's watched tree: the `/flash` directory and the configuration blob in it, as
/// the flash driver hands it over (hashed a page at a time as it is walked).
struct Flash<'b> {
    /// The blob's bytes as they are now.
    blob: &'b [u8],
    /// When the directory was last changed (boot: it is never written).
    boot: i64,
    /// When the blob was last written (its ctime).
    written: i64,
}

impl<'b> FileSource for Flash<'b> {
    /// The board watches one tree, `/flash`.
    type Tree = ();
    type Item = Entry<&'b [u8]>;
    type Walk<'s>
        = core::array::IntoIter<Entry<&'b [u8]>, 2>
    where
        Self: 's;

    fn walk(&mut self, _: &()) -> Self::Walk<'_> {
        let dir = record(b"/flash", Kind::Dir, None, 0, self.boot);
        let blob = self.blob;
        let file = record(
            CONFIG_PATH,
            Kind::File,
            Some(hash_pages(blob)),
            blob.len() as u64,
            self.written,
        );
        [dir, file].into_iter()
    }
}

#[inline(never)] // keeps each part's stack frame apart from the others'
pub fn run(v: &mut Verdict, clock: &Rtc) {
    say!("-- files: the configuration in flash");
    let boot = clock.now();
    v.expect(
        "sha256(abc) known answer",
        digest(Algorithm::Sha256, b"abc").as_bytes()[..4] == [0xba, 0x78, 0x16, 0xbf],
    );
    let at = CONFIG.as_ptr() as usize;
    v.expect("the configuration blob is in flash", at < 0x0040_0000);
    let flashed = hash_pages(&CONFIG);
    say!(
        "/flash/router.toml: {} B in flash at {:#010x}",
        CONFIG.len(),
        at
    );
    say!("  {}", flashed);

    // The baseline: a database of the /flash tree in a static buffer.
    let frame = FRAME.take();
    let out = DB.take();
    let mut trees = heapless::Vec::<TreeInfo<'_>, { db::MAX_TREES }>::new();
    let _ = trees.push(TreeInfo {
        root: b"/flash",
        algorithm: Algorithm::Sha256.id(),
        attrs: Attrs::ALL.bits(),
    });
    let header = Header {
        created: boot,
        host: "router",
        trees,
    };
    let mut flash = Flash {
        blob: &CONFIG,
        boot,
        written: boot,
    };
    let len = match write_db(&header, flash.walk(&()), frame, out) {
        Ok(n) => n,
        Err(e) => {
            say!("FAIL database write: {}", e);
            v.expect("database written", false);
            return;
        }
    };

    // The attack: same size, mtime put back; only ctime betrays it (and the content).
    let mut copy = [0u8; CONFIG_LEN];
    copy.copy_from_slice(&CONFIG);
    let hit = copy.windows(ORIGINAL.len()).position(|w| w == ORIGINAL);
    v.expect("the tamper target is in the blob", hit.is_some());
    if let Some(i) = hit {
        copy[i..i + TAMPERED.len()].copy_from_slice(TAMPERED);
    }
    let mut tampered = Flash {
        blob: &copy,
        boot,
        written: boot + 3 * 86_400 + 2 * 3600 + 17 * 60,
    };

    // The check: verify the whole baseline first, then join its records with the tree now.
    let file = &out[..len];
    let checked = verify_db(file).and_then(|base| {
        let clean = check_db(file, &base, flash.walk(&()))?;
        let tampered = check_db(file, &base, tampered.walk(&()))?;
        Ok((base.records, clean, tampered))
    });
    match checked {
        Ok((records, clean, (diff, others))) => {
            say!(
                "baseline of /flash: {} records, {} B database, trailer verified",
                records,
                len
            );
            say!("an attacker widens `exclude` to blind the tripwire, puts size and mtime back");
            v.expect("the baseline reads back whole", records == 2);
            v.expect(
                "the flashed blob compares clean",
                clean == (Attrs::EMPTY, 0),
            );
            if diff.contains(Attr::Content) {
                say!(
                    "ALERT: Hash (sha256) for {} changed!",
                    core::str::from_utf8(CONFIG_PATH).unwrap_or("?")
                );
            }
            say!("  changed: {}", diff);
            v.expect(
                "the tampered copy differs in ctime and content only",
                diff == Attrs::EMPTY.with(Attr::Ctime).with(Attr::Content) && others == 0,
            );
        }
        Err(e) => {
            say!("FAIL database read: {}", e);
            v.expect("database read back", false);
        }
    }
}

/// Encodes `entries` of tree 0 into `out`; returns the database length.
fn write_db(
    header: &Header<'_>,
    entries: impl Iterator<Item = Entry<&'static [u8]>>,
    frame: &mut [u8],
    out: &mut [u8],
) -> Result<usize, db::DbError> {
    let (mut enc, n) = Encoder::begin(header, frame)?;
    let mut len = put(out, 0, &frame[..n])?;
    for e in entries {
        let n = enc.record(0, &e, frame)?;
        len = put(out, len, &frame[..n])?;
    }
    let tail = enc.finish(None).tail(None);
    put(out, len, &tail)
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Result<usize, db::DbError> {
    let end = at + bytes.len();
    out.get_mut(at..end)
        .ok_or(db::DbError::BufferTooSmall)?
        .copy_from_slice(bytes);
    Ok(end)
}

/// What the verifying pass learned of the baseline.
struct Baseline {
    records: u64,
    /// Offset of the first record of tree 0.
    start: Option<u64>,
    algorithm: u8,
    attrs: u16,
}

/// Pass one, integrity before belief: the core's reader checks the whole database
/// (order, count, digest; no key on this board). It is one slice, so no buffer is needed.
fn verify_db(file: &[u8]) -> Result<Baseline, ReadError> {
    let mut reader = Reader::new(&mut [], NoSignature);
    let mut base = Baseline {
        records: 0,
        start: None,
        algorithm: 0,
        attrs: 0,
    };
    let mut rest = file;
    loop {
        let (used, event) = reader.feed(rest)?;
        rest = &rest[used..];
        match event {
            Some(Event::Header(h)) => {
                let h = h.decode().map_err(|error| ReadError {
                    offset: db::PREAMBLE_LEN as u64,
                    error,
                })?;
                let tree = h.trees.first().ok_or(ReadError {
                    offset: db::PREAMBLE_LEN as u64,
                    error: DbError::Corrupt("header: no tree"),
                })?;
                base.algorithm = tree.algorithm;
                base.attrs = tree.attrs;
            }
            Some(Event::Record {
                offset, tree: 0, ..
            }) => {
                base.start.get_or_insert(offset);
            }
            Some(Event::Verified(t)) => base.records = t.count,
            Some(_) => {}
            None => break,
        }
    }
    reader.end()?;
    Ok(base)
}

/// The database's record held while the live side catches up (the reader reuses its
/// path buffer for the next record).
type Held = Entry<heapless::Vec<u8, 64>>;

fn hold(e: &Entry<&[u8]>) -> Result<Held, DbError> {
    let copy = |b: &[u8]| heapless::Vec::from_slice(b).map_err(|_| DbError::PathTooLong);
    Ok(Entry {
        path: copy(e.path)?,
        target: e.target.map(copy).transpose()?,
        meta: e.meta,
    })
}

/// Pass two: the core's merge-join of tree 0's records with the walk `live`, as a check:
/// (attributes that differ, added and removed paths).
fn check_db(
    file: &[u8],
    base: &Baseline,
    mut live: impl Iterator<Item = impl Found>,
) -> Result<(Attrs, u32), ReadError> {
    let trees = [TreeInfo {
        root: b"/flash",
        algorithm: base.algorithm,
        attrs: base.attrs,
    }];
    let start = base.start.unwrap_or(file.len() as u64);
    let mut reader = Reader::records(&mut [], &trees, start)?;
    let mut rest = file.get(start as usize..).unwrap_or_default();
    let mut next_old = |rest: &mut &[u8]| -> Result<Option<Held>, ReadError> {
        let at = reader.offset();
        let (used, event) = reader.feed(rest)?;
        *rest = &rest[used..];
        match event {
            Some(Event::Record { tree: 0, entry, .. }) => hold(&entry)
                .map(Some)
                .map_err(|error| ReadError { offset: at, error }),
            _ => Ok(None),
        }
    };
    let watched = Attrs::from_bits(base.attrs).unwrap_or(Attrs::ALL);
    let mut join: Join<'_, &[u8], 64> = Join::new(Mode::Check { update: false }, watched);
    let (mut diff, mut others) = (Attrs::EMPTY, 0);
    let mut old = next_old(&mut rest)?;
    let mut new = live.next();
    while let Some(step) = join.step(old.as_ref(), new.as_ref().map(Found::live)) {
        match step.decision.finding {
            Some(Finding::Changed(d)) => diff = diff.union(d),
            Some(_) => others += 1,
            None => {}
        }
        if step.old {
            old = next_old(&mut rest)?;
        }
        if step.new {
            new = live.next();
        }
    }
    Ok((diff, others))
}
