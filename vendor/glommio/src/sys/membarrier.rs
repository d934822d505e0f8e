// corral's patch of glommio 0.9.0 (see vendor/glommio/CORRAL-PATCH.md).
//
// The upstream file issued `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`
// as the "heavy" side of an asymmetric fence each time an executor was
// about to sleep, so that remote producers could get away with a compiler
// fence. That syscall interrupts every CPU that runs a thread of the
// process; on a VM each interrupt is a VM exit, and under a pipelined load
// the executors sleep thousands of times a second. Here both sides use a
// `SeqCst` fence instead: the sleeper fences between publishing that it
// sleeps and re-checking its channels, and every producer fences between
// publishing its message and reading the sleeper's flag (`light`, called
// from `SleepNotifier::notify`). Two `SeqCst` fences order the two
// store-then-load sequences, so at least one side sees the other's store:
// a message is never left behind a sleeping executor.
use core::sync::atomic;

/// The producer's fence: after a message is published, before the
/// consumer's "sleeping" flag is read.
#[inline]
pub(crate) fn light() {
    atomic::fence(atomic::Ordering::SeqCst);
}

/// The sleeper's fence: after its "sleeping" flag is set, before its
/// channels are checked for the last time.
#[inline]
pub(crate) fn heavy() {
    atomic::fence(atomic::Ordering::SeqCst);
}
