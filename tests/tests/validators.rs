//! Four validators, each its own `parlend run` process on 127.0.0.1,
//! decide every block through the consensus engine:
//!
//! - under a lending workload sent to all of them, every node has the same
//!   block hash at every height, and every block's certificate verifies
//!   against the genesis validators;
//! - a validator killed with SIGKILL and restarted catches up (value sync)
//!   and agrees; with two of four down nothing is decided (no fork), and
//!   the chain resumes when they return;
//! - a proposer that lies about the state root is voted down by the others,
//!   and the chain goes on without its blocks;
//! - `/health` lists each validator's connected consensus peers, and the
//!   consensus metrics count failed rounds, nil votes, proposals and synced
//!   blocks; honest validators refuse none of each other's proposal parts
//!   but stale ones.
//!
//! Every process is killed when its `ChildNode` drops; every wait is bounded.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use parlend_app::certificate::{CommitCertificate, CommitSignature, ValidatorSet};
use parlend_contracts::genesis::Genesis;
use parlend_contracts::{AmountOrAll, Instruction};
use parlend_ledger::Hash;
use parlend_rpc::client::Client;
use parlend_rpc::types::{BlockParams, BlockView, HealthView, OutcomeView, TxState};
use parlend_tests::{ChildNode, asset, dev_keypair, parlend_binary, post_prices, submit_ok, testnet_base_port, tokens};

const VALIDATORS: usize = 4;

/// Bounds every wait for the chain to move.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(90);

struct Testnet {
    dir: tempfile::TempDir,
    nodes: Vec<Option<ChildNode>>,
    validators: ValidatorSet,
}

impl Testnet {
    fn init(salt: u16) -> Testnet {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("net");
        let status = Command::new(parlend_binary())
            .args(["testnet", "init", "--validators", "4", "--block-time-ms", "150", "--base-port"])
            .arg(testnet_base_port(salt).to_string())
            .arg("--out")
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "testnet init failed");
        let genesis: Genesis =
            serde_json::from_str(&std::fs::read_to_string(out.join("genesis.json")).unwrap()).unwrap();
        let validators = ValidatorSet::from_genesis(&genesis.validators);
        assert_eq!(validators.validators().len(), VALIDATORS);
        Testnet { dir, nodes: (0..VALIDATORS).map(|_| None).collect(), validators }
    }

    fn config(&self, index: usize) -> PathBuf {
        self.dir.path().join("net").join(format!("node{index}")).join("config.toml")
    }

    fn start(&mut self, index: usize, extra: &[&str]) {
        self.nodes[index] = Some(ChildNode::spawn_config(&self.config(index), extra));
    }

    fn kill(&mut self, index: usize) {
        if let Some(node) = self.nodes[index].take() {
            node.kill();
        }
    }

    fn client(&self, index: usize) -> Client {
        Client::new(&self.nodes[index].as_ref().expect("a running validator").url).unwrap()
    }

    fn running(&self) -> Vec<usize> {
        (0..VALIDATORS).filter(|index| self.nodes[*index].is_some()).collect()
    }
}

async fn height(client: &Client) -> u64 {
    client.head().await.map(|head| head.height).unwrap_or(0)
}

/// Waits until every running validator has committed `target`.
async fn wait_all(net: &Testnet, target: u64) {
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    for index in net.running() {
        let client = net.client(index);
        while height(&client).await < target {
            assert!(Instant::now() < deadline, "validator {index} did not reach height {target} in time");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn block(client: &Client, height: u64) -> BlockView {
    client.block(&BlockParams { height: Some(height), ..BlockParams::default() }).await.unwrap().unwrap()
}

/// Every running validator has the same block at every height up to
/// `through`, and each block's certificate proves it.
async fn assert_agree(net: &Testnet, through: u64) {
    let running = net.running();
    for height in 1..=through {
        let reference = block(&net.client(running[0]), height).await;
        check_certificate(&net.validators, &reference);
        for index in &running[1..] {
            let other = block(&net.client(*index), height).await;
            assert_eq!(other.hash, reference.hash, "validators {} and {index} differ at {height}", running[0]);
        }
    }
}

async fn get_text(url: String) -> String {
    tokio::task::spawn_blocking(move || ureq::get(&url).call().unwrap().body_mut().read_to_string().unwrap())
        .await
        .unwrap()
}

/// Waits until every running validator's `/health` lists `count`
/// connected consensus peers, each known as a genesis validator.
async fn wait_peers(net: &Testnet, count: u64) {
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    for index in net.running() {
        let url = format!("{}/health", net.nodes[index].as_ref().expect("running").url);
        loop {
            let health: HealthView = serde_json::from_str(&get_text(url.clone()).await).unwrap();
            let consensus = health.consensus.expect("a validator reports its consensus");
            let validators = consensus
                .peers
                .iter()
                .filter(|peer| peer.validator.is_some_and(|key| net.validators.get(&key).is_some()))
                .count();
            if consensus.peer_count == count && validators as u64 == count {
                break;
            }
            assert!(Instant::now() < deadline, "validator {index} has not {count} validator peers: {consensus:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The value of a metric line `name` (with its labels) in `/metrics`.
async fn metric(net: &Testnet, index: usize, name: &str) -> f64 {
    let text = get_text(format!("{}/metrics", net.nodes[index].as_ref().expect("running").url)).await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics of validator {index}:\n{text}"))
}

fn check_certificate(validators: &ValidatorSet, block: &BlockView) {
    let view = block.certificate.as_ref().unwrap_or_else(|| panic!("block {} has no certificate", block.header.height));
    let certificate = CommitCertificate {
        height: block.header.height,
        round: view.round,
        block_hash: block.hash,
        signatures: view
            .signatures
            .iter()
            .map(|commit| CommitSignature { validator: commit.validator, signature: commit.signature })
            .collect(),
    };
    certificate.verify(validators, block.header.height, &block.hash).unwrap();
}

/// Lending traffic from dev accounts 1..=8, each account through its own
/// validator (relayed to the others), all of it committed and successful.
async fn lending_round(net: &Testnet, round: u32) {
    let running = net.running();
    let mut tasks = Vec::new();
    for account in 1..=8u32 {
        let client = net.client(running[account as usize % running.len()]);
        tasks.push(tokio::spawn(async move {
            let key = dev_keypair(account);
            let steps = vec![
                Instruction::Deposit { asset: asset("WETH"), amount: tokens("WETH", 2) },
                Instruction::Borrow { asset: asset("USDC"), amount: tokens("USDC", 100 + u128::from(round)) },
                Instruction::Repay {
                    asset: asset("USDC"),
                    amount: AmountOrAll::Amount(tokens("USDC", 50)),
                    on_behalf_of: None,
                },
            ];
            for instruction in steps {
                let status = client.submit(&key, vec![instruction], true).await.expect("submitted");
                assert_eq!(status.status, TxState::Committed, "{status:?}");
                let outcome = status.receipt.expect("a receipt").outcome;
                assert_eq!(outcome, OutcomeView::Success, "account {account}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

async fn max_height(net: &Testnet) -> u64 {
    let mut max = 0;
    for index in net.running() {
        max = max.max(height(&net.client(index)).await);
    }
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_agree_under_load_and_through_crashes() {
    let started = Instant::now();
    let step = |what: &str| println!("{:>6.1} s  {what}", started.elapsed().as_secs_f64());
    let mut net = Testnet::init(0);
    for index in 0..VALIDATORS {
        net.start(index, &[]);
    }
    wait_all(&net, 2).await;
    wait_peers(&net, 3).await;
    step("4 validators deciding, each with 3 validator peers");
    post_prices(&net.client(0), &[("USDC", 1), ("WETH", 3_000), ("WBTC", 60_000), ("TBILL", 1)]).await;
    // Dev account 9 supplies the USDC the others borrow.
    let supply = Instruction::Deposit { asset: asset("USDC"), amount: tokens("USDC", 500_000) };
    submit_ok(&net.client(1), &dev_keypair(9), vec![supply]).await;
    lending_round(&net, 0).await;
    let through = max_height(&net).await;
    wait_all(&net, through).await;
    assert_agree(&net, through).await;
    step("lending round 0 committed, all agree");

    // A price drop makes account 1 liquidatable; dev account 9 liquidates
    // it through another validator than the one the borrower uses.
    let borrower = dev_keypair(1);
    let borrow = Instruction::Borrow { asset: asset("USDC"), amount: tokens("USDC", 4_500) };
    submit_ok(&net.client(1), &borrower, vec![borrow]).await;
    post_prices(&net.client(2), &[("WETH", 2_500)]).await;
    // The liquidator's access set is simulated on validator 3: it must have
    // committed the price drop first, or it simulates a healthy borrower.
    wait_all(&net, max_height(&net).await).await;
    let liquidation = Instruction::Liquidate {
        borrower: borrower.address(),
        debt_asset: asset("USDC"),
        collateral_asset: asset("WETH"),
        debt_to_cover: AmountOrAll::All,
        receive_deposit: false,
    };
    submit_ok(&net.client(3), &dev_keypair(9), vec![liquidation]).await;
    let through = max_height(&net).await;
    wait_all(&net, through).await;
    assert_agree(&net, through).await;
    step("price drop and liquidation committed, all agree");

    // One of four down: the other three still decide.
    net.kill(3);
    lending_round(&net, 1).await;
    let advanced = max_height(&net).await;
    wait_all(&net, advanced).await;
    // It comes back and catches up through value sync.
    net.start(3, &[]);
    wait_all(&net, advanced + 2).await;
    assert_agree(&net, advanced + 2).await;
    let received = metric(&net, 3, "parlend_consensus_sync_values_total{direction=\"received\"}").await;
    assert!(received >= 1.0, "validator 3 caught up without value sync?");
    let mut served = 0.0;
    for index in 0..3 {
        served += metric(&net, index, "parlend_consensus_sync_bytes_total{direction=\"served\"}").await;
    }
    assert!(served > 0.0, "no validator served blocks to validator 3");
    wait_peers(&net, 3).await;
    step("validator 3 killed, round 1 by three, 3 restarted and caught up");

    // Two of four down: no quorum, nothing is decided.
    net.kill(2);
    net.kill(3);
    let stalled = max_height(&net).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(max_height(&net).await <= stalled + 1, "two of four validators decided blocks alone");
    step("two down: no block decided for 3 s");
    // They return: the chain resumes, without a fork.
    net.start(2, &[]);
    net.start(3, &[]);
    lending_round(&net, 2).await;
    let resumed = max_height(&net).await;
    wait_all(&net, resumed).await;
    assert_agree(&net, resumed).await;
    // Honest validators publish their own streams, each in its round: no
    // part of them is refused for its publisher, proposer, size or share.
    for index in net.running() {
        for reason in ["malformed", "publisher", "not_proposer", "oversized", "crowded"] {
            let name = format!("parlend_consensus_parts_refused_total{{reason=\"{reason}\"}}");
            assert_eq!(metric(&net, index, &name).await, 0.0, "validator {index} refused parts: {reason}");
        }
    }

    // Offline, a validator's chain replays and its certificates verify
    // against the genesis validators.
    for index in 0..VALIDATORS {
        net.kill(index);
    }
    // Node 0 ran throughout; node 3 was killed twice and caught up by sync.
    for index in [0, 3] {
        let node = net.dir.path().join("net").join(format!("node{index}"));
        let output = Command::new(parlend_binary())
            .args(["replay", "--quiet", "--data-dir"])
            .arg(node.join("data"))
            .arg("--genesis")
            .arg(net.dir.path().join("net").join("genesis.json"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "replay failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("commit certificates verified against the genesis validators"), "{stdout}");
    }
    println!("4 validators: {resumed} blocks decided, identical on every node, through 3 SIGKILLs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proposer_lying_about_the_state_root_is_voted_down() {
    let mut net = Testnet::init(1);
    net.start(0, &["--test-wrong-state-root"]);
    for index in 1..VALIDATORS {
        net.start(index, &[]);
    }
    // Twelve heights: the liar is round 0's proposer of three of them at
    // least; each of those is decided in a later round, by an honest one.
    wait_all(&net, 12).await;
    assert_agree(&net, 12).await;
    let honest = net.client(1);
    let mut decided_late = 0;
    for height in 1..=12 {
        let block = block(&honest, height).await;
        assert_ne!(block.header.state_root, Hash([0xee; 32]), "a lying block was decided at {height}");
        if block.certificate.as_ref().is_some_and(|certificate| certificate.round > 0) {
            decided_late += 1;
        }
    }
    assert!(decided_late >= 2, "the liar's turns should each have needed another round ({decided_late})");
    // An honest validator counted the failed rounds, its nil prevotes
    // against the lie, and the proposals it assembled.
    assert!(metric(&net, 1, "parlend_consensus_rounds_failed_total").await >= 2.0);
    assert!(metric(&net, 1, "parlend_consensus_nil_votes_total{vote=\"prevote\"}").await >= 2.0);
    assert!(metric(&net, 1, "parlend_consensus_proposal_parts_count{source=\"peer\"}").await >= 8.0);
}
