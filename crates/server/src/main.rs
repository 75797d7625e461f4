use clap::Parser;

/// mimalloc returns freed memory to the system promptly; glibc's per-thread arenas kept the
/// server's RSS growing with the number of SQLite worker threads (measured: 341 MB at 10^5).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
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
