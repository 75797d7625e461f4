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
//! time. What glibc keeps beyond the live heap still grew within a lifetime: free memory inside
//! the arenas, in chunks between live ones, which glibc hands back to the system only from an
//! arena's top. [`spawn_trimmer`] calls `malloc_trim(0)` periodically, which also returns the
//! free pages inside the arenas (same section, "Trimming").

use std::time::{Duration, Instant};

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

/// Fixes glibc malloc's mmap threshold at `bytes`, unless the operator set
/// `MALLOC_MMAP_THRESHOLD_` (or `GLIBC_TUNABLES`): every allocation of at least that size is
/// mapped on its own and unmapped when freed. glibc's default threshold moves: each large block
/// freed raises it to that block's size (up to 32 MiB), after which such blocks come from the
/// arenas, where a transient one (the full-text index's per-commit term table and arena pages,
/// a merge's buffers) leaves resident free memory behind among live blocks. Fixing it also fixes
/// the trim threshold (mallopt(3)); [`spawn_trimmer`] returns free memory anyway. Returns whether
/// the threshold was set; elsewhere than on glibc it does nothing and returns false.
pub fn fix_mmap_threshold(bytes: usize) -> bool {
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() || std::env::var_os("GLIBC_TUNABLES").is_some() {
        return false;
    }
    set_mmap_threshold(bytes)
}

/// What one trim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    /// Whether glibc returned any memory to the system.
    pub released: bool,
    /// How long the call took (it holds each arena's lock in turn).
    pub took: Duration,
    /// The heap right after the trim, where glibc tells it.
    pub heap: Option<Heap>,
}

/// glibc malloc's own account of its heap (`mallinfo2(3)`), over every arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heap {
    /// Bytes in allocated blocks: what the process holds, blocks served by their own `mmap`
    /// included.
    pub in_use: u64,
    /// Bytes in free blocks that malloc keeps for reuse. A trim returns their whole pages to the
    /// system but they are still counted here, so this is an upper bound of what they cost in RSS.
    pub free: u64,
    /// Of `in_use`, the bytes in blocks served by their own `mmap` (large allocations).
    pub mmapped: u64,
}

/// glibc malloc's account of its heap now; `None` elsewhere than on glibc. It walks every arena's
/// free lists under the arena's lock, like a trim: call it now and then, not per request.
pub fn heap() -> Option<Heap> {
    heap_info()
}

/// Starts a thread (`engram-malloc-trim`) that calls `malloc_trim(0)` every `every` and hands
/// each result to `report`, for as long as the process runs. Returns `Ok(false)` without a thread
/// where there is nothing to trim (not glibc, or `every` is zero).
pub fn spawn_trimmer(every: Duration, mut report: impl FnMut(Trim) + Send + 'static) -> std::io::Result<bool> {
    if every.is_zero() || !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return Ok(false);
    }
    std::thread::Builder::new().name("engram-malloc-trim".into()).spawn(move || {
        loop {
            std::thread::sleep(every);
            report(trim());
        }
    })?;
    Ok(true)
}

/// Returns the free memory of every arena to the system that can be: the top of each arena and
/// the whole free pages inside it (glibc 2.8 and later).
pub fn trim() -> Trim {
    let started = Instant::now();
    let released = release_free_memory();
    let took = started.elapsed();
    Trim { released, took, heap: heap() }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn heap_info() -> Option<Heap> {
    // SAFETY: mallinfo2 takes nothing and returns a struct of counters by value; it only reads
    // malloc's state under each arena's lock (glibc 2.33 and later; mallinfo(3)).
    let info = unsafe { libc::mallinfo2() };
    let bytes = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    Some(Heap {
        in_use: bytes(info.uordblks).saturating_add(bytes(info.hblkhd)),
        free: bytes(info.fordblks),
        mmapped: bytes(info.hblkhd),
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_info() -> Option<Heap> {
    None
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_free_memory() -> bool {
    // SAFETY: malloc_trim takes an integer (the padding to keep at an arena's top) and only
    // changes which of malloc's free pages stay mapped; it is safe to call from any thread at any
    // time (malloc_trim(3)). It returns 1 when memory was released, 0 otherwise.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() -> bool {
    false
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

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_mmap_threshold(bytes: usize) -> bool {
    let bytes = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes two integers and only changes malloc's parameters; M_MMAP_THRESHOLD
    // with a value up to 32 MiB is a documented use (mallopt(3)). It returns 1 on success.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, bytes) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_mmap_threshold(_bytes: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    /// Held by the tests that compare the mapped bytes before and after a large block (`cargo
    /// test` runs them on threads of one process).
    static LARGE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn the_cap_is_accepted_by_glibc() {
        // The test harness may run with MALLOC_ARENA_MAX set; then the operator's value wins.
        let operator = std::env::var_os("MALLOC_ARENA_MAX").is_some() || std::env::var_os("GLIBC_TUNABLES").is_some();
        assert_eq!(super::cap_arenas(2), !operator);
        assert!(super::set_arena_max(2));
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_trim_returns_the_free_pages_inside_an_arena() {
        // Free memory between live blocks: glibc keeps it mapped until a trim releases its pages.
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|_| vec![1u8; 16 * 1024]).collect();
        for block in blocks.iter_mut().step_by(2) {
            *block = Vec::new();
        }
        let trim = super::trim();
        assert!(trim.released, "32 MiB freed between live blocks, and nothing was released");
        // The freed half is still malloc's free memory (its pages returned), the other half live.
        let heap = trim.heap.expect("glibc reports its heap");
        assert!(heap.in_use >= 32 << 20, "{heap:?}: 32 MiB of live blocks");
        assert!(heap.free >= 30 << 20, "{heap:?}: 32 MiB of free blocks between them");
        assert!(blocks.iter().skip(1).step_by(2).all(|block| block.iter().all(|&b| b == 1)));
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_fixed_mmap_threshold_maps_every_large_block() {
        let operator =
            std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() || std::env::var_os("GLIBC_TUNABLES").is_some();
        let _large = LARGE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(super::fix_mmap_threshold(256 << 10), !operator);
        if operator {
            return;
        }
        // A 1 MiB block freed would raise glibc's moving threshold to 1 MiB, and the next one
        // would come from an arena; with the threshold fixed, every one is mapped on its own.
        for _ in 0..3 {
            let before = super::heap().unwrap();
            let block = std::hint::black_box(vec![1u8; 1 << 20]);
            let during = super::heap().unwrap();
            assert!(during.mmapped >= before.mmapped + (1 << 20), "{before:?} -> {during:?}");
            drop(block);
        }
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn the_heap_counts_what_is_allocated() {
        // 64 MiB is above glibc's largest mmap threshold (32 MiB): a block of its own, counted as
        // in use and mapped.
        let _large = LARGE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = super::heap().unwrap();
        let block = std::hint::black_box(vec![7u8; 64 << 20]);
        let during = super::heap().unwrap();
        assert!(during.mmapped >= before.mmapped + (64 << 20), "{before:?} -> {during:?}");
        assert!(during.in_use >= during.mmapped, "{during:?}");
        drop(block);
        let after = super::heap().unwrap();
        assert!(after.mmapped + (64 << 20) <= during.mmapped, "{during:?} -> {after:?}");
    }

    #[test]
    fn the_trimmer_reports_every_interval() {
        let (sender, receiver) = std::sync::mpsc::channel();
        let started = super::spawn_trimmer(std::time::Duration::from_millis(10), move |trim| {
            let _ = sender.send(trim);
        })
        .unwrap();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(started);
            for _ in 0..3 {
                receiver.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
            }
        } else {
            assert!(!started);
        }
        assert!(!super::spawn_trimmer(std::time::Duration::ZERO, |_| {}).unwrap());
    }
}
