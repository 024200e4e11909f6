//! The real `parlend` binary, as a user drives it, against a real node (a
//! child process on RocksDB): keygen, faucet, deposit, borrow, a year's time
//! warp with accrued interest, a price drop, a liquidation by a second
//! account, and a snapshot whose revert restores the earlier state; then
//! isolation mode, e-mode, market flags and deficit covers.
//!
//! The binary is found with `parlend_tests::parlend_binary()` rather than
//! `env!("CARGO_BIN_EXE_parlend")`, which cargo sets only for tests of the
//! package that owns the binary (`node`); both name the same file.

use std::path::Path;
use std::process::Command;

use parlend_tests::{ChildNode, parlend_binary, testnet_base_port};
use serde_json::Value;

struct Cli<'a> {
    url: &'a str,
    directory: &'a Path,
}

impl Cli<'_> {
    /// Runs `parlend ARGS` with `PARLEND_RPC=URL`; returns stdout, asserting success.
    fn ok(&self, args: &[&str]) -> String {
        let (success, stdout, stderr) = self.run(args);
        assert!(success, "parlend {args:?} failed:\n{stdout}\n{stderr}");
        stdout
    }

    /// Runs and parses `--json` output.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{args:?}: {error}: {stdout}"))
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new(parlend_binary())
            .args(args)
            .env("PARLEND_RPC", self.url)
            .current_dir(self.directory)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running parlend");
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8 output");
        (output.status.success(), text(output.stdout), text(output.stderr))
    }
}

fn amount(value: &Value) -> u128 {
    value.as_str().unwrap_or_else(|| panic!("expected a decimal string, got {value}")).parse().unwrap()
}

/// The stored part of a position: what a revert must restore exactly. The rest of the view
/// (accrued debt, price age) is computed at the wall-clock moment of the query.
fn stored(position: &Value) -> Vec<Value> {
    let keep = ["asset", "collateral", "scaledDebt", "scaledDeposit"];
    let entries = position["assets"].as_array().unwrap().iter();
    entries.map(|entry| keep.iter().map(|field| entry[*field].clone()).collect()).collect()
}

fn entry<'a>(position: &'a Value, symbol: &str) -> &'a Value {
    position["assets"].as_array().unwrap().iter().find(|entry| entry["asset"] == symbol).expect("asset in position")
}

#[test]
fn a_user_borrows_warps_a_year_is_liquidated_and_reverts() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(&directory.path().join("chain"), &["--block-time-ms", "0"]);
    let cli = Cli { url: &node.url, directory: directory.path() };

    let me = cli.json(&["keygen", "--out", "me.json"])["address"].as_str().unwrap().to_string();
    let liquidator = cli.json(&["keygen", "--out", "liquidator.json"])["address"].as_str().unwrap().to_string();
    cli.ok(&["dev", "faucet", "--to", &me, "--asset", "WETH", "--amount", "10"]);
    let faucet = cli.json(&["dev", "faucet", "--to", &liquidator, "--asset", "USDC", "--amount", "50000"]);
    assert_eq!(faucet["status"], "committed", "{faucet}");

    // Fresh prices from the oracle (dev:0); a lender (dev:2) supplies USDC.
    for (asset, price) in [("USDC", "1"), ("WETH", "3000")] {
        cli.ok(&["tx", "price", "--asset", asset, "--price", price, "--key", "dev:0", "--wait"]);
    }
    cli.ok(&["tx", "deposit", "--asset", "USDC", "--amount", "500000", "--key", "dev:2", "--wait"]);

    // Deposit 10 WETH, borrow 20,000 USDC: HF = 30,000 × 0.83 / 20,000 = 1.245.
    cli.ok(&["tx", "deposit", "--asset", "WETH", "--amount", "10", "--key", "me.json", "--wait"]);
    let borrowed = cli.json(&["tx", "borrow", "--asset", "USDC", "--amount", "20000", "--key", "me.json", "--wait"]);
    assert_eq!(borrowed["status"], "committed", "{borrowed}");
    let human = cli.ok(&["query", "position", &me]);
    assert!(human.contains("health factor:     1.24"), "{human}");
    let debt_before = amount(&entry(&cli.json(&["query", "position", &me]), "USDC")["debt"]);
    assert!((20_000_000_000..20_000_010_000).contains(&debt_before), "{debt_before}");

    let snapshot = cli.json(&["dev", "snapshot"]);
    let snapshot_id = snapshot["id"].as_u64().unwrap().to_string();
    let position_at_snapshot = cli.json(&["query", "position", &me]);

    // A year later the debt has grown.
    let clock = cli.json(&["dev", "increase-time", "1y"]);
    assert_eq!(clock["offsetSeconds"], 31_536_000);
    let debt_after_year = amount(&entry(&cli.json(&["query", "position", &me]), "USDC")["debt"]);
    assert!(debt_after_year > debt_before + 20_000_000, "interest: {debt_before} -> {debt_after_year}");

    // WETH falls to $2,400: HF ≈ 24,000 × 0.83 / 20,035 < 1.
    for (asset, price) in [("USDC", "1"), ("WETH", "2400")] {
        cli.ok(&["tx", "price", "--asset", asset, "--price", price, "--key", "dev:0", "--wait"]);
    }
    let listed = cli.json(&["query", "liquidatable"]);
    assert!(listed["liquidatable"].as_array().unwrap().iter().any(|view| view["owner"] == me.as_str()), "{listed}");

    // The borrower cannot liquidate itself: the simulation says why, nothing
    // is sent (exit status 1, nonce unchanged); --force sends it anyway, to
    // be included as failed.
    let liquidate = ["tx", "liquidate", "--borrower", &me, "--debt-asset", "USDC", "--collateral-asset", "WETH"];
    let nonce = |cli: &Cli<'_>| cli.json(&["query", "account", &me])["account"]["nonce"].as_u64().unwrap();
    let before = nonce(&cli);
    let (success, _, stderr) = cli.run(&[&liquidate[..], &["--key", "me.json"]].concat());
    assert!(!success && stderr.contains("not sent") && stderr.contains("SelfLiquidation"), "{stderr}");
    assert_eq!(nonce(&cli), before, "nothing was sent");
    let (success, stdout, _) = cli.run(&[&liquidate[..], &["--key", "me.json", "--force"]].concat());
    assert!(!success && stdout.contains("failed") && stdout.contains("SelfLiquidation"), "{stdout}");
    assert_eq!(nonce(&cli), before + 1, "sent with --force, included as failed");
    let liquidated = cli.json(&[&liquidate[..], &["--key", "liquidator.json", "--wait"]].concat());
    assert_eq!(liquidated["status"], "committed", "{liquidated}");
    let after = cli.json(&["query", "position", &me]);
    assert!(amount(&entry(&after, "USDC")["debt"]) < debt_after_year / 2 + 1_000_000, "{after}");
    let seized = cli.json(&["query", "account", &liquidator]);
    let weth = seized["balances"].as_array().unwrap().iter().find(|b| b["asset"] == "WETH").unwrap();
    assert!(amount(&weth["amount"]) > 0, "{seized}");

    // Revert: the position, the liquidator's wallet and the clock are as at the snapshot.
    cli.ok(&["dev", "revert", &snapshot_id]);
    let restored = cli.json(&["query", "position", &me]);
    assert_eq!(stored(&restored), stored(&position_at_snapshot), "{restored}");
    let wallet = cli.json(&["query", "account", &liquidator]);
    let weth = wallet["balances"].as_array().unwrap().iter().find(|b| b["asset"] == "WETH").unwrap();
    assert_eq!(amount(&weth["amount"]), 0);
    let head = cli.json(&["query", "block"]);
    assert_eq!(head["header"]["height"].as_u64(), snapshot["height"].as_u64());
    let markets = cli.ok(&["query", "markets"]);
    assert!(markets.contains("USDC") && markets.contains("TBILL"), "{markets}");
    node.kill();
}

#[test]
fn isolation_emode_flags_and_deficits_from_the_command_line() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(&directory.path().join("chain"), &["--block-time-ms", "0"]);
    let cli = Cli { url: &node.url, directory: directory.path() };
    for (asset, price) in [("USDC", "1"), ("WETH", "3000"), ("TBILL", "1")] {
        cli.ok(&["tx", "price", "--asset", asset, "--price", price, "--key", "dev:0", "--wait"]);
    }
    // USDC debt earns nothing here, so the amounts below are exact however
    // many wall-clock seconds the blocks span: with interest, a borrow at
    // exactly the LTV (dev:3's) failed by one base unit once a second passed
    // after dev:1's borrow (debt rounds up), and the deficit grew by one.
    let no_interest = ["--base-rate", "0%", "--slope1", "0%", "--slope2", "0%"];
    cli.ok(&[&["tx", "market", "--asset", "USDC"][..], &no_interest, &["--key", "dev:0", "--wait"]].concat());
    cli.ok(&["tx", "deposit", "--asset", "USDC", "--amount", "100000", "--key", "dev:2", "--wait"]);

    // Bad debt: dev:3 owes 2,400 USDC against 1 WETH, WETH falls to $1,000,
    // dev:4 liquidates. First, while dev:3 is the market's only borrower:
    // its borrow is exactly its borrowing power, which interest accrued on
    // an earlier borrower's debt (a second or two on a loaded machine)
    // would round just past.
    cli.ok(&["tx", "deposit", "--asset", "WETH", "--amount", "1", "--key", "dev:3", "--wait"]);
    cli.ok(&["tx", "borrow", "--asset", "USDC", "--amount", "2400", "--key", "dev:3", "--wait"]);
    cli.ok(&["tx", "price", "--asset", "WETH", "--price", "1000", "--key", "dev:0", "--wait"]);
    let liquidate = ["tx", "liquidate", "--borrower", "dev:3", "--debt-asset", "USDC", "--collateral-asset", "WETH"];
    cli.ok(&[&liquidate[..], &["--key", "dev:4", "--wait"]].concat());
    let deficit = |cli: &Cli<'_>| amount(&cli.json(&["query", "market", "USDC"])["deficit"]);
    assert_eq!(deficit(&cli), 1_447_619_047);
    cli.ok(&["tx", "cover-deficit", "--asset", "USDC", "--amount", "447.619047", "--key", "dev:4", "--wait"]);
    assert_eq!(deficit(&cli), 1_000_000_000);
    // Only the admin covers from the treasury: refused before sending.
    let (success, _, stderr) =
        cli.run(&["tx", "cover-deficit", "--asset", "USDC", "--from-treasury", "--key", "dev:4", "--wait"]);
    assert!(!success && stderr.contains("not sent") && stderr.contains("Unauthorized"), "{stderr}");
    cli.ok(&["tx", "cover-deficit", "--asset", "USDC", "--key", "dev:0", "--wait"]);
    assert_eq!(deficit(&cli), 0);

    // dev:1 is isolated on TBILL (enabled by hand) and in the stablecoin e-mode.
    cli.ok(&["tx", "deposit", "--asset", "TBILL", "--amount", "10000", "--key", "dev:1", "--wait"]);
    cli.ok(&["tx", "collateral", "--asset", "TBILL", "--key", "dev:1", "--wait"]);
    cli.ok(&["tx", "emode", "--category", "1", "--key", "dev:1", "--wait"]);
    cli.ok(&["tx", "borrow", "--asset", "USDC", "--amount", "1000", "--key", "dev:1", "--wait"]);
    let position = cli.json(&["query", "position", "dev:1"]);
    assert_eq!(
        (position["emodeCategory"].as_u64(), &position["isolation"]["collateral"]),
        (Some(1), &Value::from("TBILL"))
    );
    assert_eq!(position["isolation"]["positionDebtCents"], 100_000, "{position}");
    let human = cli.ok(&["query", "position", "dev:1"]);
    assert!(human.contains("isolation mode:    TBILL") && human.contains("e-mode category:   1"), "{human}");

    // The admin sets a ceiling, switches WETH's flash loans off and defines a category.
    cli.ok(&["tx", "market", "--asset", "TBILL", "--debt-ceiling", "1500.25", "--key", "dev:0", "--wait"]);
    let tbill = cli.json(&["query", "market", "TBILL"]);
    assert_eq!(
        (tbill["params"]["debtCeilingCents"].as_u64(), tbill["isolationDebtCents"].as_u64()),
        (Some(150_025), Some(100_000))
    );
    cli.ok(&["tx", "market", "--asset", "WETH", "--flash-loan-enabled", "false", "--key", "dev:0", "--wait"]);
    let (success, _, stderr) =
        cli.run(&["tx", "flash", "--asset", "WETH", "--amount", "1", "--key", "dev:3", "--wait"]);
    assert!(!success && stderr.contains("not sent") && stderr.contains("FlashLoanDisabled"), "{stderr}");
    let category = ["--id", "2", "--ltv", "90%", "--liquidation-threshold", "92%", "--liquidation-bonus", "102%"];
    cli.ok(&[&["tx", "emode-category"][..], &category, &["--key", "dev:0", "--wait"]].concat());

    node.kill();
}

/// `parlend query proof` saves a node's answer; `parlend verify-proof`
/// checks it offline (the node is gone by then) and refuses, with a reason
/// and a failing exit status, a changed value, a changed proof byte, a
/// changed header, a `proof: true` answer with a changed figure and a file
/// that is not an answer.
#[test]
fn a_saved_proof_verifies_offline_and_a_tampered_one_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(&directory.path().join("chain"), &["--block-time-ms", "0"]);
    let url = node.url.clone();
    let cli = Cli { url: &url, directory: directory.path() };
    cli.ok(&["tx", "price", "--asset", "WETH", "--price", "3000", "--key", "dev:0", "--wait"]);
    cli.ok(&["tx", "deposit", "--asset", "WETH", "--amount", "2", "--key", "dev:1", "--wait"]);
    let owner = cli.json(&["keygen", "--out", "someone.json"])["address"].as_str().unwrap().to_string();
    let dev1 = cli.ok(&["query", "account", "dev:1", "--json"]);
    let dev1: Value = serde_json::from_str(&dev1).unwrap();
    let position = format!("{{\"position\": {{\"owner\": \"{}\"}}}}", dev1["account"]["address"].as_str().unwrap());
    let printed = cli.ok(&["query", "proof", &position, "--out", "position.json"]);
    let answer: Value = serde_json::from_str(&printed).unwrap();
    assert!(answer["value"].is_string(), "{answer}");
    let absent = format!("{{\"position\": {{\"owner\": \"{owner}\"}}}}");
    cli.ok(&["query", "proof", &absent, "--height", "1", "--out", "absent.json"]);
    cli.ok(&["query", "proof", "config", "--out", "config.json"]);
    let request = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "getPosition",
        "params": {"address": dev1["account"]["address"], "proof": true}});
    let (status, body) = parlend_tests::post_blocking(&url, request.to_string().into_bytes());
    assert_eq!(status, 200, "{body}");
    std::fs::write(directory.path().join("answer.json"), body.to_string()).unwrap();
    drop(node);
    let keys = cli.ok(&["verify-proof", "answer.json"]);
    assert!(keys.starts_with("verified: ") && keys.contains("getPosition"), "{keys}");
    assert!(keys.contains("every figure is what they give"), "{keys}");

    let verified = cli.ok(&["verify-proof", "position.json"]);
    assert!(verified.starts_with("verified: "), "{verified}");
    // A single node's header carries no certificate; nothing checked it.
    assert!(verified.contains("\nnot checked: the header"), "{verified}");
    assert!(cli.ok(&["verify-proof", "absent.json"]).contains("= absent at height 1"));
    cli.ok(&["verify-proof", "config.json"]);

    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(directory.path().join("position.json")).unwrap()).unwrap();
    let refused = |name: &str, changed: Value, reason: &str| {
        std::fs::write(directory.path().join(name), changed.to_string()).unwrap();
        let (success, stdout, stderr) = cli.run(&["verify-proof", name]);
        assert!(!success, "{name} verified: {stdout}");
        assert!(stderr.contains(reason), "{name}: {stderr}");
    };
    let flip = |text: &str, at: usize| {
        let (prefix, digits) = text.strip_prefix("0x").map_or(("", text), |digits| ("0x", digits));
        let mut bytes = hex::decode(digits).unwrap();
        bytes[at] ^= 1;
        format!("{prefix}{}", hex::encode(bytes))
    };
    let mut value = saved.clone();
    value["value"] = Value::String(flip(saved["value"].as_str().unwrap(), 0));
    refused("value.json", value, "does not verify");
    let mut proof = saved.clone();
    let proof_text = saved["proof"].as_str().unwrap();
    proof["proof"] = Value::String(flip(proof_text, proof_text.len() / 4));
    refused("proof.json", proof, "does not verify");
    let mut header = saved.clone();
    header["header"]["stateRoot"] = Value::String(flip(saved["header"]["stateRoot"].as_str().unwrap(), 31));
    refused("header.json", header, "does not verify");
    let mut absent = saved.clone();
    absent["value"] = Value::Null;
    refused("claimed-absent.json", absent, "does not verify");
    let mut bundle = body.clone();
    bundle["result"]["proofs"]["entries"][0]["value"] = Value::String("00".to_string());
    refused("bundle.json", bundle, "does not verify");
    // Valid proofs beside a false figure: the figures are recomputed.
    let mut figure = body.clone();
    figure["result"]["assets"][0]["deposit"] = Value::String("1".to_string());
    refused("figure.json", figure, "assets[0].deposit: the answer says \"1\"");
    let proofs_only = serde_json::json!({"proofs": body["result"]["proofs"]});
    std::fs::write(directory.path().join("proofs.json"), proofs_only.to_string()).unwrap();
    assert!(cli.ok(&["verify-proof", "proofs.json"]).contains("no figure was checked"));
    refused("nonsense.json", serde_json::json!({"hello": 1}), "neither a getProof answer nor proofs");
}

/// On a chain of validators (one, deciding alone: a real validator-mode
/// node), `parlend query proof` saves the header's commit certificate with
/// the proof, and `parlend verify-proof --genesis` checks it against the
/// genesis validators; without `--genesis` it says the header was not
/// checked. A changed signature, another block's certificate and a file
/// without one are refused.
#[test]
fn a_validators_proof_carries_a_certificate_checked_against_the_genesis() {
    let directory = tempfile::tempdir().unwrap();
    let status = Command::new(parlend_binary())
        .args(["testnet", "init", "--validators", "1", "--block-time-ms", "100", "--out", "net", "--base-port"])
        .arg(testnet_base_port(3).to_string())
        .current_dir(directory.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "testnet init failed");
    let node = ChildNode::spawn_config(&directory.path().join("net/node0/config.toml"), &["--rpc-addr", "127.0.0.1:0"]);
    let url = node.url.clone();
    let cli = Cli { url: &url, directory: directory.path() };
    // Wait for height 2, so that block 1's certificate is another block's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let saved = loop {
        let answer: Value =
            serde_json::from_str(&cli.ok(&["query", "proof", "config", "--out", "config.json"])).unwrap();
        if answer["height"].as_u64().unwrap() >= 2 {
            break answer;
        }
        assert!(std::time::Instant::now() < deadline, "the validator did not decide block 2 in time");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let height = saved["height"].as_u64().unwrap();
    assert!(saved["certificate"]["signatures"].as_array().is_some_and(|signatures| signatures.len() == 1), "{saved}");
    let rpc = |method: &str, params: Value| {
        let request = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, body) = parlend_tests::post_blocking(&url, request.to_string().into_bytes());
        assert_eq!(status, 200, "{body}");
        body
    };
    let market = rpc("getMarket", serde_json::json!({"asset": "USDC", "proof": true}));
    assert!(market["result"]["proofs"]["certificate"].is_object(), "{market}");
    std::fs::write(directory.path().join("market.json"), market.to_string()).unwrap();
    let other_block = rpc("getBlock", serde_json::json!({"height": height - 1}));
    node.kill();

    let genesis = ["--genesis", "net/genesis.json"];
    let certified = cli.ok(&[&["verify-proof", "config.json"][..], &genesis].concat());
    assert!(certified.starts_with("verified: config = "), "{certified}");
    let decided = format!("at height {height} was decided by 1 of the genesis's 1 validators (10 of 10 voting power");
    assert!(certified.contains("\ncertified: block ") && certified.contains(&decided), "{certified}");
    let answer = cli.ok(&[&["verify-proof", "market.json"][..], &genesis].concat());
    assert!(answer.contains("every figure is what they give") && answer.contains("\ncertified: block "), "{answer}");
    let unchecked = cli.ok(&["verify-proof", "config.json"]);
    assert!(unchecked.contains("\nnot checked: the header") && unchecked.contains("give --genesis"), "{unchecked}");

    let refused = |name: &str, changed: Value, reason: &str| {
        std::fs::write(directory.path().join(name), changed.to_string()).unwrap();
        let (success, stdout, stderr) = cli.run(&[&["verify-proof", name][..], &genesis].concat());
        assert!(!success, "{name} verified: {stdout}");
        assert!(stdout.is_empty(), "{name} printed {stdout}");
        assert!(stderr.contains("is not certified") && stderr.contains(reason), "{name}: {stderr}");
    };
    let mut forged = saved.clone();
    let signature = saved["certificate"]["signatures"][0]["signature"].as_str().unwrap();
    let mut bytes = hex::decode(signature.trim_start_matches("0x")).unwrap();
    bytes[7] ^= 1;
    let prefix = if signature.starts_with("0x") { "0x" } else { "" };
    forged["certificate"]["signatures"][0]["signature"] = Value::String(format!("{prefix}{}", hex::encode(bytes)));
    refused("forged.json", forged, "does not verify");
    let mut elsewhere = saved.clone();
    elsewhere["certificate"] = other_block["result"]["certificate"].clone();
    assert!(elsewhere["certificate"].is_object(), "{other_block}");
    refused("elsewhere.json", elsewhere, "does not certify block");
    let mut stripped = saved.clone();
    stripped.as_object_mut().unwrap().remove("certificate");
    refused("stripped.json", stripped, "carries no commit certificate");
}

/// `parlend bench rpc` end to end (it starts its own node): every
/// transaction of a small lending workload, sent in several calls from two
/// connections at an offered rate, is committed and timed, nothing is
/// refused, and the report's figures are consistent with each other.
#[test]
fn bench_rpc_commits_and_times_every_transaction() {
    let directory = tempfile::tempdir().unwrap();
    let cli = Cli { url: "http://127.0.0.1:1", directory: directory.path() };
    let args = ["bench", "rpc", "--workload", "lending-mix", "--txs", "600", "--signers", "40", "--batch", "50"];
    let report = cli.json(&[&args[..], &["--rate", "1500"]].concat());
    assert_eq!(report["transactions"], 600);
    assert_eq!(report["committed"], 600, "{report}");
    assert_eq!(report["rejected"], serde_json::json!({}), "{report}");
    let blocks = report["blockList"].as_array().unwrap();
    let in_blocks: u64 = blocks.iter().map(|block| block[0].as_u64().unwrap()).sum();
    assert_eq!(in_blocks, 600, "every committed transaction is in a listed block");
    assert!(blocks.len() >= 2, "an offered rate spreads the run over several blocks: {report}");
    let latency = &report["latencyMs"];
    let (p50, p99, max) =
        (latency["p50"].as_f64().unwrap(), latency["p99"].as_f64().unwrap(), latency["max"].as_f64().unwrap());
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{latency}");
    let (committed_tps, ceiling) =
        (report["committedTps"].as_f64().unwrap(), report["signatureCeilingTps"].as_f64().unwrap());
    assert!(committed_tps > 0.0 && ceiling > 0.0);
    let (before, after) =
        (report["signatureCeilingBeforeTps"].as_f64().unwrap(), report["signatureCeilingAfterTps"].as_f64().unwrap());
    assert!((ceiling - (before + after) / 2.0).abs() < 1e-6, "the ceiling is the mean of both: {report}");
    assert!((report["committedOverCeiling"].as_f64().unwrap() - committed_tps / ceiling).abs() < 1e-9);
    assert!(report["nodeCpuMicrosPerTransaction"].as_f64().unwrap() > 0.0, "{report}");
    assert_eq!(report["commitsSeenBy"], "subscription", "the watcher follows the node's heads subscription");
}
