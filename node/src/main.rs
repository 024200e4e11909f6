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
    match parlend_node::cli::main(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
