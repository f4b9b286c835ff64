use std::process::ExitCode;

/// mimalloc rather than the system allocator: every event allocates a few dozen small strings
/// on one thread and frees them on another (the writer), the pattern glibc's malloc handles
/// worst; in the ingest profile it was a sixth of the server's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    leadsment::cli::main()
}
