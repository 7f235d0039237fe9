//! The learner on the board: the full week table in `.bss`, a synthetic week fed through
//! `Learner::sample` (the call the agent makes every 150 s) with a clock the demo advances,
//! then a Monday with a flood (a spike) and a leap (a step that stays).

use core::fmt;
use core::mem::size_of;

use homeostat_core::classes::ClassSet;
use homeostat_core::digest::{Algorithm, Hasher};
use homeostat_core::feed::Clock;
use homeostat_core::stats::{
    persist, table, Kind, Learner, ObsId, Outcome, Report, Sample, DEFAULT_FORGET_RATE,
};
use static_cell::{ConstStaticCell, StaticCell};

use crate::net::Seen;
use crate::out::{say, Milli};
use crate::week::{self, DAY, INTERVAL, WEEK};
use crate::{Rtc, Verdict};

/// All zero, so it lands in `.bss` and costs no flash.
static TABLE: ConstStaticCell<table::Table> = ConstStaticCell::new(table::zeroed());
/// Not all zero (forget rate, LDT limits): built in place at run time, so it does not sit
/// in `.data` (which would cost its size in flash too).
static LEARNER: StaticCell<Learner> = StaticCell::new();
static REPORT: StaticCell<Report> = StaticCell::new();
static SAMPLE: StaticCell<Sample> = StaticCell::new();

/// The flood: the minutes of Monday it lasts (two samples).
const FLOOD: core::ops::Range<i64> = 20 * 60..20 * 60 + 5;
/// The leap: from this minute of Monday on, DNS queries triple and stay.
const LEAP: i64 = 22 * 60;
const LEAP_FACTOR: f32 = 3.0;
/// Weeks learned before the events.
const WEEKS: i64 = 3;

/// Persistent classes raised, by kind.
#[derive(Default)]
struct Tally {
    anomaly: u32,
    dev2: u32,
    micro: u32,
    ldt: u32,
}

impl Tally {
    fn add(&mut self, report: &Report) {
        for (_, o) in report.iter() {
            for k in o.classes.raised().iter() {
                match k {
                    Kind::Anomaly(_) => self.anomaly += 1,
                    Kind::Dev2(_) => self.dev2 += 1,
                    Kind::Microanomaly(_) => self.micro += 1,
                    Kind::Ldt(_) => self.ldt += 1,
                }
            }
        }
    }
}

/// `Mon 20:00:00` for an epoch second (UTC).
struct When(i64);

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let s = (self.0 - table::FIRST_MONDAY).rem_euclid(WEEK);
        let (d, h, m, sec) = (s / DAY, s % DAY / 3600, s % 3600 / 60, s % 60);
        write!(f, "{} {h:02}:{m:02}:{sec:02}", DAYS[d as usize])
    }
}

/// The class names of one outcome, space-separated.
struct Names<'a>(&'a Outcome, &'a str);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in self.0.classes.names(self.1) {
            write!(f, " {}", n.as_str())?;
        }
        Ok(())
    }
}

fn tell(learner: &Learner, report: &Report, id: ObsId, t: i64) {
    let name = learner.registry().name(id).unwrap_or("?");
    if let Some(o) = report.get(id) {
        say!(
            "{} {} = {} (expect {} ± {}, local {}):{}",
            When(t),
            name,
            Milli(o.value),
            Milli(o.expect),
            Milli(o.stddev),
            Milli(o.local_expect),
            Names(o, name)
        );
    }
}

fn has(report: &Report, learner: &Learner, id: ObsId, class: &str) -> bool {
    let name = learner.registry().name(id).unwrap_or("?");
    report
        .get(id)
        .is_some_and(|o| o.classes.names(name).any(|n| n.as_str() == class))
}

fn alive(learner: &Learner, now: i64, class: &str) -> bool {
    learner.persistent_names(now).any(|n| n.as_str() == class)
}

/// Runs the week and the Monday after, from the time `clock` reads, moving it on one
/// sample interval at a time; `flood` is the connection table's verdict at the
/// flood, `rule` the class expression from the configuration. The classes of the flood
/// sample end up in `classes`.
#[inline(never)] // keeps each part's stack frame apart from the others'
pub fn run(v: &mut Verdict, clock: &Rtc, flood: &Seen, rule: &str, classes: &mut ClassSet<32>) {
    say!(
        "-- learning: a synthetic week of the router, a sample every {} s",
        INTERVAL
    );
    let table = TABLE.take();
    let learner = LEARNER.init_with(|| Learner::new(DEFAULT_FORGET_RATE));
    let report = REPORT.init_with(Report::new);
    let sample = SAMPLE.init_with(Sample::new);
    say!(
        "table {} B in .bss at {:#010x}; learner {} B, report {} B, static too",
        size_of::<table::Table>(),
        table.as_ptr() as usize,
        size_of::<Learner>(),
        size_of::<Report>()
    );
    v.expect(
        "the table is 2,064,384 bytes",
        size_of::<table::Table>() == 2_064_384,
    );
    let ids = week::ids();
    let [_, _, _, www, _, dns] = ids;

    // The week, three times over (with fresh jitter): after one pass each slot has seen
    // only two samples, and the table is still young.
    let boot = clock.now();
    for n in 1..=WEEKS {
        let mut tally = Tally::default();
        while clock.now() < boot + n * WEEK {
            let t = clock.now();
            week::normal_sample(sample, &ids, t);
            learner.sample(table, t, sample, report);
            tally.add(report);
            clock.advance(INTERVAL);
        }
        say!(
            "week {}{}: {} samples of {} observables; raised {} anomaly, {} dev2, {} microanomaly, {} ldt",
            n,
            if n == 1 { " (young table)" } else { "" },
            WEEK / INTERVAL,
            ids.len(),
            tally.anomaly,
            tally.dev2,
            tally.micro,
            tally.ldt
        );
        if n == WEEKS {
            v.expect("a learned week raises no anomaly", tally.anomaly == 0);
        }
    }

    // The Monday after.
    let monday = clock.now();
    let mut quiet = Tally::default();
    let mut flood_seen = false;
    while clock.now() < monday + DAY {
        let t = clock.now();
        let minute = (t - monday) / 60;
        week::normal_sample(sample, &ids, t);
        let flooding = FLOOD.contains(&minute);
        if flooding {
            sample.set(www, flood.connections as f32);
        }
        if minute >= LEAP {
            sample.set(dns, LEAP_FACTOR * week::normal(5, t));
        }
        learner.sample(table, t, sample, report);
        if minute < FLOOD.start {
            quiet.add(report);
        }
        if flooding && !flood_seen {
            flood_seen = true;
            say!(
                "{} to {}: {} anomaly",
                When(monday),
                When(t - INTERVAL),
                quiet.anomaly
            );
            v.expect("Monday is quiet until the flood", quiet.anomaly == 0);
            say!("{} the flood arrives", When(t));
            tell(learner, report, www, t);
            for (id, o) in report.iter() {
                for n in o.classes.names(learner.registry().name(id).unwrap_or("?")) {
                    let _ = classes.insert(n.as_str());
                }
            }
            let _ = classes.insert(flood.class.as_str());
            say!(
                "  and its sources: entropy {} -> {}",
                Milli(flood.entropy),
                flood.class.as_str()
            );
            v.expect(
                "the flood is www_in_high_anomaly",
                has(report, learner, www, "www_in_high_anomaly"),
            );
            let fired = classes.eval(rule).unwrap_or(false);
            if fired {
                say!("rule `{}` fires:", rule);
                say!("  LOW ENTROPY incident: {} connections", flood.connections);
            }
            v.expect("the router's rule fires on the flood", fired);
        }
        if minute == FLOOD.end + 5 {
            let still = alive(learner, t, "www_in_high_anomaly");
            say!(
                "{} www_in is back to normal; www_in_high_anomaly {}",
                When(t),
                if still {
                    "persists (10 minutes)"
                } else {
                    "is gone"
                }
            );
            v.expect("the anomaly class persists 10 minutes", still);
        }
        if minute == FLOOD.end + 10 {
            v.expect(
                "the anomaly class expires after 10 minutes",
                !alive(learner, t, "www_in_high_anomaly"),
            );
        }
        if minute == LEAP {
            say!(
                "{} DNS queries triple and stay (a LAN device starts beaconing)",
                When(t)
            );
            tell(learner, report, dns, t);
            v.expect(
                "the leap is dns_out_high_ldt",
                has(report, learner, dns, "dns_out_high_ldt"),
            );
            v.expect(
                "the leap is dns_out_high_anomaly",
                has(report, learner, dns, "dns_out_high_anomaly"),
            );
        }
        clock.advance(INTERVAL);
    }
    let t = clock.now();
    say!(
        "{} two hours on, the new level starts to look normal",
        When(t - INTERVAL)
    );
    tell(learner, report, dns, t - INTERVAL);
    v.expect("the week and the Monday were all sampled", flood_seen);

    // What a restart would read back: the persisted state, streamed through SHA-256.
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut len = 0usize;
    let _ = persist::encode_with(learner, table, |chunk: &[u8]| -> Result<(), ()> {
        h.update(chunk);
        len += chunk.len();
        Ok(())
    });
    say!(
        "state: {} B to persist after {} samples, {}",
        len,
        learner.age(),
        h.finalize()
    );
    v.expect("the state is its fixed size", len == persist::ENCODED_LEN);
}
