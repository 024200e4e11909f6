//! The `parlend` binary.

use clap::Parser;
use tracing_subscriber::EnvFilter;

// mimalloc keeps freed memory for reuse instead of returning it to the
// kernel: blocks allocate and free megabytes of short-lived buffers, and the
// system allocator's page faults were a measurable share of block time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let cli = parlend_node::cli::Cli::parse();
    match parlend_node::cli::main(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
