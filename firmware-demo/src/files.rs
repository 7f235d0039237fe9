//! The tripwire on a board: the configuration blob in flash is recorded in a file database
//! (the core's codec, into a static buffer), then a tampered copy is compared against the
//! record read back from that database.

use homeostat_core::digest::{digest, Algorithm, Digest, Hasher};
use homeostat_core::fim::db::{self, Decoder, Encoder, Header, TreeInfo};
use homeostat_core::fim::{compare, Attr, Attrs, Entry, Kind, Meta, Timestamp};
use static_cell::ConstStaticCell;

use crate::out::say;
use crate::Verdict;

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

#[inline(never)] // keeps each part's stack frame apart from the others'
pub fn run(v: &mut Verdict) {
    say!("-- files: the configuration in flash");
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
        created: crate::BOOT_EPOCH,
        host: "router",
        trees,
    };
    let dir = record(b"/flash", Kind::Dir, None, 0, crate::BOOT_EPOCH);
    let file = record(
        CONFIG_PATH,
        Kind::File,
        Some(flashed),
        CONFIG.len() as u64,
        crate::BOOT_EPOCH,
    );
    let len = match write_db(&header, &[&dir, &file], frame, out) {
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
    let later = crate::BOOT_EPOCH + 3 * 86_400 + 2 * 3600 + 17 * 60;
    let tampered = record(
        CONFIG_PATH,
        Kind::File,
        Some(hash_pages(&copy)),
        copy.len() as u64,
        later,
    );
    let untouched = record(
        CONFIG_PATH,
        Kind::File,
        Some(hash_pages(&CONFIG)),
        CONFIG.len() as u64,
        crate::BOOT_EPOCH,
    );

    // The check: read the baseline back and compare it with what is in flash now.
    match check_db(&out[..len], &untouched, &tampered) {
        Ok((records, clean, diff)) => {
            say!(
                "baseline of /flash: {} records, {} B database, trailer verified",
                records,
                len
            );
            say!("an attacker widens `exclude` to blind the tripwire, puts size and mtime back");
            v.expect("the baseline reads back whole", records == 2);
            v.expect("the flashed blob compares clean", clean.is_empty());
            if diff.contains(Attr::Content) {
                say!(
                    "ALERT: Hash (sha256) for {} changed!",
                    core::str::from_utf8(CONFIG_PATH).unwrap_or("?")
                );
            }
            say!("  changed: {}", diff);
            v.expect(
                "the tampered copy differs in ctime and content only",
                diff == Attrs::EMPTY.with(Attr::Ctime).with(Attr::Content),
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
    entries: &[&Entry<&[u8]>],
    frame: &mut [u8],
    out: &mut [u8],
) -> Result<usize, db::DbError> {
    let (mut enc, n) = Encoder::begin(header, frame)?;
    let mut len = put(out, 0, &frame[..n])?;
    for e in entries {
        let n = enc.record(0, e, frame)?;
        len = put(out, len, &frame[..n])?;
    }
    let tail = enc.finish().tail(None);
    put(out, len, &tail)
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) -> Result<usize, db::DbError> {
    let end = at + bytes.len();
    out.get_mut(at..end)
        .ok_or(db::DbError::BufferTooSmall)?
        .copy_from_slice(bytes);
    Ok(end)
}

/// Verifies the whole database (trailer digest and count) and compares its record of the
/// configuration with `now_clean` and `now_tampered`: (records, clean diff, tampered diff).
fn check_db(
    file: &[u8],
    now_clean: &Entry<&[u8]>,
    now_tampered: &Entry<&[u8]>,
) -> Result<(u64, Attrs, Attrs), db::DbError> {
    let corrupt = db::DbError::Corrupt("truncated");
    let hlen = db::decode_preamble(file)?;
    let mut pos = db::PREAMBLE_LEN + hlen;
    let header = db::decode_header(file.get(db::PREAMBLE_LEN..pos).ok_or(corrupt)?)?;
    let watched = header.trees.first().ok_or(corrupt)?.attrs()?;
    let mut dec = Decoder::new();
    let mut diffs = None;
    loop {
        let (len, used) = db::take_varint(file.get(pos..).ok_or(corrupt)?)?.ok_or(corrupt)?;
        pos += used;
        if len == 0 {
            break;
        }
        let body = file.get(pos..pos + len as usize).ok_or(corrupt)?;
        let (_, old) = dec.decode(body, &header.trees)?;
        if old.path() == now_clean.path() {
            diffs = Some((
                compare(&old, now_clean, watched),
                compare(&old, now_tampered, watched),
            ));
        }
        pos += len as usize;
    }
    let trailer = db::decode_trailer(file.get(pos..).ok_or(corrupt)?)?;
    let body = digest(Algorithm::Sha256, &file[..pos]);
    if trailer.digest[..] != *body.as_bytes() || trailer.count != dec.count() {
        return Err(db::DbError::Corrupt("trailer"));
    }
    let (clean, tampered) = diffs.ok_or(db::DbError::Corrupt("no record of the blob"))?;
    Ok((dec.count(), clean, tampered))
}
