//! Progress of long jobs: a bar on a terminal, a line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a progress line is printed when stderr is not a terminal.
const LINE_INTERVAL: Duration = Duration::from_secs(5);

/// Reports progress towards `total` units (bytes of a log, blocks of a store).
pub struct Reporter {
    bar: Option<ProgressBar>,
    last_line: Instant,
    total: u64,
}

impl Reporter {
    /// A reporter; `quiet` shows nothing.
    pub fn new(total: u64, unit: &str, quiet: bool) -> Reporter {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let template = format!("{{elapsed_precise}} [{{bar:40}}] {{percent}}% of {unit}  {{msg}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        let last_line = if quiet { Instant::now() + Duration::from_secs(u64::from(u32::MAX)) } else { Instant::now() };
        Reporter { bar, last_line, total }
    }

    /// Progress: `done` of the total, and a message (what has been verified).
    pub fn update(&mut self, done: u64, message: impl FnOnce() -> String) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(message());
        } else if self.last_line.elapsed() >= LINE_INTERVAL {
            self.last_line = Instant::now();
            let percent = u128::from(done) * 100 / u128::from(self.total.max(1));
            eprintln!("progress: {percent}% {}", message());
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
