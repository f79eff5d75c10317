//! The server's memory allocator: glibc's malloc with its arenas capped (the default), or one
//! chosen by Cargo feature for comparison (`alloc-jemalloc`, `alloc-mimalloc`; `alloc-system`
//! leaves glibc's malloc as it comes).
//!
//! glibc gives threads that allocate at the same time arenas of their own, up to eight per
//! core, and hands little of an arena back once it is freed: a server whose Tokio workers,
//! blocking threads and SQLite connection threads all allocate can keep several hundred MB it
//! no longer uses after bursts of load; capping them at two (as `MALLOC_ARENA_MAX=2` would)
//! keeps that in check. On this project's load glibc's malloc also used less memory and
//! answered faster than jemalloc and mimalloc (`docs/BENCHMARKS.md`, "Memory under sustained
//! load"), so it stays, capped, rather than being replaced.
//!
//! The global allocator is set here, in the library, so that the binary, the tests and the
//! benchmarks (which run the server in process) all run on the one that ships; the arena cap
//! is set by the binary at start ([`cap_arenas`]).

/// How many malloc arenas the server keeps (`M_ARENA_MAX`), unless `MALLOC_ARENA_MAX` is set.
pub const ARENAS: i32 = 2;

#[cfg(all(feature = "alloc-jemalloc", not(feature = "alloc-system")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(all(feature = "alloc-mimalloc", not(any(feature = "alloc-system", feature = "alloc-jemalloc"))))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator of this build, as `/metrics` names it (`gatehouse_build_info`).
pub const NAME: &str = if cfg!(feature = "alloc-system") {
    "system"
} else if cfg!(feature = "alloc-jemalloc") {
    "jemalloc"
} else if cfg!(feature = "alloc-mimalloc") {
    "mimalloc"
} else if cfg!(all(target_os = "linux", target_env = "gnu")) {
    "glibc, 2 arenas"
} else {
    "system"
};

/// Caps glibc's malloc at [`ARENAS`] arenas, unless the environment sets `MALLOC_ARENA_MAX`
/// (which glibc then applies itself) or another allocator is built in. Call it first thing in
/// `main`, before any thread starts.
pub fn cap_arenas() {
    #[cfg(all(
        target_os = "linux",
        target_env = "gnu",
        not(any(feature = "alloc-system", feature = "alloc-jemalloc", feature = "alloc-mimalloc"))
    ))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // glibc's <malloc.h>: int mallopt(int param, int value); M_ARENA_MAX is -8.
        unsafe extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_ARENA_MAX: std::ffi::c_int = -8;
        // SAFETY: mallopt only sets a tuning parameter of glibc's malloc; it is called before
        // any other thread exists.
        unsafe {
            mallopt(M_ARENA_MAX, ARENAS);
        }
    }
}
