//! The process's heap: glibc malloc tuned so that an idle node gives back what
//! a burst of work (an ingest, a large find) left behind.
//!
//! Measured on a node that had just stored 10,000 small instances: glibc held
//! 54 MiB of heap of which 30 MiB were free chunks, spread over up to 16 arenas
//! (glibc creates one per thread that meets a locked arena, up to 8 per core;
//! the ingest runs on dozens of blocking threads) and never returned: glibc
//! only gives back the top of each heap, and freed memory sits below live
//! blocks. Two measures, both process-wide (the binary calls them, tests
//! running several nodes in one process do not):
//!
//! - [`limit_arenas`]: at most [`ARENAS`] arenas, so freed memory is reused by
//!   the next thread instead of stranded in an arena that thread never uses;
//! - [`spawn_idle_trim`]: once the process has been quiet for a second after
//!   some work, the hooks registered with [`on_idle`] run (the index flushes
//!   its memtables: `index::store::flush_idle`), then `malloc_trim(0)` returns
//!   every free page of every arena to the system (`madvise(MADV_DONTNEED)`:
//!   the address space stays, the resident memory goes).
//!
//! `MALLOC_ARENA_MAX` in the environment (glibc's own knob) wins over
//! [`ARENAS`]. Other C libraries (musl) have their own allocator: both are
//! no-ops there.

use std::sync::Mutex;
use std::time::Duration;

/// Most malloc arenas of the process (glibc's default: 8 per core).
pub const ARENAS: i32 = 4;
/// How often the trimming thread looks at the process's CPU time.
const TICK: Duration = Duration::from_secs(1);
/// CPU time (user + system, all threads) under which a tick counts as quiet.
const QUIET_CPU: Duration = Duration::from_millis(20);
/// CPU time since the last trim above which there may be something to give back.
const WORK_CPU: Duration = Duration::from_millis(100);

/// What runs when the process goes quiet; a hook returning `false` is dropped.
type IdleHook = Box<dyn FnMut() -> bool + Send>;

/// The registered idle hooks.
struct IdleHooks(Mutex<Vec<IdleHook>>);

impl IdleHooks {
    fn add(&self, hook: IdleHook) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(hook);
    }

    fn run(&self) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain_mut(|hook| hook());
    }
}

static IDLE_HOOKS: IdleHooks = IdleHooks(Mutex::new(Vec::new()));

/// Registers `hook` to run, on the trimming thread, each time the process goes
/// quiet after some work, before the heap is trimmed; it is dropped the first
/// time it returns `false` (what it releases memory of is gone). Hooks only run
/// in a process that called [`spawn_idle_trim`].
pub fn on_idle(hook: impl FnMut() -> bool + Send + 'static) {
    IDLE_HOOKS.add(Box::new(hook));
}

/// Runs the idle hooks (dropping the finished ones), then gives the free heap
/// pages back to the system.
pub fn release_idle_memory() {
    IDLE_HOOKS.run();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the arenas' locks itself.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Caps the number of malloc arenas at [`ARENAS`], unless `MALLOC_ARENA_MAX`
/// is set. Call it first thing in `main`, before any thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets a parameter of the allocator.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        }
    }
}

/// Starts the thread that returns free heap pages to the system once the
/// process goes quiet after some work (see the module header).
pub fn spawn_idle_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("idle-trim".into())
            .spawn(idle_trim_loop);
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the heap trimming thread");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn idle_trim_loop() {
    let mut last = cpu_time();
    let mut since_trim = Duration::ZERO;
    loop {
        std::thread::sleep(TICK);
        let now = cpu_time();
        let used = now.saturating_sub(last);
        last = now;
        since_trim += used;
        if used < QUIET_CPU && since_trim > WORK_CPU {
            release_idle_memory();
            tracing::debug!("idle: memtables flushed, free heap pages returned to the system");
            // What the release itself cost is not new work.
            last = cpu_time();
            since_trim = Duration::ZERO;
        }
    }
}

/// CPU time of the whole process so far (every thread, user and system).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn idle_hooks_run_until_they_are_done() {
        // Not the process-wide hooks: those of the indexes other tests open.
        let hooks = IdleHooks(Mutex::new(Vec::new()));
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        // Runs twice, then says it is done.
        hooks.add(Box::new(move || counter.fetch_add(1, Ordering::SeqCst) < 1));
        for _ in 0..3 {
            hooks.run();
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
