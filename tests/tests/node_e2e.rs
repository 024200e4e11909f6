//! A real node on RocksDB, driven over HTTP with the Rust client.

use parlend_ledger::Hash;
use parlend_rpc::types::{BlockParams, OutcomeView, TxState};
use parlend_tests::{TestNode, asset, dev_keypair, tokens};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_commit_with_receipts_and_chained_blocks() {
    let directory = tempfile::tempdir().unwrap();
    let node = TestNode::on_rocksdb(directory.path()).await;
    let client = &node.client;
    let alice = dev_keypair(1);
    let bob = dev_keypair(2);
    let usdc = asset("USDC");

    let genesis = client.head().await.unwrap();
    assert_eq!(genesis.height, 0);

    let before_alice = client.balances(alice.address()).await.unwrap();
    let before_bob = client.balances(bob.address()).await.unwrap();
    let balance =
        |view: &parlend_rpc::types::BalancesView| view.balances.iter().find(|b| b.asset == usdc).unwrap().amount;

    // Three transfers, each waited for: each lands in its own block.
    let mut hashes = Vec::new();
    for amount in [tokens("USDC", 100), tokens("USDC", 250), tokens("USDC", 1)] {
        let instruction = parlend_contracts::Instruction::Transfer { to: bob.address(), asset: usdc, amount };
        let status = client.submit(&alice, vec![instruction], true).await.unwrap();
        assert_eq!(status.status, TxState::Committed, "{status:?}");
        let receipt = status.receipt.unwrap();
        assert_eq!(receipt.outcome, OutcomeView::Success);
        hashes.push(status.hash);
    }

    let after_alice = client.balances(alice.address()).await.unwrap();
    let after_bob = client.balances(bob.address()).await.unwrap();
    let moved = tokens("USDC", 351).0;
    assert_eq!(balance(&after_alice).0, balance(&before_alice).0 - moved);
    assert_eq!(balance(&after_bob).0, balance(&before_bob).0 + moved);
    assert_eq!(client.account(alice.address()).await.unwrap().nonce, 3);

    // Receipts are retrievable by hash and point at their blocks.
    for hash in &hashes {
        let receipt = client.receipt(*hash).await.unwrap().expect("receipt");
        let block = client
            .block(&BlockParams { height: Some(receipt.block_height), ..Default::default() })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(block.hash, receipt.block_hash);
        assert_eq!(block.transactions[receipt.index as usize], *hash);
        let by_hash =
            client.block(&BlockParams { hash: Some(block.hash), ..Default::default() }).await.unwrap().unwrap();
        assert_eq!(by_hash.header, block.header);
    }

    // Every block's parent hash is the previous block's hash, back to genesis.
    let head = client.head().await.unwrap();
    assert!(head.height >= 3);
    let mut parent = Hash::ZERO;
    for height in 0..=head.height {
        let block = client.block(&BlockParams { height: Some(height), ..Default::default() }).await.unwrap().unwrap();
        assert_eq!(block.header.height, height);
        assert_eq!(block.header.parent_hash, parent, "block {height} does not chain to its parent");
        assert_eq!(block.hash, block.header.hash());
        parent = block.hash;
    }
    assert_eq!(parent, head.hash);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_beyond_balance_is_included_as_failed_and_moves_nothing() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    let poor = parlend_ledger::Keypair::from_seed(&[42; 32]);
    let usdc = asset("USDC");
    // Give the new account a little, so it can pay for nothing but exist.
    let rich = dev_keypair(3);
    let fund = parlend_contracts::Instruction::Transfer { to: poor.address(), asset: usdc, amount: tokens("USDC", 5) };
    client.submit(&rich, vec![fund], true).await.unwrap();

    let too_much =
        parlend_contracts::Instruction::Transfer { to: rich.address(), asset: usdc, amount: tokens("USDC", 6) };
    let status = client.submit(&poor, vec![too_much], true).await.unwrap();
    assert_eq!(status.status, TxState::Failed);
    match status.receipt.unwrap().outcome {
        OutcomeView::Failed { reason, code, instruction, detail } => {
            assert_eq!(reason, "InsufficientBalance");
            assert_eq!(parlend_contracts::failure::reason_name(code), Some("InsufficientBalance"));
            assert_eq!(instruction, 0);
            let Some(parlend_contracts::Failure::InsufficientBalance { amount, .. }) = detail else {
                panic!("the failure carries the amount asked: {detail:?}")
            };
            assert!(amount > parlend_ledger::Amount::ZERO);
        }
        other => panic!("expected a failed receipt, got {other:?}"),
    }
    // Nothing moved; the nonce was consumed.
    let balances = client.balances(poor.address()).await.unwrap();
    assert_eq!(balances.balances.iter().find(|b| b.asset == usdc).unwrap().amount, tokens("USDC", 5));
    assert_eq!(client.account(poor.address()).await.unwrap().nonce, 1);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_has_the_same_state() {
    let directory = tempfile::tempdir().unwrap();
    let (head, balances) = {
        let node = TestNode::on_rocksdb(directory.path()).await;
        let to = dev_keypair(5).address();
        let transfer = parlend_contracts::Instruction::Transfer { to, asset: asset("WETH"), amount: tokens("WETH", 2) };
        node.client.submit(&dev_keypair(4), vec![transfer], true).await.unwrap();
        let head = node.client.head().await.unwrap();
        let balances = node.client.balances(to).await.unwrap();
        node.stop().await;
        (head, balances)
    };
    let node = TestNode::on_rocksdb(directory.path()).await;
    let reopened = node.client.head().await.unwrap();
    assert_eq!(reopened.height, head.height);
    assert_eq!(reopened.hash, head.hash);
    assert_eq!(reopened.state_root, head.state_root);
    assert_eq!(node.client.balances(dev_keypair(5).address()).await.unwrap(), balances);
    node.stop().await;
}

/// The node answers `getBlock` and `getTransaction` for its last blocks
/// from memory: the same answers, byte for byte, as a restarted node gives
/// from the store, for blocks within the kept ones and older than them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_blocks_from_memory_answer_as_the_store_does() {
    let directory = tempfile::tempdir().unwrap();
    let blocks = parlend_node::node::BLOCKS_KEPT + 4;
    let answers = |client: parlend_rpc::Client, hashes: Vec<Hash>| async move {
        let mut answers = Vec::new();
        for height in 0..=client.head().await.unwrap().height {
            let params = BlockParams { height: Some(height), full: true, ..Default::default() };
            let mut block = client.block(&params).await.unwrap().unwrap();
            // How this node executed the block is not part of the chain: a
            // restarted node no longer knows it.
            block.execution = None;
            answers.push(serde_json::to_string(&block).unwrap());
        }
        for hash in hashes {
            answers.push(serde_json::to_string(&client.transaction(hash).await.unwrap().unwrap()).unwrap());
        }
        answers
    };
    let (hashes, before) = {
        let node = TestNode::on_rocksdb(directory.path()).await;
        let mut hashes = Vec::new();
        for round in 0..blocks {
            let to = dev_keypair(3).address();
            let amount = tokens("USDC", 1 + round as u128);
            let transfer = parlend_contracts::Instruction::Transfer { to, asset: asset("USDC"), amount };
            let status = node.client.submit(&dev_keypair(2), vec![transfer], true).await.unwrap();
            assert_eq!(status.status, TxState::Committed, "{status:?}");
            hashes.push(status.hash);
        }
        let before = answers(node.client.clone(), hashes.clone()).await;
        node.stop().await;
        (hashes, before)
    };
    assert!(before.len() > 2 * blocks, "one answer per block and per transaction");
    let node = TestNode::on_rocksdb(directory.path()).await;
    assert_eq!(answers(node.client.clone(), hashes).await, before);
    node.stop().await;
}
