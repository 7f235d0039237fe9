//! A synthetic week on a home router, as a pure function of time: what each observable
//! reads at epoch `t`. Daily profiles per hour (busier evenings, quieter weekends) plus a
//! deterministic jitter hashed from `t`, so the run is the same on every machine and a
//! sample can be recomputed at will.

use homeostat_core::stats::{ObsId, Sample};

/// The agent's sampling interval (`[monitor] interval = "150s"`): two samples a slot.
pub const INTERVAL: i64 = 150;
pub const DAY: i64 = 86_400;
pub const WEEK: i64 = 7 * DAY;

/// The observables the router reports, by their built-in names.
pub const WATCHED: [&str; 6] = [
    "rootprocs",
    "otherprocs",
    "loadavg",
    "www_in",
    "ssh_in",
    "dns_out",
];

/// Per hour of the day: web connections to the router's portal, DNS queries forwarded.
const WWW: [u8; 24] = [
    4, 3, 2, 2, 2, 3, 6, 10, 14, 16, 16, 15, 18, 16, 15, 16, 20, 28, 36, 44, 48, 44, 30, 12,
];
const DNS: [u8; 24] = [
    20, 14, 10, 8, 8, 10, 22, 40, 52, 56, 56, 54, 60, 56, 54, 56, 64, 76, 88, 96, 100, 92, 70, 40,
];

/// A 32-bit mix of `t` and `salt` (splitmix32-style), the source of all jitter.
fn mix(t: i64, salt: u32) -> u32 {
    let mut x = (t as u64 as u32) ^ ((t as u64 >> 32) as u32) ^ salt.wrapping_mul(0x9e37_79b9);
    x = (x ^ (x >> 16)).wrapping_mul(0x7feb_352d);
    x = (x ^ (x >> 15)).wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// Uniform jitter in `-spread..=spread`.
fn jitter(t: i64, salt: u32, spread: u32) -> f32 {
    (mix(t, salt) % (2 * spread + 1)) as f32 - spread as f32
}

/// Seconds into the day and whether it is a weekend, for epoch `t` (UTC, as the slots).
fn clock(t: i64) -> (i64, bool) {
    let since_monday = (t - 4 * DAY).rem_euclid(WEEK);
    (since_monday % DAY, since_monday / DAY >= 5)
}

/// The hourly `profile` at `secs` into the day, linear between the hours.
fn profile(p: &[u8; 24], secs: i64) -> f32 {
    let (h, into) = ((secs / 3600) as usize, (secs % 3600) as f32 / 3600.0);
    let (a, b) = (p[h] as f32, p[(h + 1) % 24] as f32);
    a + (b - a) * into
}

/// The normal value of observable `i` of [`WATCHED`] at `t`.
pub fn normal(i: usize, t: i64) -> f32 {
    let (secs, weekend) = clock(t);
    let busy = |p: &[u8; 24]| profile(p, secs) * if weekend { 1.25 } else { 1.0 };
    let salt = i as u32 + 1;
    match i {
        0 => 38.0 + jitter(t, salt, 1),
        1 => 7.0 + jitter(t, salt, 2),
        2 => 0.1 + 0.05 * (jitter(t, salt, 2) + 2.0),
        3 => libm::roundf(busy(&WWW) * (1.0 + 0.03 * jitter(t, salt, 2))),
        // the admin, now and then
        4 => {
            if mix(t, salt).is_multiple_of(97) {
                1.0
            } else {
                0.0
            }
        }
        _ => libm::roundf(busy(&DNS) + jitter(t, salt, 3)),
    }
}

/// The ids of [`WATCHED`].
pub fn ids() -> [ObsId; 6] {
    WATCHED.map(|n| ObsId::builtin(n).unwrap_or(ObsId::USERS))
}

/// Fills `s` with the normal values at `t`.
pub fn normal_sample(s: &mut Sample, ids: &[ObsId; 6], t: i64) {
    s.clear();
    for (i, id) in ids.iter().enumerate() {
        s.set(*id, normal(i, t));
    }
}
