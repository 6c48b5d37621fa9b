//! Allocator settings for the `optgate` binary, and the only crate of the
//! workspace allowed an `unsafe` block: the call to glibc's `mallopt`.
//!
//! Why: by default glibc serves allocations from 128 KiB up (raised
//! dynamically to the largest freed one, at most 32 MiB) with fresh `mmap`s,
//! and gives the top of each arena back to the kernel once 2× that threshold
//! is free. A work unit allocates and frees buffers of a few MiB every batch
//! (decoded columns, scrubbed text, pages to compress), so the kernel kept
//! handing back zeroed pages: 7% of a run's CPU time was page faults
//! (`perf record`, 2M posts). With the thresholds below the freed buffers
//! are reused: measured in `benches/HISTORY.md` (2026-11-30), 7% less wall
//! time for a full run and 10% for the floor, for 5 MiB more peak resident
//! memory.
//!
//! Only the binary calls [`tune`]: a library must not change the allocator
//! of the process it is linked into.

/// Allocations below this come from the arenas, never from `mmap`.
pub const MMAP_THRESHOLD: usize = 64 << 20;
/// Free memory at the top of an arena kept before it is given back.
pub const TRIM_THRESHOLD: usize = 128 << 20;

/// Applies [`MMAP_THRESHOLD`] and [`TRIM_THRESHOLD`], unless the user set
/// `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` (glibc's own
/// variables, which then stay in force), and caps the arenas (see
/// `limit_arenas`). Call first thing in `main`, before any thread starts.
/// Returns whether all of it was applied; always false off glibc.
pub fn tune() -> bool {
    let user_set = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let thresholds = !user_set && set_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD);
    let arenas = limit_arenas();
    thresholds && arenas
}

/// Caps glibc's arenas (the separate heaps it gives threads so that they
/// do not contend) at the number of CPUs, unless the user set
/// `MALLOC_ARENA_MAX`. Part of [`tune`]: it must come before other threads
/// allocate. Returns whether the cap was applied; always false off glibc.
///
/// Why: by default glibc allows eight arenas per CPU, so each worker gets
/// its own, and each keeps what it frees (up to [`TRIM_THRESHOLD`]) for
/// itself. Measured on 2 CPUs (2026-11-30, `benches/HISTORY.md`): the same
/// speed, peak resident memory at 20M posts 124-125 instead of 130 MiB, at
/// 2M 105-108 instead of 99 MiB. With the cap, the main thread and the
/// workers share the arenas; optgate's worker pools start their workers one
/// at a time so that no two workers share one (`worker_pool` in optgate-cli).
fn limit_arenas() -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    std::env::var_os("MALLOC_ARENA_MAX").is_none() && set_arena_max(cpus)
}

fn set_arena_max(arenas: usize) -> bool {
    mallopt(Param::ArenaMax, arenas)
}

fn set_thresholds(mmap: usize, trim: usize) -> bool {
    mallopt(Param::MmapThreshold, mmap) && mallopt(Param::TrimThreshold, trim)
}

/// The `mallopt` parameters this crate sets.
#[derive(Debug, Clone, Copy)]
enum Param {
    MmapThreshold,
    TrimThreshold,
    ArenaMax,
}

/// glibc's `mallopt(param, value)`: whether glibc took the value (false
/// when no C `int` holds it, and always off glibc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn mallopt(param: Param, value: usize) -> bool {
    let param = match param {
        Param::MmapThreshold => libc::M_MMAP_THRESHOLD,
        Param::TrimThreshold => libc::M_TRIM_THRESHOLD,
        Param::ArenaMax => libc::M_ARENA_MAX,
    };
    let Ok(value) = libc::c_int::try_from(value) else {
        return false;
    };
    // SAFETY: `mallopt` only sets an allocator parameter (under the main
    // arena's lock); it touches no memory of ours, and an unaccepted value
    // makes it return 0, nothing else.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::mallopt(param, value) == 1 };
    ok
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn mallopt(_param: Param, _value: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_thresholds() {
        assert!(set_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD));
        // A value no C `int` holds: not applied, and said so.
        assert!(!set_thresholds(usize::MAX, TRIM_THRESHOLD));
        assert!(set_arena_max(2));
        assert!(!set_arena_max(usize::MAX));
    }
}
