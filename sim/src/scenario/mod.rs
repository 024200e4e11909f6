//! Scenarios: lending stories written by people, run against a fresh
//! in-process chain, with expectations checked after every step.
//!
//! A scenario file (TOML or JSON; docs/scenarios.md is the reference)
//! names accounts, then lists steps: a transaction of any instruction, a
//! time warp, price changes, empty blocks, and what must hold afterwards
//! (the outcome, balances, positions, health factors, market figures).
//! [`run`] executes it on the node's [`parlend_app::App`] with an in-memory
//! store and a clock only the scenario moves, so every run produces the
//! same blocks, byte for byte; [`ScenarioRun::export_log`] writes them as a
//! log for `parlend replay` (this is how `tests/golden/` is made).
//!
//! Blocks: each transaction step is its own block unless the next step says
//! `same_block = true`; the steps of one block are checked after the block,
//! so their state expectations see the whole block's effects.

mod build;
mod chain;
mod events;
mod expect;
pub mod format;
pub mod golden;
pub mod units;

use std::fmt;
use std::path::{Path, PathBuf};

use parlend_contracts::Instruction;
use parlend_ledger::Keypair;
use parlend_ledger::block::Receipt;
use parlend_store::ChainHead;

pub use chain::ScenarioChain;
pub use expect::Difference;
use format::{InstructionSpec, ScenarioFile, StepSpec};

/// A scenario, parsed.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its contents.
    pub file: ScenarioFile,
    /// Where it was read from, if from a file.
    pub path: Option<PathBuf>,
}

/// A scenario that cannot run: a mistake in the file, not a failed expectation.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not parse.
    #[error("{path} is not a valid scenario: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A step is malformed (an unknown account, a bad amount).
    #[error("scenario {scenario}, step {step}: {reason}")]
    Step {
        /// The scenario's name.
        scenario: String,
        /// 1-based step number.
        step: usize,
        /// Why.
        reason: String,
    },
    /// The chain failed (never the scenario's fault).
    #[error("scenario {scenario}: the chain failed: {reason}")]
    Chain {
        /// The scenario's name.
        scenario: String,
        /// Why.
        reason: String,
    },
}

impl Scenario {
    /// Parses scenario text; `.json` paths are JSON, anything else TOML.
    pub fn parse(text: &str, path: Option<&Path>) -> Result<Scenario, ScenarioError> {
        let shown = path.map_or_else(|| "<scenario>".to_string(), |path| path.display().to_string());
        let is_json = path.is_some_and(|path| path.extension().is_some_and(|extension| extension == "json"));
        let file: ScenarioFile = if is_json {
            serde_json::from_str(text)
                .map_err(|error| ScenarioError::Parse { path: shown, reason: error.to_string() })?
        } else {
            toml::from_str(text).map_err(|error| ScenarioError::Parse { path: shown, reason: error.to_string() })?
        };
        Ok(Scenario { file, path: path.map(Path::to_path_buf) })
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.to_path_buf(), source })?;
        Scenario::parse(&text, Some(path))
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        &self.file.name
    }
}

/// How to run a scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScenarioOptions {
    /// Executor threads (0: one per core).
    pub threads: usize,
}

/// One step's result.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// 1-based step number.
    pub number: usize,
    /// Its name, or a description of what it did.
    pub name: String,
    /// The block its transaction was in, if it had one.
    pub height: Option<u64>,
    /// Every expectation that does not hold (empty: the step passed).
    pub differences: Vec<Difference>,
}

impl StepReport {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.differences.is_empty()
    }
}

/// A scenario's result.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub name: String,
    /// Where it came from.
    pub path: Option<PathBuf>,
    /// One report per step.
    pub steps: Vec<StepReport>,
    /// The chain's head at the end.
    pub head: ChainHead,
}

impl ScenarioReport {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(StepReport::passed)
    }

    /// Steps that failed.
    pub fn failed_steps(&self) -> usize {
        self.steps.iter().filter(|step| !step.passed()).count()
    }
}

impl fmt::Display for ScenarioReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => writeln!(f, "scenario {} ({})", self.name, path.display())?,
            None => writeln!(f, "scenario {}", self.name)?,
        }
        for step in &self.steps {
            let block = step.height.map(|height| format!(" [block {height}]")).unwrap_or_default();
            let verdict = if step.passed() { "ok  " } else { "FAIL" };
            writeln!(f, "  {verdict} {:>3} {}{block}", step.number, step.name)?;
            for difference in &step.differences {
                writeln!(f, "           {difference}")?;
            }
        }
        let passed = self.steps.len() - self.failed_steps();
        let verdict = if self.passed() { "PASSED" } else { "FAILED" };
        write!(
            f,
            "  {verdict}: {passed}/{} steps; {} blocks, head {}",
            self.steps.len(),
            self.head.height,
            self.head.hash
        )
    }
}

/// A finished run: its report and its chain (to save as a log).
pub struct ScenarioRun {
    /// What passed and failed.
    pub report: ScenarioReport,
    /// The chain the scenario built.
    pub chain: ScenarioChain,
}

impl ScenarioRun {
    /// Writes the chain as a log file (see [`parlend_log::format`]).
    pub fn export_log(&self, path: &Path) -> Result<parlend_log::format::LogTrailer, parlend_log::format::ExportError> {
        let file = std::fs::File::create(path).map_err(parlend_log::format::LogError::Io)?;
        self.chain.export_log(file)
    }
}

/// A step waiting for its block.
struct Waiting {
    number: usize,
    name: String,
    /// Its transaction's index in the block, or why it was rejected.
    transaction: Option<Result<usize, String>>,
}

/// Runs `scenario` on a fresh chain. A failed expectation is in the
/// report; an `Err` means the scenario itself is malformed.
pub fn run(scenario: &Scenario, options: &ScenarioOptions) -> Result<ScenarioRun, ScenarioError> {
    let file = &scenario.file;
    let name = file.name.clone();
    let step_error = |step: usize| {
        let name = name.clone();
        move |reason: String| ScenarioError::Step { scenario: name, step, reason }
    };
    let chain_error = |reason: String| ScenarioError::Chain { scenario: file.name.clone(), reason };
    let genesis = build::scenario_genesis(file).map_err(step_error(0))?;
    let names = build::Names::new(file, &genesis).map_err(step_error(0))?;
    let mut chain = ScenarioChain::new(genesis, options.threads).map_err(|error| chain_error(error.to_string()))?;
    let mut steps = Vec::with_capacity(file.steps.len());
    let mut waiting: Vec<Waiting> = Vec::new();
    for (index, step) in file.steps.iter().enumerate() {
        let number = index + 1;
        validate_step(step, index).map_err(step_error(number))?;
        if !step.same_block {
            finish_block(&mut chain, &names, file, &mut waiting, &mut steps)?;
        }
        if let Some(advance) = &step.advance {
            chain.advance(units::duration(advance).map_err(|error| step_error(number)(error.into()))?);
        }
        for _ in 0..step.mine.unwrap_or(0) {
            chain.mine().map_err(|error| chain_error(error.to_string()))?;
        }
        let transaction = step_transaction(step, &names, &chain)
            .map_err(step_error(number))?
            .map(|(key, instructions)| chain.submit(&key, instructions));
        let name = step.name.clone().unwrap_or_else(|| describe(step));
        waiting.push(Waiting { number, name, transaction });
        if !file.steps.get(index + 1).is_some_and(|next| next.same_block) {
            finish_block(&mut chain, &names, file, &mut waiting, &mut steps)?;
        }
    }
    finish_block(&mut chain, &names, file, &mut waiting, &mut steps)?;
    let report = ScenarioReport { name: file.name.clone(), path: scenario.path.clone(), steps, head: chain.head() };
    Ok(ScenarioRun { report, chain })
}

fn validate_step(step: &StepSpec, index: usize) -> Result<(), String> {
    if step.same_block && (index == 0 || step.advance.is_some() || step.mine.is_some()) {
        return Err(
            "same_block joins the previous step's block: not on the first step, nor with advance or mine".to_string()
        );
    }
    let actions = usize::from(step.prices.is_some())
        + usize::from(step.instructions.is_some())
        + usize::from(!step.instruction.is_empty());
    if actions > 1 || step.instruction.len() > 1 {
        return Err("a step has one transaction: one instruction, `prices`, or `instructions = [...]`".to_string());
    }
    if let Some(key) = step.instruction.keys().find(|key| !format::INSTRUCTION_NAMES.contains(&key.as_str())) {
        return Err(format!(
            "unknown key {key:?}: a step has name, by, same_block, advance, mine, prices, instructions, expect, \
             or one instruction ({})",
            format::INSTRUCTION_NAMES.join(", ")
        ));
    }
    if let Some(reason) = &step.expect.fail {
        expect::validate_failure_name(reason)?;
        if actions == 0 {
            return Err("`expect.fail` on a step without a transaction".to_string());
        }
    }
    Ok(())
}

/// The step's transaction: its signer and instructions.
fn step_transaction(
    step: &StepSpec,
    names: &build::Names,
    chain: &ScenarioChain,
) -> Result<Option<(Keypair, Vec<Instruction>)>, String> {
    let specs: Vec<InstructionSpec> = if let Some(prices) = &step.prices {
        prices
            .iter()
            .map(|(asset, usd)| InstructionSpec::SetPrice { asset: asset.clone(), usd: usd.clone(), age: None })
            .collect()
    } else if let Some(list) = &step.instructions {
        list.clone()
    } else if let Some((key, value)) = step.instruction.iter().next() {
        let tagged = serde_json::Value::Object([(key.clone(), value.clone())].into_iter().collect());
        vec![serde_json::from_value(tagged).map_err(|error| format!("{key}: {error}"))?]
    } else {
        return Ok(None);
    };
    let signer = match (&step.by, specs.first().and_then(build::default_signer)) {
        (Some(name), _) => name.as_str(),
        (None, Some(name)) => name,
        (None, None) => return Err("the step needs `by`: who signs its transaction".to_string()),
    };
    let key = names.key(signer)?.clone();
    let instructions = specs
        .iter()
        .map(|spec| build::instruction(spec, names, chain.state(), chain.now()))
        .collect::<Result<_, _>>()?;
    Ok(Some((key, instructions)))
}

/// A description of a step for the report.
fn describe(step: &StepSpec) -> String {
    let by = step.by.as_deref().map(|by| format!("{by}: ")).unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(advance) = &step.advance {
        parts.push(format!("advance {advance}"));
    }
    if let Some(mine) = step.mine {
        parts.push(format!("mine {mine}"));
    }
    if let Some(prices) = &step.prices {
        let list: Vec<String> = prices.iter().map(|(asset, usd)| format!("{asset} ${usd}")).collect();
        parts.push(format!("prices {}", list.join(", ")));
    }
    if let Some(list) = &step.instructions {
        parts.push(format!("{by}{} instructions", list.len()));
    }
    for (key, value) in &step.instruction {
        let fields: Vec<String> = value
            .as_object()
            .map(|object| object.iter().map(|(name, value)| format!("{name}={}", plain(value))).collect())
            .unwrap_or_default();
        parts.push(format!("{by}{key} {}", fields.join(" ")));
    }
    if parts.is_empty() {
        parts.push("check".to_string());
    }
    parts.join("; ")
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Executes the pending block (if any step waits) and checks each waiting
/// step: its transaction's outcome, then the state expectations.
fn finish_block(
    chain: &mut ScenarioChain,
    names: &build::Names,
    file: &ScenarioFile,
    waiting: &mut Vec<Waiting>,
    reports: &mut Vec<StepReport>,
) -> Result<(), ScenarioError> {
    if waiting.is_empty() {
        return Ok(());
    }
    let chain_error = |reason: String| ScenarioError::Chain { scenario: file.name.clone(), reason };
    let block: Option<(ChainHead, Vec<Receipt>)> =
        if chain.has_pending() { Some(chain.mine().map_err(|error| chain_error(error.to_string()))?) } else { None };
    for step in waiting.drain(..) {
        let spec = &file.steps[step.number - 1];
        let mut differences = Vec::new();
        let mut height = None;
        match (&step.transaction, &block) {
            (Some(Ok(index)), Some((head, receipts))) => {
                height = Some(head.height);
                let receipt = receipts.get(*index).ok_or_else(|| chain_error("a receipt is missing".into()))?;
                differences.extend(expect::check_outcome(&spec.expect, &receipt.status));
                if let Some(expected) = &spec.expect.events {
                    events::check_events(expected, &receipt.events, names, &mut differences).map_err(|reason| {
                        ScenarioError::Step { scenario: file.name.clone(), step: step.number, reason }
                    })?;
                }
            }
            (Some(Err(reason)), _) => differences.push(Difference {
                what: "transaction".to_string(),
                expected: "included in a block".to_string(),
                actual: reason.clone(),
            }),
            _ => {}
        }
        let checker = expect::Checker { state: chain.state(), now: chain.now(), names };
        let state_differences = checker.check(&spec.expect).map_err(|reason| ScenarioError::Step {
            scenario: file.name.clone(),
            step: step.number,
            reason,
        })?;
        differences.extend(state_differences);
        reports.push(StepReport { number: step.number, name: step.name, height, differences });
    }
    Ok(())
}
