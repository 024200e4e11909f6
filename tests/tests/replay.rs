//! Replay: every golden log reproduces every block hash at 1, 2 and 4
//! threads; a changed transaction byte, a tampered header, swapped blocks,
//! a truncated or damaged file fail with the right height and message and
//! never panic; logs round-trip through import, export and `--from-log`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use parlend_contracts::Block;
use parlend_ledger::{Hash, Keypair};
use parlend_log::format::{Compression, LogError, LogReader, LogTrailer, LogWriter, MAGIC, VERSION, export_store};
use parlend_log::replay::{
    HashKind, ReplayError, ReplayOptions, StateOnlyStore, import_log, replay_file, replay_log, replay_store,
};
use parlend_sim::scenario::golden::read_manifest;
use parlend_store::{RocksStore, RocksStoreOptions, Store};
use parlend_tests::{ChildNode, golden_dir, parlend_binary, replay, replay_with_threads};

/// The golden log most tamper tests start from: 9 blocks with interest, a
/// repayment and failures.
const SUBJECT: &str = "borrow-repay-interest";

fn golden(name: &str) -> PathBuf {
    golden_dir().join(format!("{name}.plog"))
}

/// Every block of a log with its logged hash, and the log's header.
fn read_all(path: &Path) -> (parlend_log::format::LogHeader, Vec<(Hash, Block)>) {
    read_log(LogReader::open_file(path).expect("golden log opens")).expect("golden log reads")
}

fn read_log(mut reader: LogReader) -> Result<(parlend_log::format::LogHeader, Vec<(Hash, Block)>), LogError> {
    let mut blocks = Vec::new();
    while let Some(block) = reader.next_block()? {
        blocks.push((block.hash, block.block));
    }
    Ok((reader.header().clone(), blocks))
}

/// A log written byte by byte from docs/log-format.md (uncompressed), so a
/// test can write what `LogWriter` refuses to: blocks out of order, bytes
/// changed, a wrong end record.
fn raw_log(
    header: &parlend_log::format::LogHeader,
    blocks: &[(Hash, Vec<u8>)],
    trailer: Option<LogTrailer>,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(0);
    let mut record = |kind: u8, payload: &[u8]| {
        out.push(kind);
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        out.extend_from_slice(payload);
    };
    // Version 2: the genesis without its accounts, then the accounts.
    let mut genesis = header.genesis_hash.0.to_vec();
    genesis.extend_from_slice(&(header.genesis.accounts.len() as u64).to_le_bytes());
    let bare = parlend_contracts::genesis::Genesis { accounts: Vec::new(), ..header.genesis.clone() };
    genesis.extend_from_slice(&serde_json::to_vec(&bare).unwrap());
    record(1, &genesis);
    for chunk in header.genesis.accounts.chunks(4) {
        record(4, &serde_json::to_vec(chunk).unwrap());
    }
    for (hash, bytes) in blocks {
        let mut payload = hash.0.to_vec();
        payload.extend_from_slice(bytes);
        record(2, &payload);
    }
    if let Some(trailer) = trailer {
        let mut payload = trailer.blocks.to_le_bytes().to_vec();
        payload.extend_from_slice(&trailer.transactions.to_le_bytes());
        payload.extend_from_slice(&trailer.head_hash.0);
        record(3, &payload);
    }
    out
}

/// Writes `blocks` as a raw log with a consistent end record, and replays it.
fn replay_raw(header: &parlend_log::format::LogHeader, blocks: &[(Hash, Vec<u8>)]) -> Result<u64, ReplayError> {
    let transactions = blocks
        .iter()
        .map(|(_, bytes)| borsh::from_slice::<Block>(bytes).map_or(0, |block| block.transactions.len() as u64))
        .sum();
    let head_hash = blocks.last().map_or(header.genesis_hash, |(hash, _)| *hash);
    let trailer = LogTrailer { blocks: blocks.len() as u64, transactions, head_hash };
    replay_bytes(raw_log(header, blocks, Some(trailer)))
}

fn replay_bytes(bytes: Vec<u8>) -> Result<u64, ReplayError> {
    let log = LogReader::open(std::io::Cursor::new(bytes))?;
    let options = ReplayOptions { threads: 1, halt_at_height: None };
    replay_log(log, Arc::new(StateOnlyStore::new()), &options, &mut |_| {}).map(|summary| summary.head.height)
}

fn encoded(blocks: &[(Hash, Block)]) -> Vec<(Hash, Vec<u8>)> {
    blocks.iter().map(|(hash, block)| (*hash, block.encode())).collect()
}

#[test]
fn every_golden_log_replays_at_one_two_and_four_threads() {
    let manifest = read_manifest(&golden_dir()).unwrap();
    assert!(manifest.len() >= 15, "tests/golden holds {} logs", manifest.len());
    for (name, entry) in &manifest {
        for threads in [1, 2, 4] {
            let summary = replay_with_threads(&golden_dir().join(&entry.log), threads)
                .unwrap_or_else(|error| panic!("{name} at {threads} threads: {error}"));
            assert_eq!(summary.threads, threads);
            assert_eq!(summary.head.hash, entry.head_hash, "{name} head at {threads} threads");
            assert_eq!(summary.head.header.state_root, entry.state_root, "{name} state root at {threads} threads");
            assert_eq!((summary.blocks, summary.transactions), (entry.blocks, entry.transactions), "{name}");
            assert!(!summary.halted);
        }
    }
}

#[test]
fn the_library_call_replays_with_default_threads() {
    let summary = replay(&golden(SUBJECT)).unwrap();
    assert_eq!(summary.head.height, summary.blocks);
    assert!(summary.failed_transactions > 0, "the subject log includes failed transactions");
}

#[test]
fn a_raw_log_written_from_the_spec_replays() {
    let (header, blocks) = read_all(&golden(SUBJECT));
    assert_eq!(replay_raw(&header, &encoded(&blocks)).unwrap(), blocks.len() as u64);
}

#[test]
fn every_changed_byte_of_a_logged_transaction_fails_at_its_height() {
    let (header, blocks) = read_all(&golden(SUBJECT));
    let mut bytes = encoded(&blocks);
    let target = 3; // block 3: bob borrows
    let block = &blocks[target - 1].1;
    let transaction = block.transactions[0].encode();
    let start = borsh::to_vec(&block.header).unwrap().len() + 4;
    assert_eq!(bytes[target - 1].1[start..start + transaction.len()], transaction[..]);
    for offset in start..start + transaction.len() {
        let original = bytes[target - 1].1[offset];
        bytes[target - 1].1[offset] ^= 0x01;
        let error = replay_raw(&header, &bytes).expect_err("a changed byte must be caught");
        assert_eq!(error.height(), Some(target as u64), "byte {offset}: {error}");
        assert!(error.to_string().contains(&format!(" {target}")), "byte {offset}: {error}");
        bytes[target - 1].1[offset] = original;
    }
    // The last byte of the signature: the block still decodes, so the
    // transactions root is what differs, and the bad signature is named.
    let last = start + transaction.len() - 1;
    bytes[target - 1].1[last] ^= 0x01;
    let error = replay_raw(&header, &bytes).unwrap_err();
    assert!(matches!(error, ReplayError::Mismatch { height: 3, kind: HashKind::TransactionsRoot, .. }), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("mismatch at height 3: transactions root differs"), "{message}");
    assert!(message.contains("transaction 0 fails its checks"), "{message}");
}

#[test]
fn a_re_signed_transaction_changes_the_state_hash() {
    // Someone rewrites bob's borrow (block 3) to a smaller amount, signs it
    // with bob's key and patches the transactions root: the state root of
    // block 3 is what no longer reproduces.
    let (header, mut blocks) = read_all(&golden(SUBJECT));
    let bob: Keypair = parlend_tests::dev_keypair(2);
    let (_, block) = &mut blocks[2];
    let mut transaction = block.transactions[0].transaction.clone();
    match &mut transaction.instructions[0] {
        parlend_contracts::Instruction::Borrow { amount, .. } => amount.0 -= 1,
        other => panic!("block 3 holds {other:?}"),
    }
    block.transactions[0] = transaction.sign(&bob);
    let ids: Vec<Hash> = block.transactions.iter().map(|tx| tx.hash()).collect();
    block.header.transactions_root = parlend_ledger::block::transactions_root(&ids);
    let error = replay_raw(&header, &encoded(&blocks)).unwrap_err();
    assert!(matches!(error, ReplayError::Mismatch { height: 3, kind: HashKind::StateRoot, .. }), "{error}");
    assert!(error.to_string().starts_with("mismatch at height 3: state hash (state root) differs"), "{error}");
}

#[test]
fn tampered_headers_name_the_hash_that_differs() {
    let (header, blocks) = read_all(&golden(SUBJECT));
    type Tamper = fn(&mut (Hash, Block));
    let cases: [(&str, HashKind, Tamper); 3] = [
        ("receipts root", HashKind::ReceiptsRoot, |(_, block)| block.header.receipts_root.0[0] ^= 1),
        ("state root", HashKind::StateRoot, |(_, block)| block.header.state_root.0[5] ^= 1),
        ("logged block hash", HashKind::BlockHash, |(hash, _)| hash.0[31] ^= 1),
    ];
    for (what, kind, tamper) in cases {
        let mut tampered = blocks.clone();
        tamper(&mut tampered[4]);
        let error = replay_raw(&header, &encoded(&tampered)).unwrap_err();
        match &error {
            ReplayError::Mismatch { height, kind: found, .. } => {
                assert_eq!((*height, *found), (5, kind), "{what}: {error}");
            }
            other => panic!("{what}: {other}"),
        }
        assert!(error.to_string().starts_with(&format!("mismatch at height 5: {kind} differs")), "{error}");
    }
    // A changed parent link: the block does not extend the previous one.
    let mut tampered = blocks.clone();
    tampered[6].1.header.parent_hash.0[0] ^= 1;
    let error = replay_raw(&header, &encoded(&tampered)).unwrap_err();
    assert!(matches!(error, ReplayError::Mismatch { height: 7, kind: HashKind::ParentHash, .. }), "{error}");
}

#[test]
fn swapped_or_missing_blocks_fail_at_the_first_height_out_of_place() {
    let (header, blocks) = read_all(&golden(SUBJECT));
    let mut swapped = encoded(&blocks);
    swapped.swap(3, 4); // heights 4 and 5
    let error = replay_raw(&header, &swapped).unwrap_err();
    assert!(matches!(error, ReplayError::OutOfOrder { expected: 4, found: 5 }), "{error}");
    assert_eq!(error.height(), Some(4));
    assert!(error.to_string().starts_with("mismatch at height 4: the log's next block is block 5"), "{error}");

    let mut missing = encoded(&blocks);
    missing.remove(1);
    let error = replay_raw(&header, &missing).unwrap_err();
    assert!(matches!(error, ReplayError::OutOfOrder { expected: 2, found: 3 }), "{error}");

    let mut duplicated = encoded(&blocks);
    duplicated.insert(2, duplicated[1].clone());
    let error = replay_raw(&header, &duplicated).unwrap_err();
    assert!(matches!(error, ReplayError::OutOfOrder { expected: 3, found: 2 }), "{error}");
}

#[test]
fn a_truncated_log_fails_cleanly_at_every_length() {
    let (header, blocks) = read_all(&golden(SUBJECT));
    let trailer = LogTrailer {
        blocks: blocks.len() as u64,
        transactions: blocks.iter().map(|(_, block)| block.transactions.len() as u64).sum(),
        head_hash: blocks.last().unwrap().0,
    };
    let raw = raw_log(&header, &encoded(&blocks), Some(trailer));
    assert_eq!(replay_bytes(raw.clone()).unwrap(), blocks.len() as u64);
    let compressed = std::fs::read(golden(SUBJECT)).unwrap();
    for (name, full) in [("uncompressed", raw), ("compressed", compressed)] {
        for length in 0..full.len() {
            // Every length through the reader, every 16th through a whole replay.
            let cut = full[..length].to_vec();
            let error = if length % 16 == 0 {
                replay_bytes(cut).expect_err("a cut log must fail")
            } else {
                ReplayError::Log(
                    LogReader::open(std::io::Cursor::new(cut)).and_then(read_log).expect_err("a cut log must fail"),
                )
            };
            let message = error.to_string();
            match &error {
                ReplayError::Log(LogError::NotALog) => assert!(length < 11, "{name} at {length}: {message}"),
                ReplayError::Log(LogError::Truncated { .. }) => assert!(message.contains("truncated")),
                // A zstd frame cut short can also read as damaged data.
                ReplayError::Log(LogError::Corrupt { .. }) => assert_eq!(name, "compressed", "{length}: {message}"),
                other => panic!("{name} cut at {length}: unexpected {other}"),
            }
        }
    }
    // Without the end record, the log is truncated even on a block boundary.
    let error = replay_bytes(raw_log(&header, &encoded(&blocks), None)).unwrap_err();
    assert!(matches!(error, ReplayError::Log(LogError::Truncated { blocks: 8 })), "{error}");
}

#[test]
fn damaged_bytes_anywhere_in_a_compressed_log_fail_without_panicking() {
    let original = std::fs::read(golden(SUBJECT)).unwrap();
    let (_, blocks) = read_all(&golden(SUBJECT));
    let mut unchanged = 0;
    for offset in (0..original.len()).step_by(3) {
        let mut damaged = original.clone();
        damaged[offset] ^= 0x40;
        // zstd checks its frame checksum at the end, records are decoded
        // strictly and blocks are hashed: damage to the content is caught.
        // A flip in bits the decoder never reads (padding of an entropy-coded
        // stream) leaves the content as it was, and then replay must succeed.
        if let Ok(height) = replay_bytes(damaged.clone()) {
            let (_, read) = read_log(LogReader::open(std::io::Cursor::new(damaged)).unwrap()).unwrap();
            assert_eq!(read, blocks, "damage at byte {offset} changed the content unnoticed");
            assert_eq!(height, blocks.len() as u64);
            unchanged += 1;
        }
    }
    assert!(unchanged < original.len() / 30, "{unchanged} flips left the content unchanged");
}

#[test]
fn a_wrong_end_record_or_trailing_data_is_corrupt() {
    let (header, blocks) = read_all(&golden(SUBJECT));
    let bytes = encoded(&blocks);
    let wrong = LogTrailer { blocks: 99, transactions: 0, head_hash: Hash::ZERO };
    let error = replay_bytes(raw_log(&header, &bytes, Some(wrong))).unwrap_err();
    assert!(error.to_string().contains("the end record says 99 blocks"), "{error}");
    let right = LogTrailer {
        blocks: blocks.len() as u64,
        transactions: blocks.iter().map(|(_, block)| block.transactions.len() as u64).sum(),
        head_hash: blocks.last().unwrap().0,
    };
    let mut trailing = raw_log(&header, &bytes, Some(right));
    trailing.push(0);
    let error = replay_bytes(trailing).unwrap_err();
    assert!(error.to_string().contains("data follows the end record"), "{error}");
    let mut other_version = raw_log(&header, &bytes, Some(right));
    other_version[8] = 9;
    assert!(matches!(replay_bytes(other_version), Err(ReplayError::Log(LogError::UnsupportedVersion(9)))));
}

#[test]
fn halt_at_height_stops_early() {
    let options = ReplayOptions { threads: 2, halt_at_height: Some(4) };
    let summary = replay_file(&golden(SUBJECT), &options).unwrap();
    assert!(summary.halted);
    assert_eq!(summary.head.height, 4);
    let (_, blocks) = read_all(&golden(SUBJECT));
    assert_eq!(summary.head.hash, blocks[3].0);
}

#[test]
fn import_export_and_replay_of_a_data_directory_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (header, blocks) = read_all(&golden(SUBJECT));
    {
        let store = Arc::new(
            RocksStore::open(&data, RocksStoreOptions { sync: false, ..RocksStoreOptions::default() }).unwrap(),
        );
        let options = ReplayOptions::default();
        let log = LogReader::open_file(&golden(SUBJECT)).unwrap();
        let summary = import_log(log, store.clone(), &options, &mut |_| {}).unwrap();
        assert_eq!(summary.blocks, blocks.len() as u64);
        // Importing again checks the stored blocks by hash and adds nothing.
        let log = LogReader::open_file(&golden(SUBJECT)).unwrap();
        let again = import_log(log, store.clone(), &options, &mut |_| {}).unwrap();
        assert_eq!((again.blocks, again.skipped), (0, blocks.len() as u64));

        // The data directory replays (as `parlend replay --data-dir`) ...
        let summary = replay_store(&*store, &header.genesis, &options, &mut |_| {}).unwrap();
        assert_eq!(summary.head.hash, blocks.last().unwrap().0);
        // ... and exports to a log with the same blocks.
        let exported = dir.path().join("exported.plog");
        let file = std::fs::File::create(&exported).unwrap();
        export_store(&*store as &dyn Store, &header.genesis, file, Compression::None, None).unwrap();
        let (_, again) = read_all(&exported);
        assert_eq!(again, blocks);
    }
    // A store holding another chain refuses the import.
    let other = dir.path().join("other");
    let store =
        Arc::new(RocksStore::open(&other, RocksStoreOptions { sync: false, ..RocksStoreOptions::default() }).unwrap());
    let log = LogReader::open_file(&golden("caps")).unwrap();
    import_log(log, store.clone(), &ReplayOptions::default(), &mut |_| {}).unwrap();
    let log = LogReader::open_file(&golden(SUBJECT)).unwrap();
    let error = import_log(log, store, &ReplayOptions::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(error, ReplayError::Mismatch { height: 1, kind: HashKind::BlockHash, .. }), "{error}");
}

#[test]
fn the_writer_refuses_blocks_out_of_order() {
    let (header, blocks) = read_all(&golden(SUBJECT));
    let mut writer = LogWriter::new(Vec::new(), &header.genesis, header.genesis_hash, Compression::Zstd).unwrap();
    let bytes = blocks[1].1.encode();
    assert!(matches!(writer.write_block(blocks[1].0, 2, &bytes, 1), Err(LogError::Misuse(_))));
}

fn parlend(args: &[&str]) -> std::process::Output {
    Command::new(parlend_binary()).args(args).env("RUST_LOG", "warn").output().expect("running parlend")
}

#[test]
fn cli_replay_prints_throughput_and_fails_with_the_height() {
    let path = golden(SUBJECT);
    let output = parlend(&["replay", path.to_str().unwrap(), "--threads", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("every hash reproduced"), "{stdout}");
    assert!(stdout.contains("transactions/s"), "{stdout}");

    let (header, mut blocks) = read_all(&path);
    blocks[5].1.header.receipts_root.0[0] ^= 1;
    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("tampered.plog");
    let bytes = encoded(&blocks);
    let trailer = LogTrailer {
        blocks: bytes.len() as u64,
        transactions: blocks.iter().map(|(_, block)| block.transactions.len() as u64).sum(),
        head_hash: blocks.last().unwrap().0,
    };
    std::fs::write(&tampered, raw_log(&header, &bytes, Some(trailer))).unwrap();
    let output = parlend(&["replay", tampered.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("mismatch at height 6: receipts root differs"), "{stderr}");

    let truncated = dir.path().join("truncated.plog");
    let full = std::fs::read(&path).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let output = parlend(&["replay", truncated.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("truncated") || stderr.contains("damaged"), "{stderr}");
}

#[test]
fn a_node_starts_from_a_log_and_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let path = golden(SUBJECT);
    let (_, blocks) = read_all(&path);
    // Stale dev prices would be re-posted in a block of their own: keep them, to see the log's head.
    let node =
        ChildNode::spawn(&data, &["--from-log", path.to_str().unwrap(), "--block-time-ms", "0", "--keep-stale-prices"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = parlend_rpc::Client::new(&node.url).unwrap();
    let head = runtime.block_on(client.head()).unwrap();
    assert_eq!((head.height, head.hash), (blocks.len() as u64, blocks.last().unwrap().0));
    // The chain goes on from the log's head.
    let key = parlend_tests::dev_keypair(4);
    let transfer = parlend_contracts::Instruction::Transfer {
        to: parlend_tests::dev_keypair(5).address(),
        asset: parlend_tests::asset("USDC"),
        amount: parlend_tests::tokens("USDC", 1),
    };
    let status = runtime.block_on(client.submit(&key, vec![transfer], true)).unwrap();
    assert_eq!(status.receipt.unwrap().block_height, blocks.len() as u64 + 1);
    node.kill();
    // Its data directory exports a log that replays, one block longer.
    let exported = dir.path().join("exported.plog");
    let output = parlend(&["log", "export", "--data-dir", data.to_str().unwrap(), "--out", exported.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = replay(&exported).unwrap();
    assert_eq!(summary.head.height, blocks.len() as u64 + 1);
    let output = parlend(&["replay", "--data-dir", data.to_str().unwrap(), "--quiet"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_generated_workload_replays_identically_at_every_thread_count() {
    // Blocks of 500 lending transactions: large enough that the parallel
    // executor schedules them in parallel rather than falling back to serial.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workload.plog");
    let config = parlend_log::generate::WorkloadConfig {
        transactions: 3_000,
        block_size: 500,
        accounts: 600,
        seed: 3,
        threads: 2,
    };
    let trailer = parlend_log::generate::generate(&config, std::fs::File::create(&path).unwrap(), &mut |_| {}).unwrap();
    for threads in [1, 2, 4] {
        let summary = replay_with_threads(&path, threads).unwrap();
        assert_eq!((summary.head.hash, summary.transactions), (trailer.head_hash, 3_000), "{threads} threads");
    }
    // The same seed gives the same log, byte for byte.
    let again = dir.path().join("again.plog");
    parlend_log::generate::generate(&config, std::fs::File::create(&again).unwrap(), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&again).unwrap());
}
