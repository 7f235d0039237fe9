//! One logging macro, two transports (smoltcp's `net_log!`, embassy's `fmt.rs`): semihosting
//! text by default, defmt frames over semihosting with the `defmt` feature.
//!
//! With defmt each line is rendered on the target into a fixed buffer and sent as one
//! `{=str}` frame, so both images tell the same story and CI reads the text one.

#[cfg(not(feature = "defmt"))]
macro_rules! say {
    ($($arg:tt)*) => {
        cortex_m_semihosting::hprintln!($($arg)*)
    };
}

#[cfg(feature = "defmt")]
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut line = heapless::String::<256>::new();
        // A line longer than the buffer is cut short, never dropped.
        let _ = core::fmt::write(&mut line, format_args!($($arg)*));
        defmt::println!("{=str}", line.as_str());
    }};
}

pub(crate) use say;

/// A non-negative `f32` with three decimals, without core::fmt's float code (~15 KB of
/// flash): `Milli(0.1024)` prints `0.102`.
pub struct Milli(pub f32);

impl core::fmt::Display for Milli {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let v = if self.0.is_finite() { self.0 } else { 0.0 };
        let sign = if v < 0.0 { "-" } else { "" };
        let m = libm::roundf(libm::fabsf(v) * 1000.0) as u64;
        write!(f, "{sign}{}.{:03}", m / 1000, m % 1000)
    }
}
