//! Crash safety: a node process under load is killed with SIGKILL, again and
//! again. After every restart, every transaction acknowledged as committed is
//! still there in the same block, the chain continues from its last committed
//! block, and no token was created or lost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parlend_contracts::Instruction;
use parlend_ledger::{Amount, AssetId, Hash};
use parlend_rpc::Client;
use parlend_rpc::types::{BlockParams, TxState};
use parlend_tests::{ChildNode, asset, dev_keypair, tokens};

/// A transaction the node acknowledged as committed, and where.
#[derive(Debug, Clone)]
struct Acked {
    hash: Hash,
    height: u64,
    block_hash: Hash,
}

const SENDERS: u32 = 4;
const ROUNDS: usize = 5;

async fn total_supply(client: &Client) -> BTreeMap<AssetId, u128> {
    let mut totals = BTreeMap::new();
    for index in 0..10 {
        let balances = client.balances(dev_keypair(index).address()).await.expect("balances");
        for balance in balances.balances {
            *totals.entry(balance.asset).or_insert(0u128) += balance.amount.0;
        }
    }
    totals
}

/// Sends transfers from one dev account until the node dies; records every
/// transaction acknowledged as committed.
async fn load(url: String, sender: u32, acked: Arc<std::sync::Mutex<Vec<Acked>>>) {
    let Ok(client) = Client::new(&url) else {
        return;
    };
    let key = dev_keypair(sender);
    let mut round = 0u32;
    loop {
        round += 1;
        let to = dev_keypair((sender + 1 + round % 5) % 10).address();
        let symbol = ["USDC", "WETH", "WBTC"][(round % 3) as usize];
        let amount = Amount(tokens(symbol, 1).0 / 1000 * u128::from(1 + round % 7));
        let instruction = Instruction::Transfer { to, asset: asset(symbol), amount };
        match client.submit(&key, vec![instruction], true).await {
            Ok(status) if status.status == TxState::Committed => {
                let receipt = status.receipt.expect("committed transactions have receipts");
                acked.lock().unwrap().push(Acked {
                    hash: status.hash,
                    height: receipt.block_height,
                    block_hash: receipt.block_hash,
                });
            }
            Ok(status) => panic!("a transfer between funded dev accounts failed: {status:?}"),
            // The node died (or is dying): stop.
            Err(_) => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_blocks_survive_sigkill() {
    let directory = tempfile::tempdir().unwrap();
    let acked: Arc<std::sync::Mutex<Vec<Acked>>> = Arc::default();
    let mut supply: Option<BTreeMap<AssetId, u128>> = None;
    let mut last_head = 0u64;

    for round in 0..ROUNDS {
        let node = ChildNode::spawn(directory.path(), &["--block-time-ms", "20"]);
        let client = Client::new(&node.url).unwrap();

        // Everything acknowledged before the last kill is still there, in the same block.
        let head = client.head().await.unwrap();
        assert!(head.height >= last_head, "round {round}: head went back from {last_head} to {}", head.height);
        let acknowledged = acked.lock().unwrap().clone();
        for tx in acknowledged {
            let receipt =
                client.receipt(tx.hash).await.unwrap().unwrap_or_else(|| panic!("round {round}: {} lost", tx.hash));
            assert_eq!(
                (receipt.block_height, receipt.block_hash),
                (tx.height, tx.block_hash),
                "round {round}: {} moved",
                tx.hash
            );
            let block =
                client.block(&BlockParams { height: Some(tx.height), ..Default::default() }).await.unwrap().unwrap();
            assert_eq!(block.hash, tx.block_hash);
        }
        // Conservation: transfers among dev accounts create and destroy nothing.
        let totals = total_supply(&client).await;
        match &supply {
            None => supply = Some(totals),
            Some(expected) => assert_eq!(&totals, expected, "round {round}: tokens were created or lost"),
        }

        // Load from several accounts, then SIGKILL at a varying moment.
        let tasks: Vec<_> =
            (0..SENDERS).map(|sender| tokio::spawn(load(node.url.clone(), sender, acked.clone()))).collect();
        tokio::time::sleep(Duration::from_millis(600 + 250 * round as u64)).await;
        last_head = client.head().await.unwrap().height;
        node.kill();
        for task in tasks {
            task.await.unwrap();
        }
    }

    // A final restart: the chain continues from its last committed block.
    let node = ChildNode::spawn(directory.path(), &["--block-time-ms", "0"]);
    let client = Client::new(&node.url).unwrap();
    let head = client.head().await.unwrap();
    let transfer = Instruction::Transfer { to: dev_keypair(9).address(), asset: asset("USDC"), amount: Amount(1) };
    let status = client.submit(&dev_keypair(8), vec![transfer], true).await.unwrap();
    let receipt = status.receipt.unwrap();
    let block =
        client.block(&BlockParams { height: Some(receipt.block_height), ..Default::default() }).await.unwrap().unwrap();
    assert_eq!(receipt.block_height, head.height + 1);
    assert_eq!(block.header.parent_hash, head.hash);
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= ROUNDS * 5, "too little load to test anything: {} acknowledged", acked.len());
    eprintln!("{} transactions acknowledged across {ROUNDS} kills; final height {}", acked.len(), head.height);
}
