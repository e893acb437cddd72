//! Process-wide malloc settings for training speed (glibc only).
//!
//! libtorch's CPU tensors come from malloc. With glibc's defaults, every activation larger
//! than the (dynamic, at most 32 MiB) mmap threshold is a fresh mmap, and freed memory at
//! the heap top is returned to the kernel, so each training step page-faults its
//! activations in again: about 30,000 faults per step for the small CNN at bs 112 and
//! 230,000 for ResNet50 at bs 16 (`perf stat -e page-faults`), 10-25 % of the step.
//! Serving every block from one heap that is never trimmed lets the next step reuse the
//! same pages (docs/benchmarks.md has the figures). `PADS_SYSTEM_MALLOC=1` keeps the defaults.

/// Applies the settings unless `PADS_SYSTEM_MALLOC` is set; returns whether it did.
pub fn tune_for_training() -> bool {
    if std::env::var_os("PADS_SYSTEM_MALLOC").is_some() {
        return false;
    }
    apply()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn apply() -> bool {
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads
    // start allocating and each call is independent.
    unsafe {
        // One arena: the main (brk) heap has no size limit, so with mmap off a large block
        // made on a worker thread (a decoded photo, a loader batch) cannot fail, as it could
        // in a secondary arena's 64 MiB heap; glibc still falls back to mmap if brk fails.
        libc::mallopt(libc::M_ARENA_MAX, 1) == 1
            && libc::mallopt(libc::M_MMAP_MAX, 0) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn apply() -> bool {
    false
}
