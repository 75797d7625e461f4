use clap::Parser;

/// glibc malloc's arenas, at most (`MALLOC_ARENA_MAX` overrides): see `engram_malloc`.
const MALLOC_ARENAS: usize = 2;
/// Allocations of this size or more are mapped on their own (`MALLOC_MMAP_THRESHOLD_`
/// overrides): see `engram_malloc::fix_mmap_threshold`, OPERATIONS.md "Soak > The allocator".
const MALLOC_MMAP_THRESHOLD: usize = 256 << 10;

fn main() -> std::process::ExitCode {
    // Before any other thread exists (the runtime's, the stores'): arenas made earlier are kept.
    engram_malloc::cap_arenas(MALLOC_ARENAS);
    engram_malloc::fix_mmap_threshold(MALLOC_MMAP_THRESHOLD);
    let cli = engram_server::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("engram: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        // The OTLP exporters' gRPC channels need the runtime.
        let telemetry = engram_server::cli::init_telemetry(&cli)?;
        let outcome = engram_server::cli::run(cli).await;
        telemetry.shutdown();
        outcome
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("engram: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
