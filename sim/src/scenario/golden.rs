//! Golden logs: each scenario's chain saved as a log, with its expected
//! final hashes in `MANIFEST.toml` beside it. `tests/golden/` is made this
//! way (`parlend scenario run tests/scenarios/*.toml --save-log tests/golden`)
//! and the test suite replays every log and checks it against the manifest.

use std::collections::BTreeMap;
use std::path::Path;

use parlend_ledger::Hash;
use serde::{Deserialize, Serialize};

use super::ScenarioRun;
use parlend_log::format::ExportError;

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "MANIFEST.toml";

/// The extension of log files.
pub const LOG_EXTENSION: &str = "plog";

/// What a golden log must reproduce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenEntry {
    /// The log file, relative to the manifest.
    pub log: String,
    /// Blocks after genesis.
    pub blocks: u64,
    /// Transactions in them.
    pub transactions: u64,
    /// Hash of the last block.
    pub head_hash: Hash,
    /// State root after the last block.
    pub state_root: Hash,
}

/// Every golden log of a directory, by scenario name.
pub type Manifest = BTreeMap<String, GoldenEntry>;

/// Why a manifest cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest does not parse.
    #[error("{path} is not a golden manifest: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The log could not be written.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Reads `dir/MANIFEST.toml` (empty when absent).
pub fn read_manifest(dir: &Path) -> Result<Manifest, GoldenError> {
    let path = dir.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(Manifest::new());
    }
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|source| GoldenError::Io { path: shown.clone(), source })?;
    toml::from_str(&text).map_err(|error| GoldenError::Parse { path: shown, reason: error.to_string() })
}

/// Saves a scenario run's log as `dir/<name>.plog` and records its hashes
/// in `dir/MANIFEST.toml`, keeping the other entries.
pub fn save(run: &ScenarioRun, dir: &Path) -> Result<GoldenEntry, GoldenError> {
    let name = run.report.name.clone();
    let log = format!("{name}.{LOG_EXTENSION}");
    let trailer = run.export_log(&dir.join(&log))?;
    let head = &run.report.head;
    let entry = GoldenEntry {
        log,
        blocks: trailer.blocks,
        transactions: trailer.transactions,
        head_hash: head.hash,
        state_root: head.header.state_root,
    };
    let mut manifest = read_manifest(dir)?;
    manifest.insert(name, entry.clone());
    let text = toml::to_string(&manifest)
        .map_err(|error| GoldenError::Parse { path: MANIFEST_FILE.to_string(), reason: error.to_string() })?;
    let path = dir.join(MANIFEST_FILE);
    let header = header_of(&path);
    std::fs::write(&path, format!("{header}{text}"))
        .map_err(|source| GoldenError::Io { path: path.display().to_string(), source })?;
    Ok(entry)
}

/// The manifest's opening comment: the existing one, so that notes on why
/// the goldens changed survive a regeneration, or the standard one.
fn header_of(path: &Path) -> String {
    const STANDARD: &str = "# Golden logs: the expected final hashes of each scenario's chain.\n\
                            # Regenerate: parlend scenario run tests/scenarios/*.toml --save-log tests/golden\n\n";
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let comment: Vec<&str> = existing.lines().take_while(|line| line.starts_with('#') || line.is_empty()).collect();
    if comment.iter().any(|line| line.starts_with('#')) {
        format!("{}\n\n", comment.join("\n").trim_end())
    } else {
        STANDARD.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regenerated_manifest_keeps_its_notes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        assert!(header_of(&path).starts_with("# Golden logs"), "the standard header for a new manifest");
        let noted =
            "# Golden logs: the expected final hashes.\n# Note: regenerated because X.\n\n[a]\nlog = \"a.plog\"\n";
        std::fs::write(&path, noted).unwrap();
        assert_eq!(header_of(&path), "# Golden logs: the expected final hashes.\n# Note: regenerated because X.\n\n");
        std::fs::write(&path, "[a]\nlog = \"a.plog\"\n").unwrap();
        assert!(header_of(&path).starts_with("# Golden logs"), "a manifest without comment gets the standard one");
    }
}
