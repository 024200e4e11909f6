//! Undecided proposals on disk. After a crash the engine replays its
//! write-ahead log: it may re-derive a vote for a block this node had
//! accepted, or must re-propose the block it had proposed in that round.
//! Both need the block's bytes, which the log does not hold (the value is
//! the block's id). So a block is written here, fsynced, before this node
//! proposes or accepts it, and removed once its height is committed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use malachitebft_app_channel::app::types::core::Round;

/// One proposal read back.
#[derive(Debug, Clone)]
pub struct Saved {
    /// Its height.
    pub height: u64,
    /// The round it was proposed in.
    pub round: Round,
    /// Whether this node proposed it.
    pub own: bool,
    /// The block's canonical bytes.
    pub bytes: Vec<u8>,
}

/// The directory of undecided proposals.
#[derive(Debug, Clone)]
pub struct ProposalDir {
    path: PathBuf,
}

impl ProposalDir {
    /// Opens (creating) `path`.
    pub fn open(path: &Path) -> std::io::Result<ProposalDir> {
        fs::create_dir_all(path)?;
        Ok(ProposalDir { path: path.to_path_buf() })
    }

    fn file_name(height: u64, round: Round, own: bool, id: &str) -> String {
        let origin = if own { "own" } else { "peer" };
        format!("{height:020}-{}-{origin}-{id}.block", round.as_i64())
    }

    /// Writes a block durably (to a temporary file, fsynced, renamed).
    pub fn save(&self, height: u64, round: Round, own: bool, id: &str, bytes: &[u8]) -> std::io::Result<()> {
        let name = ProposalDir::file_name(height, round, own, id);
        let temporary = self.path.join(format!("{name}.tmp"));
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, self.path.join(name))?;
        fs::File::open(&self.path)?.sync_all()
    }

    /// The proposals saved for `height`.
    pub fn load(&self, height: u64) -> std::io::Result<Vec<Saved>> {
        let mut saved = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((at, round, own)) = parse_name(&name) else { continue };
            if at == height {
                saved.push(Saved { height, round, own, bytes: fs::read(entry.path())? });
            }
        }
        Ok(saved)
    }

    /// Removes the proposals of heights up to `height` (and stray
    /// temporary files).
    pub fn prune(&self, height: u64) -> std::io::Result<()> {
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = match parse_name(&name) {
                Some((at, _, _)) => at <= height,
                None => name.ends_with(".tmp"),
            };
            if stale {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

/// `HEIGHT-ROUND-ORIGIN-ID.block` → (height, round, own).
fn parse_name(name: &str) -> Option<(u64, Round, bool)> {
    let stem = name.strip_suffix(".block")?;
    let mut fields = stem.splitn(4, '-');
    let height = fields.next()?.parse().ok()?;
    let round: i64 = fields.next()?.parse().ok()?;
    let own = match fields.next()? {
        "own" => true,
        "peer" => false,
        _ => return None,
    };
    let round = u32::try_from(round).map_or(Round::Nil, Round::new);
    Some((height, round, own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposals_are_kept_by_height_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let proposals = ProposalDir::open(dir.path()).unwrap();
        proposals.save(4, Round::new(0), true, "aa", b"one").unwrap();
        proposals.save(4, Round::new(1), false, "bb", b"two").unwrap();
        proposals.save(5, Round::new(0), false, "cc", b"three").unwrap();
        let mut at_four = proposals.load(4).unwrap();
        at_four.sort_by_key(|saved| saved.round);
        assert_eq!(at_four.len(), 2);
        assert!(at_four[0].own && !at_four[1].own);
        assert_eq!(at_four[1].bytes, b"two");
        proposals.prune(4).unwrap();
        assert!(proposals.load(4).unwrap().is_empty());
        assert_eq!(proposals.load(5).unwrap().len(), 1);
    }
}
