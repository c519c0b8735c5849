//! The `rates` binary: wiring only; see the library.

/// mimalloc, not glibc's malloc: under distinct queries (runtime/bench/query) glibc's
/// allocator took 14% of the runtime's CPU (malloc, free and malloc_consolidate in
/// `perf`), in a service whose requests allocate small, short-lived buffers on two
/// threads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rates::run::main()
}
