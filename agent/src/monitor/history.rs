//! The recorded history: what the samples of the last week actually were, one row per
//! five-minute slot of the table (2016 rows × 128 observables), kept beside the learner
//! state in `history.state` so that `graph` and `state` can show it.
//!
//! Size, fixed: 16-byte header + 2016 × (8 epoch + 16 anomaly bits + 128 × 3 value) +
//! 32-byte SHA-256 = [`ENCODED_LEN`] = 822,576 bytes, 0.40× the table. Values are f32
//! rounded to 24 bits (sign, 8-bit exponent, 15-bit mantissa: f32's range, five
//! significant digits): 128 full f32 columns would be exactly half the table, and the
//! learner's store (table + rest) must stay under 1.5× the table.
//!
//! A row holds one slot of one week: when the first sample of a new week reaches a slot,
//! the row is cleared. Of the samples in one slot (two at the default 150 s interval) each
//! observable keeps the one furthest from the slot's weekly average, so a spike is never
//! overwritten by a quiet sample a moment later; its anomaly bit is set when any sample
//! in the slot raised `_anomaly`. Values are rounded when recorded, so what is in memory
//! is what a restart reads back, bit for bit.

use std::io::{self, Read};

use homeostat_core::digest::{Algorithm, Hasher};
use homeostat_core::stats::{table, Kind, ObsId, Report, Table, OBSERVABLES, SLOTS};

use crate::platform::StateDir;
use crate::state_dir::Reading;
use homeostat_core::feed::{BlobWriter, Storage};

/// Name of the history in the state directory.
pub const FILE: &str = "history.state";
const MAGIC: &[u8; 8] = b"HMSTHIST";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 16;
const ROW_LEN: usize = 8 + 16 + OBSERVABLES * 3;
/// The size of every encoded history.
pub const ENCODED_LEN: usize = HEADER_LEN + SLOTS * ROW_LEN + 32;
const _: () = assert!(ENCODED_LEN == 822_576);

/// One slot of the last week.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Row {
    /// Epoch of the last sample recorded here; 0: never.
    pub t: i64,
    /// Bit `i`: a sample of observable `i` in this slot raised `_anomaly`.
    pub anomalous: u128,
    /// The recorded value per observable (24-bit precision); NaN: none in this slot.
    pub values: [f32; OBSERVABLES],
}

impl Row {
    const EMPTY: Row = Row {
        t: 0,
        anomalous: 0,
        values: [f32::NAN; OBSERVABLES],
    };
}

/// The ring, indexed by table slot, held as encoded (822 KiB rather than 1.05 MiB of
/// decoded rows: the daemon keeps it resident).
pub struct History {
    rows: Box<[[u8; ROW_LEN]]>,
}

/// f32 rounded to nearest on its top 24 bits (ties away from zero in the magnitude): the
/// stored form. A value whose rounding would overflow becomes infinite, as f32 does.
pub fn round24(v: f32) -> f32 {
    if v.is_nan() {
        return f32::NAN;
    }
    f32::from_bits(bits24(v) << 8)
}

fn bits24(v: f32) -> u32 {
    if v.is_nan() {
        return f32::NAN.to_bits() >> 8;
    }
    let b = v.to_bits();
    let sign = b & 0x8000_0000;
    // Rounding carries into the exponent, which is what rounding up to the next binade is.
    let mag = ((b & 0x7fff_ffff) + 0x80).min(0x7f80_0000) >> 8;
    (sign >> 8) | mag
}

impl Default for History {
    fn default() -> Self {
        let mut empty = [0u8; ROW_LEN];
        encode_row(&Row::EMPTY, &mut empty);
        History {
            rows: vec![empty; SLOTS].into_boxed_slice(),
        }
    }
}

impl History {
    /// The row of `slot` (0..2016) whatever week it is from.
    fn row(&self, slot: usize) -> Row {
        let mut r = Row::EMPTY;
        decode_row(&self.rows[slot % SLOTS], &mut r);
        r
    }

    /// The epoch of the last sample recorded in `slot`; 0: never.
    fn t(&self, slot: usize) -> i64 {
        let mut t = [0u8; 8];
        t.copy_from_slice(&self.rows[slot % SLOTS][..8]);
        i64::from_le_bytes(t)
    }

    /// What `slot` recorded of `id`, if the slot was recorded in the week up to `now`: the
    /// value, when, and whether a sample raised `_anomaly`; decodes three bytes, not a row.
    pub fn recent_value(&self, slot: usize, id: ObsId, now: i64) -> Option<(f32, i64, bool)> {
        let t = self.t(slot);
        if t == 0 || t > now || now - t >= table::WEEK_SECONDS {
            return None;
        }
        let b = &self.rows[slot % SLOTS];
        let at = 24 + 3 * id.index();
        let v = f32::from_bits(u32::from_le_bytes([0, b[at], b[at + 1], b[at + 2]]));
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[8..24]);
        let anomalous = u128::from_le_bytes(a) & (1u128 << id.index()) != 0;
        (!v.is_nan()).then_some((v, t, anomalous))
    }

    /// The epoch of the newest sample recorded, if any.
    pub fn latest(&self) -> Option<i64> {
        (0..SLOTS).map(|s| self.t(s)).filter(|t| *t != 0).max()
    }

    /// Records a learned sample: `report` as the learner gave it, `table` after the update.
    pub fn record(&mut self, report: &Report, table: &Table) {
        let t = report.t();
        let slot = table::slot(t);
        let mut row = self.row(slot);
        let start = t - t.rem_euclid(table::SLOT_SECONDS);
        if row.t < start || row.t >= start + table::SLOT_SECONDS {
            row = Row::EMPTY;
        }
        row.t = t;
        for (id, o) in report.iter() {
            let i = id.index();
            let expect = table[slot][i].expect;
            let old = row.values[i];
            let v = round24(o.value);
            if old.is_nan() || (v - expect).abs() > (old - expect).abs() {
                row.values[i] = v;
            }
            let raised = o.classes.raised();
            if raised.iter().any(|k| matches!(k, Kind::Anomaly(_))) {
                row.anomalous |= 1u128 << i;
            }
        }
        encode_row(&row, &mut self.rows[slot]);
    }

    fn encode_with(&self, mut write: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        let mut hash = Hasher::new(Algorithm::Sha256);
        let mut out = |b: &[u8]| {
            hash.update(b);
            write(b)
        };
        let mut head = [0u8; HEADER_LEN];
        head[..8].copy_from_slice(MAGIC);
        head[8..10].copy_from_slice(&VERSION.to_le_bytes());
        head[10..12].copy_from_slice(&(SLOTS as u16).to_le_bytes());
        head[12..14].copy_from_slice(&(OBSERVABLES as u16).to_le_bytes());
        out(&head)?;
        for r in self.rows.iter() {
            out(r)?;
        }
        let digest = hash.finalize();
        write(digest.as_bytes())
    }

    /// Replaces the stored history with this one, atomically.
    pub fn save(&self, store: &mut StateDir) -> io::Result<()> {
        let mut w = store.store(FILE)?;
        self.encode_with(|b| w.write(b))?;
        w.commit()
    }

    /// Loads the stored history: `Ok(None)` when there is none, an `InvalidData` error
    /// naming what is wrong when it is damaged.
    pub fn load(store: &mut StateDir) -> io::Result<Option<History>> {
        let Some(r) = store.load(FILE)? else {
            return Ok(None);
        };
        read(&mut Reading(r)).map(Some)
    }
}

fn encode_row(r: &Row, buf: &mut [u8; ROW_LEN]) {
    buf[..8].copy_from_slice(&r.t.to_le_bytes());
    buf[8..24].copy_from_slice(&r.anomalous.to_le_bytes());
    for (v, b) in r.values.iter().zip(buf[24..].chunks_exact_mut(3)) {
        b.copy_from_slice(&bits24(*v).to_le_bytes()[..3]);
    }
}

fn decode_row(b: &[u8; ROW_LEN], row: &mut Row) {
    let mut t = [0u8; 8];
    t.copy_from_slice(&b[..8]);
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[8..24]);
    row.t = i64::from_le_bytes(t);
    row.anomalous = u128::from_le_bytes(a);
    for (v, c) in row.values.iter_mut().zip(b[24..].chunks_exact(3)) {
        *v = f32::from_bits(u32::from_le_bytes([0, c[0], c[1], c[2]]));
    }
}

/// Reads a history row by row (never the whole file at once: the daemon's memory budget),
/// checking magic, version, shape, length and checksum.
fn read(r: &mut impl Read) -> io::Result<History> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let short = |e: io::Error| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            bad(format!("history is shorter than {ENCODED_LEN} bytes"))
        } else {
            e
        }
    };
    let mut head = [0u8; HEADER_LEN];
    r.read_exact(&mut head).map_err(short)?;
    if &head[..8] != MAGIC {
        return Err(bad("not a homeostat history (no HMSTHIST magic)".into()));
    }
    let version = u16::from_le_bytes([head[8], head[9]]);
    if version != VERSION {
        return Err(bad(format!(
            "history format version {version}; this build reads {VERSION}"
        )));
    }
    let shape = (
        u16::from_le_bytes([head[10], head[11]]),
        u16::from_le_bytes([head[12], head[13]]),
    );
    if shape != (SLOTS as u16, OBSERVABLES as u16) {
        return Err(bad(format!(
            "history of shape {shape:?}, expected ({SLOTS}, {OBSERVABLES})"
        )));
    }
    let mut hash = Hasher::new(Algorithm::Sha256);
    hash.update(&head);
    let mut h = History::default();
    for row in h.rows.iter_mut() {
        r.read_exact(row).map_err(short)?;
        hash.update(row);
    }
    let mut sum = [0u8; 32];
    r.read_exact(&mut sum).map_err(short)?;
    if r.read(&mut [0u8; 1])? != 0 {
        return Err(bad(format!("history is longer than {ENCODED_LEN} bytes")));
    }
    if hash.finalize().as_bytes() != sum {
        return Err(bad("history checksum mismatch (damaged or edited)".into()));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeostat_core::stats::{Learner, Sample, DEFAULT_FORGET_RATE};

    #[test]
    fn rounding_keeps_range_and_five_digits() {
        for v in [
            0.0f32,
            -0.0,
            1.0,
            3.0,
            65_536.0,
            -2.5,
            2f32.powi(100),
            2f32.powi(-100),
        ] {
            assert_eq!(round24(v), v, "{v} is exact in 24 bits");
        }
        let v = 123_456.79f32;
        assert!((round24(v) - v).abs() / v < 2e-5);
        assert_eq!(round24(round24(v)), round24(v));
        assert!(round24(f32::MAX).is_infinite());
        assert!(round24(f32::NAN).is_nan());
    }

    #[test]
    fn records_the_furthest_sample_and_clears_a_new_week() {
        let mut table = table::boxed();
        let mut l = Learner::new(DEFAULT_FORGET_RATE);
        let mut h = History::default();
        let (mut s, mut r) = (Sample::new(), Report::new());
        let t0 = 1_704_067_200;
        for (dt, v) in [(0, 5.0), (150, 9.0)] {
            s.set(ObsId::USERS, v);
            l.sample(&mut table, t0 + dt, &s, &mut r);
            h.record(&r, &table);
        }
        let row = h.row(0);
        assert_eq!(row.t, t0 + 150);
        // Of 5 and 9, the slot keeps the one further from the weekly average after both.
        let expect = table[0][ObsId::USERS.index()].expect;
        let further = if (5.0 - expect).abs() > (9.0 - expect).abs() {
            5.0
        } else {
            9.0
        };
        assert!((5.0..9.0).contains(&expect) && expect != 7.0, "{expect}");
        let at = |id, now| h.recent_value(0, id, now).map(|r| r.0);
        assert_eq!(at(ObsId::USERS, t0 + 150), Some(further));
        assert_eq!(at(ObsId::LOADAVG, t0 + 150), None);
        // A week later the slot starts over: last week's value is gone.
        s.clear();
        s.set(ObsId::LOADAVG, 1.5);
        l.sample(&mut table, t0 + table::WEEK_SECONDS, &s, &mut r);
        h.record(&r, &table);
        let week = t0 + table::WEEK_SECONDS;
        let at = |id, now| h.recent_value(0, id, now).map(|r| r.0);
        assert_eq!(at(ObsId::USERS, week), None);
        assert_eq!(at(ObsId::LOADAVG, week), Some(1.5));
        assert_eq!(
            at(ObsId::LOADAVG, week + table::WEEK_SECONDS),
            None,
            "a week old"
        );
    }

    #[test]
    fn save_load_is_bit_exact_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateDir::new(dir.path());
        assert!(History::load(&mut store).unwrap().is_none());
        let mut h = History::default();
        let mut row = Row::EMPTY;
        row.t = 1_704_069_300;
        row.values[3] = round24(std::f32::consts::PI);
        row.anomalous = 1 << 127;
        encode_row(&row, &mut h.rows[7]);
        h.save(&mut store).unwrap();
        let p = dir.path().join(FILE);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), ENCODED_LEN as u64);
        let back = History::load(&mut store).unwrap().unwrap();
        assert!(back.rows == h.rows, "rows differ after a save and a load");
        let got = back.row(7);
        assert_eq!((got.t, got.anomalous), (row.t, row.anomalous));
        let pi = round24(std::f32::consts::PI);
        assert_eq!(
            back.recent_value(7, ObsId::DISKFREE, row.t),
            Some((pi, row.t, false))
        );
        assert_eq!(back.recent_value(7, ObsId::USERS, row.t), None);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[1000] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let e = History::load(&mut store).err().unwrap();
        assert!(e.to_string().contains("checksum"), "{e}");
        std::fs::write(&p, &bytes[..100]).unwrap();
        let e = History::load(&mut store).err().unwrap();
        assert!(e.to_string().contains("shorter than 822576"), "{e}");
    }
}
