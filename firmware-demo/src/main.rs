//! homeostat's engine on a router-class board: QEMU's mps2-an386 (Cortex-M4F, 4 MiB code
//! SSRAM standing in for flash, RAM cut to the learner's table plus 64 KiB by `memory.x`).
//!
//! It runs the same core the agent runs, with no heap and no allocator linked, and tells
//! what it saw as a short story over semihosting: the tripwire on a configuration blob in
//! flash, source entropy of a connection table, and a synthetic week through the learner.
//! It exits 0 only when every class and finding is the expected one (semihosting
//! `SYS_EXIT_EXTENDED`); a panic exits 101, a HardFault 102.
#![no_std]
#![no_main]

use core::cell::Cell;

use cortex_m as _; // the critical-section implementation (single core)
use cortex_m_rt::{entry, exception, ExceptionFrame};
#[cfg(feature = "defmt")]
use defmt_semihosting as _; // the global defmt logger

mod files;
mod learn;
mod net;
mod out;
mod week;

use homeostat_core::classes::ClassSet;
use homeostat_core::event::Epoch;
use homeostat_core::feed::Clock;
use out::say;

/// The board's clock starts on Monday 2026-11-16 00:00 UTC (slot 0 of the week); the
/// demo advances it itself.
pub const BOOT_EPOCH: i64 = 1_794_787_200;

/// The board's real-time clock, as the core sees it ([`Clock`]). QEMU's board has no RTC
/// worth the name, so the demo sets it at boot and moves it on itself (one sample
/// interval at a time), as a week passing would.
pub struct Rtc {
    t: Cell<Epoch>,
}

impl Rtc {
    /// A clock reading `boot`.
    pub const fn new(boot: Epoch) -> Rtc {
        Rtc { t: Cell::new(boot) }
    }

    /// Moves the clock on by `secs`.
    pub fn advance(&self, secs: i64) {
        self.t.set(self.t.get() + secs);
    }
}

impl Clock for Rtc {
    fn now(&self) -> Epoch {
        self.t.get()
    }
}

/// Counts expectations; only failures are printed, so the story stays readable.
pub struct Verdict {
    checks: u32,
    failures: u32,
}

impl Verdict {
    pub fn expect(&mut self, what: &str, ok: bool) {
        self.checks += 1;
        if !ok {
            self.failures += 1;
            say!("FAIL {}", what);
        }
    }
}

#[entry]
fn main() -> ! {
    say!("homeostat firmware-demo: the core on a Cortex-M4F (QEMU mps2-an386), no heap");
    let mut v = Verdict {
        checks: 0,
        failures: 0,
    };
    let mut classes = ClassSet::<32>::new();
    let clock = Rtc::new(BOOT_EPOCH);

    files::run(&mut v, &clock);
    let flood = net::run(&mut v);
    let rule = files::rule();
    v.expect(
        "the rule is read from the flashed configuration",
        rule.is_some(),
    );
    let rule = rule.unwrap_or("entropy_www_in_low.www_in_high_anomaly");
    learn::run(&mut v, &clock, &flood, rule, &mut classes);

    say!("-- verdict");
    let mut line = heapless::String::<512>::new();
    for c in classes.iter() {
        let _ = line.push_str(" ");
        let _ = line.push_str(c);
    }
    say!("classes at the flood:{}", line.as_str());
    let (used, room) = stack_peak();
    say!(
        "stack: {} B at most, of {} B left above the statics",
        used,
        room
    );
    v.expect("the stack stayed within the RAM budget", used < room);
    say!(
        "firmware-demo: {} checks, {} failures",
        v.checks,
        v.failures
    );
    exit(if v.failures == 0 { 0 } else { 1 })
}

/// (deepest stack use, room for the stack) in bytes. cortex-m-rt painted everything
/// between the statics and the top of RAM with `STACK_PAINT_VALUE` at reset; the lowest
/// word that lost its paint marks the deepest the stack has been.
#[allow(unsafe_code)] // reads the painted stack region by address
fn stack_peak() -> (usize, usize) {
    extern "C" {
        static _stack_end: u32;
        static _stack_start: u32;
    }
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut at = bottom;
    while at < top {
        // SAFETY: `at` is a word-aligned address between the end of .bss and the top of
        // RAM (both from the linker script), memory nothing else references; a volatile
        // read of it has no side effects.
        let word = unsafe { core::ptr::read_volatile(at as *const u32) };
        if word != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        at += 4;
    }
    (top - at, top - bottom)
}

/// Ends the QEMU run with `code` as its exit status.
#[allow(unsafe_code)] // the semihosting call
pub fn exit(code: u32) -> ! {
    // SYS_EXIT_EXTENDED (0x20) with ADP_Stopped_ApplicationExit passes any status;
    // `debug::exit` only knows 0 and 1, and stays as the fallback.
    let block: [u32; 2] = [0x20026, code];
    // SAFETY: a semihosting call with a valid two-word parameter block; QEMU reads it and
    // stops the machine.
    unsafe { cortex_m_semihosting::syscall(0x20, &block) };
    cortex_m_semihosting::debug::exit(if code == 0 { Ok(()) } else { Err(()) });
    loop {
        cortex_m::asm::wfi();
    }
}

// cortex-m-rt requires the HardFault handler to be an `unsafe fn`; its body does nothing
// unsafe.
#[allow(unsafe_code)]
#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    say!("HARDFAULT at pc={:#010x}", ef.pc());
    exit(102)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    say!("PANIC: {}", info);
    exit(101)
}
