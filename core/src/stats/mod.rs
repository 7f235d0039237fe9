//! The learned normal state: what each observable usually is at each five-minute slot of
//! the week, and how far the present lies from it (cf-monitord's algorithm, its defects
//! fixed as docs/cfengine-differences.md lists).
//!
//! # API
//!
//! ```text
//! table::Table = [Row; 2016]            Row = [Pair; 128]   Pair { expect: f32, var: f32 }
//!     table::zeroed() -> Table          const: place it in a static (.bss) on firmware
//!     table::boxed() -> Box<Table>      `alloc`: built in place on the heap
//!     table::slot(t: i64) -> usize      0 = Monday 00:00 UTC … 2015 = Sunday 23:55
//! ObsId                                 0..128: ObsId::builtin("users"), ObsId::new(i)
//! Sample::new(), sample.set(id, x)      the values of one sample; absent ones untouched
//! Report::new(), report.iter()          (ObsId, &Outcome) for each observable sampled
//! Outcome { value, learned, expect, stddev, local_expect, local_stddev, dev, classes }
//! Classes::names(&self, obs) -> impl Iterator<Item = ClassName>
//! Learner::new(forget_rate)             const; ~16 KiB, caller-owned
//!     .sample(&mut self, &mut Table, t: i64, &Sample, &mut Report)   ← the one call
//!     .registry_mut().register("ssh_failed") -> Result<ObsId, RegistryError>
//!     .persistent(now) / .persistent_names(now)   persistent classes alive at `now`
//! persist::encode(&Learner, &Table, &mut [u8]) / encode_with(…, FnMut(&[u8]))
//! persist::decode(&[u8], &mut Learner, &mut Table) -> Result<(), PersistError>
//! persist::write_to / read_from         `std`: io::Write / io::Read
//! ```
//!
//! ```
//! use homeostat_core::stats::{table, Learner, ObsId, Report, Sample, DEFAULT_FORGET_RATE};
//! # fn heap_table() -> Box<table::Table> {
//! #     vec![[table::Pair::ZERO; 128]; 2016].into_boxed_slice().try_into().unwrap()
//! # }
//! let mut table = heap_table(); // table::boxed() with the `alloc` feature
//! let mut learner = Learner::new(DEFAULT_FORGET_RATE);
//! let (mut sample, mut report) = (Sample::new(), Report::new());
//! sample.set(ObsId::USERS, 3.0);
//! learner.sample(&mut table, 1_704_067_200, &sample, &mut report);
//! for (id, o) in report.iter() {
//!     let name = learner.registry().name(id).unwrap_or("?");
//!     for class in o.classes.names(name) {
//!         println!("{name} = {} (expect {} ± {}) {class}", o.value, o.expect, o.stddev);
//!     }
//! }
//! ```
//!
//! Time is the caller's: `t` is the sample's epoch second. Nothing here allocates.

pub mod classify;
pub mod ldt;
pub mod learner;
pub mod observables;
pub mod persist;
pub mod table;

pub use classify::{Band, Classes, Dir, Kind, Kinds, Verdict};
pub use learner::{
    Learner, Outcome, Report, Sample, DEFAULT_FORGET_RATE, FORGET_RATE_MAX, FORGET_RATE_MIN,
    PERSISTENCE,
};
pub use observables::{ObsId, Registry, RegistryError, OBSERVABLES};
pub use persist::{decode, encode, encode_with, PersistError, ENCODED_LEN};
pub use table::{Pair, Table, SLOTS};
