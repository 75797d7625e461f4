//! The allocator settings of the `engram` process, applied by `main` before any other thread
//! starts.
//!
//! The server uses the system allocator (glibc malloc on Linux). glibc gives each thread that
//! contends for a lock an arena of its own, up to 8 per core, and an arena keeps the memory freed
//! into it. The server's threads (tokio workers, the blocking pool, the SQLite readers and writer,
//! the full-text indexer) allocate and free in turns, so with the default the memory held grew
//! with the number of threads that had ever allocated. [`cap_arenas`] caps the arenas; the
//! per-thread caches (tcache) keep small allocations off the arena locks. Measured with the soak
//! (OPERATIONS.md "Soak > The allocator"): RssAnon 93 to 124 MiB with 2 arenas, where mimalloc
//! (the previous global allocator) held 222 to 289 MiB under the same load, for the same CPU
//! time. What glibc keeps beyond the live heap still grows within a lifetime (same section).

/// Caps glibc malloc's arenas at `max`, unless the operator set `MALLOC_ARENA_MAX` (or
/// `GLIBC_TUNABLES`), which glibc applied before `main`. Call it before starting threads: arenas
/// created before the call are kept. Returns whether the cap was set. Elsewhere than on glibc it
/// does nothing and returns false.
pub fn cap_arenas(max: usize) -> bool {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() || std::env::var_os("GLIBC_TUNABLES").is_some() {
        return false;
    }
    set_arena_max(max)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max(max: usize) -> bool {
    let max = libc::c_int::try_from(max.max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes two integers and only changes malloc's parameters; M_ARENA_MAX with a
    // positive value is a documented use (mallopt(3)). It returns 1 on success, 0 on error.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, max) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_max: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn the_cap_is_accepted_by_glibc() {
        // The test harness may run with MALLOC_ARENA_MAX set; then the operator's value wins.
        let operator = std::env::var_os("MALLOC_ARENA_MAX").is_some() || std::env::var_os("GLIBC_TUNABLES").is_some();
        assert_eq!(super::cap_arenas(2), !operator);
        assert!(super::set_arena_max(2));
    }
}
