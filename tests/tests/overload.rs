//! A client floods a node (a child process, so its memory can be measured)
//! far beyond its limits: the node sheds with 503 at once, keeps answering
//! `getHead` within a bounded time, loses no accepted transaction, and its
//! memory stays bounded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parlend_ledger::{Hash, Keypair};
use parlend_tests::{ChildNode, asset, dev_keypair, post_blocking, signed_transfer, tokens};
use serde_json::{Value, json};

const FLOODERS: u8 = 12;
const FLOOD: Duration = Duration::from_secs(4);
const GET_HEAD_LATENCY_MAX: Duration = Duration::from_secs(1);
const RSS_GROWTH_MAX_KIB: u64 = 256 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn rpc(url: &str, method: &str, params: Value) -> (u16, Value) {
    post_blocking(url, json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string().into_bytes())
}

#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    shed: AtomicU64,
    full: AtomicU64,
}

/// Sends transfers from `key` as fast as it can until `deadline`, with a
/// simulation between each; returns the ids the node accepted.
fn flood(url: &str, key: &Keypair, deadline: Instant, tally: &Tally) -> Vec<Hash> {
    let mut accepted = Vec::new();
    let mut nonce = 0;
    let to = dev_keypair(9).address();
    while Instant::now() < deadline {
        let transaction = signed_transfer(key, nonce, to, asset("USDC"), tokens("USDC", 1));
        let (status, body) = rpc(url, "sendTransaction", json!({"transaction": hex::encode(transaction.encode())}));
        match (status, body["error"]["code"].as_i64()) {
            (200, None) => {
                accepted.push(transaction.hash());
                nonce += 1;
                tally.accepted.fetch_add(1, Ordering::Relaxed);
            }
            (503, Some(code)) => {
                assert_eq!(code, i64::from(parlend_rpc::error::SERVER_BUSY), "{body}");
                tally.shed.fetch_add(1, Ordering::Relaxed);
            }
            (200, Some(1030 | 1031)) => {
                tally.full.fetch_add(1, Ordering::Relaxed);
            }
            other => panic!("unexpected answer to a flood transaction: {other:?}"),
        }
        let simulate = json!({"signer": key.address(), "instructions": [
            {"type": "transfer", "to": to, "asset": "USDC", "amount": "1"}]});
        let (status, body) = rpc(url, "simulateTransaction", simulate);
        assert!(status == 200 || status == 503, "simulate: HTTP {status}: {body}");
    }
    accepted
}

#[test]
fn a_flood_is_shed_while_get_head_answers_and_nothing_accepted_is_lost() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(
        &directory.path().join("chain"),
        &[
            "--block-time-ms",
            "0",
            "--no-fsync",
            "--rpc-requests-in-flight-max",
            "2",
            "--rpc-light-requests-in-flight-max",
            "8",
            "--mempool-capacity",
            "400",
            "--mempool-per-signer",
            "50",
        ],
    );
    let url = node.url.clone();
    let pid = node.child.id();
    let keys: Vec<Keypair> = (0..FLOODERS).map(|index| Keypair::from_seed(&[index + 100; 32])).collect();
    for key in &keys {
        let (_, body) =
            rpc(&url, "dev_faucet", json!({"address": key.address(), "asset": "USDC", "amount": "1000000000"}));
        assert_eq!(body["result"]["status"], "committed", "{body}");
    }
    let rss_before = rss_kib(pid);

    let tally = Arc::new(Tally::default());
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + FLOOD;
    let flooders: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let (url, tally) = (url.clone(), tally.clone());
            std::thread::spawn(move || (key.address(), flood(&url, &key, deadline, &tally)))
        })
        .collect();
    let probe = {
        let (url, latencies) = (url.clone(), latencies.clone());
        std::thread::spawn(move || {
            while Instant::now() < deadline {
                let started = Instant::now();
                let (status, body) = rpc(&url, "getHead", json!({}));
                assert_eq!(status, 200, "getHead during the flood: {body}");
                assert!(body["result"]["height"].is_u64(), "{body}");
                latencies.lock().unwrap().push(started.elapsed());
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut accepted = Vec::new();
    for flooder in flooders {
        accepted.push(flooder.join().expect("a flooder panicked"));
    }
    probe.join().expect("the getHead probe failed");
    let rss_after = rss_kib(pid);

    let (shed, total) = (tally.shed.load(Ordering::Relaxed), tally.accepted.load(Ordering::Relaxed));
    assert!(shed > 0, "nothing was shed ({total} accepted): the limits were not reached");
    assert!(total > 0, "nothing was accepted");
    let latencies = latencies.lock().unwrap();
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    assert!(latencies.len() > 20, "only {} probes", latencies.len());
    assert!(slowest < GET_HEAD_LATENCY_MAX, "getHead took {slowest:?} under the flood");
    eprintln!(
        "flood: {total} accepted, {shed} shed (503), {} mempool full; getHead worst {slowest:?}; RSS {rss_before} -> {rss_after} KiB",
        tally.full.load(Ordering::Relaxed)
    );
    assert!(rss_after < rss_before + RSS_GROWTH_MAX_KIB, "memory grew from {rss_before} to {rss_after} KiB");

    // Every accepted transaction commits, and each signer's nonce counts them.
    let settle = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, head) = rpc(&url, "getHead", json!({}));
        if head["result"]["pendingTransactions"] == 0 {
            break;
        }
        assert!(Instant::now() < settle, "the mempool did not drain: {head}");
        std::thread::sleep(Duration::from_millis(50));
    }
    for (address, hashes) in &accepted {
        let (_, account) = rpc(&url, "getAccount", json!({"address": address}));
        assert_eq!(account["result"]["nonce"], json!(hashes.len()), "{account}");
        for hash in hashes {
            let (_, status) = rpc(&url, "getTransactionStatus", json!({"hash": hash}));
            assert_eq!(status["result"]["status"], "committed", "{status}");
        }
    }
    node.kill();
}
