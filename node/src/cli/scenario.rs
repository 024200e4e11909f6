//! `parlend scenario run`: run scenario files against fresh in-process chains.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use parlend_sim::scenario::{Scenario, ScenarioOptions, run};

/// `parlend scenario` arguments.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ScenarioCommand,
}

/// `parlend scenario` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Run scenarios (TOML or JSON; see docs/scenarios.md), each on a fresh chain; print pass or fail per step.
    Run {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Save each scenario's chain as a log, DIR/<name>.plog, for `parlend replay`, and its final hashes in
        /// DIR/MANIFEST.toml (this is how tests/golden/ is regenerated).
        #[arg(long, value_name = "DIR")]
        save_log: Option<PathBuf>,
        /// Executor threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print only failed steps and the verdicts.
        #[arg(long)]
        quiet: bool,
    },
}

/// `parlend scenario`.
pub fn main(args: ScenarioArgs) -> anyhow::Result<()> {
    let ScenarioCommand::Run { files, save_log, threads, quiet } = args.command;
    if let Some(dir) = &save_log {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut failed = Vec::new();
    for path in &files {
        let scenario = Scenario::load(path)?;
        let outcome = run(&scenario, &ScenarioOptions { threads })?;
        let report = &outcome.report;
        if quiet {
            for step in report.steps.iter().filter(|step| !step.passed()) {
                println!("{}: FAIL step {} {}", report.name, step.number, step.name);
                for difference in &step.differences {
                    println!("    {difference}");
                }
            }
            println!("{}: {}", report.name, if report.passed() { "PASSED" } else { "FAILED" });
        } else {
            println!("{report}");
        }
        if !report.passed() {
            failed.push(report.name.clone());
        }
        if let Some(dir) = &save_log {
            let entry = parlend_sim::scenario::golden::save(&outcome, dir)?;
            println!(
                "  log saved to {} ({} blocks, head {})",
                dir.join(&entry.log).display(),
                entry.blocks,
                entry.head_hash
            );
        }
    }
    anyhow::ensure!(failed.is_empty(), "{} of {} scenarios failed: {}", failed.len(), files.len(), failed.join(", "));
    println!("all {} scenarios passed", files.len());
    Ok(())
}
