//! The `parlend` binary.

use std::io::IsTerminal;

use clap::Parser;
use parlend_node::cli::LogFormat;
use tracing_subscriber::EnvFilter;

// mimalloc keeps freed memory for reuse instead of returning it to the
// kernel: blocks allocate and free megabytes of short-lived buffers, and the
// system allocator's page faults were a measurable share of block time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for
/// them on its arenas and returns freed memory to the kernel in 64 KiB
/// pieces; the next touch of such a piece made the kernel zero a whole
/// 2 MiB page, often on the committer's thread in the middle of a block.
/// Under `bench rpc` transfers that zeroing was 5% of the node's CPU
/// (perf); with huge pages off it is 0.2%, and the node's CPU per
/// transaction is unchanged (4 KiB faults and TLB misses take the
/// difference: 413 against 422 ticks over five alternated runs), but the
/// slowest commits are faster: at 7,000 tx/s offered the largest
/// submit-to-commit latency was 254-265 ms in six runs, against 252-355 ms
/// (five of six above 280).
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(%error, "transparent huge pages stay on");
    }
}

#[cfg(not(target_os = "linux"))]
fn no_transparent_huge_pages() {}

/// A closed stdout (`parlend query block | head -1`) ends the command
/// quietly: `println!` panics on a broken pipe, and that panic is the only
/// one this hook swallows.
fn end_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The log on stderr: `RUST_LOG` filters (default `info`); text has colours
/// only on a terminal; json is one object per line.
fn init_log(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let log = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => log.json().init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    end_quietly_on_closed_stdout();
    let cli = parlend_node::cli::Cli::parse();
    init_log(cli.log_format);
    no_transparent_huge_pages();
    match parlend_node::cli::main(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
