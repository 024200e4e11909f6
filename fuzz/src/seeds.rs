//! Writes the seed corpora of the fuzz targets into `DIR/<target>/`: a
//! signed transaction of every instruction, every method's example params
//! and request bodies, the golden logs (and an uncompressed copy of one),
//! the scenario files. `make fuzz` runs it before the targets.

use std::path::{Path, PathBuf};

use parlend_contracts::dev::{DEV_CHAIN_ID, dev_keypair, dev_markets};
use parlend_contracts::emode::EModeCategory;
use parlend_contracts::state::LiquidationConfig;
use parlend_contracts::{AmountOrAll, Instruction, Transaction};
use parlend_ledger::{Access, AccessMode, AccessSet, Amount, AssetId, Bps, StateKey, Wad};
use parlend_log::format::{Compression, LogReader, LogWriter};

// Built with the fuzz targets' coverage flags, this program needs
// libFuzzer's coverage callbacks linked in: a fuzz target, never run, pulls
// them in (its `main` is the one below, not libFuzzer's).
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("creating a corpus folder");
    std::fs::write(dir.join(name), bytes).expect("writing a seed");
}

fn instructions() -> Vec<Instruction> {
    let (usdc, weth) = (AssetId::from_static("USDC"), AssetId::from_static("WETH"));
    let other = dev_keypair(2).address();
    let params = dev_markets()[0].params;
    vec![
        Instruction::Transfer { to: other, asset: usdc, amount: Amount(1_000_000) },
        Instruction::Mint { to: other, asset: usdc, amount: Amount(5) },
        Instruction::CreateMarket { asset: AssetId::from_static("GOLD"), params },
        Instruction::UpdateMarket { asset: usdc, params },
        Instruction::SetPrice { asset: weth, price: Wad(3_000 * Wad::SCALE), timestamp: 1_767_225_600 },
        Instruction::SetOracle { oracle: other },
        Instruction::SetAdmin { admin: other },
        Instruction::SetMinter { minter: None },
        Instruction::SetLiquidationConfig { config: LiquidationConfig::default() },
        Instruction::Deposit { asset: usdc, amount: Amount(7) },
        Instruction::Withdraw { asset: usdc, amount: AmountOrAll::All },
        Instruction::Borrow { asset: usdc, amount: Amount(3) },
        Instruction::Repay { asset: usdc, amount: AmountOrAll::Amount(Amount(2)), on_behalf_of: Some(other) },
        Instruction::SetCollateral { asset: weth, enabled: false },
        Instruction::Liquidate {
            borrower: other,
            debt_asset: usdc,
            collateral_asset: weth,
            debt_to_cover: AmountOrAll::All,
            receive_deposit: true,
        },
        Instruction::FlashBorrow { asset: usdc, amount: Amount(9) },
        Instruction::FlashRepay { asset: usdc },
        Instruction::SetEModeCategory {
            category: EModeCategory {
                id: 1,
                ltv: Bps(9_300),
                liquidation_threshold: Bps(9_500),
                liquidation_bonus: Bps(10_100),
            },
        },
        Instruction::SetEMode { category: 1 },
        Instruction::CoverDeficit { asset: usdc, amount: AmountOrAll::All, from_treasury: true },
    ]
}

/// The position of `instruction`'s variant. No wildcard: a new instruction
/// stops this build until it has a seed (`transactions` checks that every
/// position appears).
fn variant(instruction: &Instruction) -> usize {
    match instruction {
        Instruction::Transfer { .. } => 0,
        Instruction::Mint { .. } => 1,
        Instruction::CreateMarket { .. } => 2,
        Instruction::UpdateMarket { .. } => 3,
        Instruction::SetPrice { .. } => 4,
        Instruction::SetOracle { .. } => 5,
        Instruction::SetAdmin { .. } => 6,
        Instruction::SetMinter { .. } => 7,
        Instruction::SetLiquidationConfig { .. } => 8,
        Instruction::Deposit { .. } => 9,
        Instruction::Withdraw { .. } => 10,
        Instruction::Borrow { .. } => 11,
        Instruction::Repay { .. } => 12,
        Instruction::SetCollateral { .. } => 13,
        Instruction::Liquidate { .. } => 14,
        Instruction::FlashBorrow { .. } => 15,
        Instruction::FlashRepay { .. } => 16,
        Instruction::SetEModeCategory { .. } => 17,
        Instruction::SetEMode { .. } => 18,
        Instruction::CoverDeficit { .. } => 19,
    }
}

fn transactions(dir: &Path) {
    let key = dev_keypair(1);
    let access = AccessSet::from_unsorted([
        Access { key: StateKey::Config, mode: AccessMode::Read },
        Access { key: StateKey::Account { owner: key.address() }, mode: AccessMode::Write },
        Access { key: StateKey::Position { owner: key.address() }, mode: AccessMode::Write },
    ])
    .expect("a valid access set");
    let instructions = instructions();
    let mut seeded: Vec<usize> = instructions.iter().map(variant).collect();
    seeded.sort_unstable();
    assert_eq!(seeded, (0..=19).collect::<Vec<_>>(), "a seed of every instruction, once");
    for (index, instruction) in instructions.into_iter().enumerate() {
        let transaction = Transaction {
            chain_id: DEV_CHAIN_ID,
            signer: key.address(),
            nonce: index as u64,
            access: access.clone(),
            instructions: vec![instruction],
        };
        write(dir, &format!("instruction-{index:02}"), &transaction.sign(&key).encode());
    }
}

fn rpc_params(dir: &Path) {
    let address = dev_keypair(1).address().to_string();
    let hash = format!(r#"{{"hash": "{}"}}"#, "ab".repeat(32));
    let examples: Vec<(&str, String)> = vec![
        ("sendTransaction", r#"{"transaction": "0x00ff", "wait": true, "timeoutMs": 10}"#.to_string()),
        ("sendTransactions", r#"{"transactions": ["00", "ff"], "wait": false}"#.to_string()),
        ("relayTransactions", r#"{"transactions": ["00", "ff"]}"#.to_string()),
        (
            "simulateTransaction",
            format!(
                r#"{{"signer": "{address}", "nonce": 3, "instructions": [{{"type": "deposit", "asset": "USDC", "amount": "1"}}, {{"type": "repay", "asset": "USDC", "amount": "all", "onBehalfOf": "{address}"}}]}}"#
            ),
        ),
        ("getTransaction", hash.clone()),
        ("getReceipt", hash.clone()),
        ("getTransactionStatus", hash),
        ("getBlock", r#"{"height": 5, "full": true}"#.to_string()),
        ("getHead", "{}".to_string()),
        ("getAccount", format!(r#"{{"address": "{address}"}}"#)),
        ("getBalances", format!(r#"{{"address": "{address}"}}"#)),
        ("getPosition", format!(r#"{{"address": "{address}"}}"#)),
        ("getMarket", r#"{"asset": "WETH"}"#.to_string()),
        ("getMarkets", "{}".to_string()),
        ("getPrice", r#"{"asset": "TBILL"}"#.to_string()),
        ("getPrices", "{}".to_string()),
        ("getProof", format!(r#"{{"key": {{"balance": {{"owner": "{address}", "asset": "USDC"}}}}, "height": 3}}"#)),
        ("getValidators", "{}".to_string()),
        (
            "getEvents",
            format!(
                r#"{{"address": "{address}", "kind": "Borrow", "fromHeight": 1, "toHeight": 90, "limit": 5, "cursor": {{"height": 2, "txIndex": 1, "eventIndex": 0}}}}"#
            ),
        ),
        ("getLiquidatable", r#"{"atRiskBelow": "1050000000000000000", "limit": 10}"#.to_string()),
        ("dev_faucet", format!(r#"{{"address": "{address}", "asset": "USDC", "amount": "100"}}"#)),
        ("dev_mine", r#"{"blocks": 2}"#.to_string()),
        ("dev_increaseTime", r#"{"seconds": 86400}"#.to_string()),
        ("dev_setTime", r#"{"timestamp": 1767225600}"#.to_string()),
        ("dev_snapshot", "{}".to_string()),
        ("dev_revert", r#"{"id": 1}"#.to_string()),
        ("subscribeNewHeads", "{}".to_string()),
        ("subscribeTransactions", format!(r#"{{"address": "{address}"}}"#)),
        ("subscribeLiquidatable", r#"{"atRiskBelow": "1100000000000000000"}"#.to_string()),
        ("subscribeMarkets", "{}".to_string()),
        ("unsubscribe", r#"{"subscription": 42}"#.to_string()),
    ];
    let mut named: Vec<&str> = examples.iter().map(|(name, _)| *name).collect();
    let mut all = parlend_rpc::methods::ALL.to_vec();
    named.sort_unstable();
    all.sort_unstable();
    assert_eq!(named, all, "example params of every method, once");
    for (name, params) in examples {
        let selector = parlend_rpc::methods::ALL.iter().position(|method| *method == name).expect("a method");
        let mut bytes = vec![u8::try_from(selector).expect("few methods")];
        bytes.extend_from_slice(params.as_bytes());
        write(dir, &format!("params-{name}"), &bytes);
    }
    let bodies = [
        r#"{"jsonrpc":"2.0","id":-5,"method":"getHead"}"#,
        r#"{"jsonrpc":"2.0","method":"getHead","params":{}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"},{"jsonrpc":"2.0","id":1.5,"method":"c"},{}]"#,
        r#"[{"jsonrpc":"2.0","id":"\u0000x","method":"getHead"},{"id":null}]"#,
        // A number beyond an f64 (the harness once read JSON as `Value`), and
        // entries that are no objects.
        r#"{"jsonrpc":"2.0","method":"getHead","params":{"x":1e400}}"#,
        r#"[[5],{"jsonrpc":"2.0","id":-3,"method":"getHead"},7]"#,
    ];
    for (index, body) in bodies.iter().enumerate() {
        write(dir, &format!("body-{index}"), &[&[0u8][..], body.as_bytes()].concat());
    }
}

fn logs(dir: &Path, golden: &Path) {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(golden)
        .expect("tests/golden")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "plog"))
        .collect();
    paths.sort();
    for path in &paths {
        let name = path.file_name().expect("a file name").to_string_lossy().to_string();
        write(dir, &name, &std::fs::read(path).expect("a golden log"));
    }
    // One uncompressed copy, so the fuzzer sees records without zstd.
    let Some(first) = paths.first() else { return };
    let mut reader = LogReader::open_file(first).expect("a golden log opens");
    let header = reader.header().clone();
    let mut out = Vec::new();
    let mut writer =
        LogWriter::new(&mut out, &header.genesis, header.genesis_hash, Compression::None).expect("a writer");
    while let Some(block) = reader.next_block().expect("a golden log reads") {
        let bytes = block.block.encode();
        let count = block.block.transactions.len() as u64;
        writer.write_block(block.hash, block.block.header.height, &bytes, count).expect("a block");
    }
    writer.finish().expect("the end record");
    write(dir, "uncompressed.plog", &out);
}

fn scenarios(dir: &Path, source: &Path) {
    for entry in std::fs::read_dir(source).expect("tests/scenarios") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().expect("a file name").to_string_lossy().to_string();
        write(dir, &name, &std::fs::read(&path).expect("a scenario"));
    }
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: seeds DIR"));
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    transactions(&out.join("transaction"));
    rpc_params(&out.join("rpc_params"));
    logs(&out.join("log_reader"), &repository.join("tests/golden"));
    scenarios(&out.join("scenario"), &repository.join("tests/scenarios"));
}
