//! Shared by corral's fuzz targets: an allocator that turns an allocation
//! over the bound into a crash, and the entry point every target uses.
//!
//! A decoder fed at most [`MAX_INPUT`] bytes must never hold more than
//! [`ALLOC_LIMIT`] bytes of heap at once (a length or count field that
//! drives an allocation is the bug this catches; AFL's `-m` only sees the
//! address space). `CORRAL_FUZZ_ALLOC_MB` changes the bound.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest input the fuzzers make (`afl-fuzz -G`, in scripts/fuzz.sh).
pub const MAX_INPUT: usize = 64 * 1024;

/// Default bound on the heap a target may hold at once, in bytes.
pub const ALLOC_LIMIT: usize = 128 << 20;

static LIMIT: AtomicUsize = AtomicUsize::new(ALLOC_LIMIT);
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts live heap bytes; aborts (a crash for AFL) past the bound.
pub struct Bounded;

fn over(size: usize) -> ! {
    let _ = writeln!(
        std::io::stderr(),
        "corral-fuzz: allocation of {size} bytes takes the heap over the bound of {} bytes",
        LIMIT.load(Ordering::Relaxed)
    );
    std::process::abort()
}

unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        if live > LIMIT.load(Ordering::Relaxed) {
            over(l.size());
        }
        // SAFETY: forwarded as given.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        if live > LIMIT.load(Ordering::Relaxed) {
            over(l.size());
        }
        // SAFETY: forwarded as given.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            let grow = new - l.size();
            let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
            if live > LIMIT.load(Ordering::Relaxed) {
                over(new);
            }
        } else {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        // SAFETY: forwarded as given.
        unsafe { System.realloc(p, l, new) }
    }
}

/// Reads `CORRAL_FUZZ_ALLOC_MB`; call once before fuzzing.
pub fn init() {
    if let Some(mb) = std::env::var("CORRAL_FUZZ_ALLOC_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        LIMIT.store(mb << 20, Ordering::Relaxed);
    }
}

/// Declares a target: the bounded allocator, then `afl::fuzz!` over `$f`
/// (persistent mode; a panic aborts, which AFL records as a crash).
#[macro_export]
macro_rules! target {
    ($f:expr) => {
        #[global_allocator]
        static ALLOC: corral_fuzz::Bounded = corral_fuzz::Bounded;
        fn main() {
            corral_fuzz::init();
            afl::fuzz!(|data: &[u8]| {
                if data.len() <= corral_fuzz::MAX_INPUT {
                    ($f)(data);
                }
            });
        }
    };
}

/// Splits off the first byte (a selector most targets use).
pub fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => (0, data),
    }
}
