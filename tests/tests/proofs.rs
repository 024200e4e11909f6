//! `getProof` against real nodes, in memory and on RocksDB: a proof for
//! every kind of state key verifies against the header it comes with, at
//! the head and at an older height; an absent key proves its absence; a
//! changed value, a changed proof byte, another height's header and an
//! absent key claimed present are each refused; a height above the head is
//! not found.

use parlend_contracts::Instruction;
use parlend_ledger::{Address, Keypair, StateKey};
use parlend_rpc::Client;
use parlend_rpc::error as codes;
use parlend_rpc::types::{BlockParams, ProofView};
use parlend_tests::{TestNode, asset, call, dev_keypair, error_code, post_prices, submit_ok, tokens};
use serde_json::json;

/// Every kind of key, for a user who has a position.
fn every_kind(owner: Address) -> Vec<StateKey> {
    let (usdc, weth) = (asset("USDC"), asset("WETH"));
    vec![
        StateKey::Config,
        StateKey::Account { owner },
        StateKey::Balance { owner, asset: usdc },
        StateKey::Position { owner },
        StateKey::MarketConfig { asset: weth },
        StateKey::MarketIndex { asset: weth },
        StateKey::MarketTotals { asset: weth },
        StateKey::Price { asset: weth },
    ]
}

/// Every way of changing an answer that must be refused.
async fn assert_tampering_refused(node: &TestNode, answer: &ProofView) {
    let value = answer.verify().expect("the answer verifies");
    if let Some(value) = &value {
        let mut changed = answer.clone();
        let mut other = value.clone();
        other[0] ^= 1;
        changed.value = Some(hex::encode(other));
        assert!(changed.verify().is_err(), "{}: a changed value verifies", answer.key);
        let mut absent = answer.clone();
        absent.value = None;
        assert!(absent.verify().is_err(), "{}: claimed absent, it verifies", answer.key);
    } else {
        let mut present = answer.clone();
        present.value = Some(hex::encode(b"present"));
        assert!(present.verify().is_err(), "{}: an absent key claimed present verifies", answer.key);
    }
    let proof = hex::decode(&answer.proof).unwrap();
    for index in 0..proof.len() {
        let mut tampered = proof.clone();
        tampered[index] ^= 0x10;
        let changed = ProofView { proof: hex::encode(tampered), ..answer.clone() };
        assert!(changed.verify().is_err(), "{}: proof byte {index} changed, it verifies", answer.key);
    }
    let older = answer.height - 1;
    let block = node.client.block(&BlockParams { height: Some(older), ..Default::default() }).await.unwrap();
    let other_height = ProofView { height: older, header: block.unwrap().header, ..answer.clone() };
    assert!(other_height.verify().is_err(), "{}: verifies against height {older}'s root", answer.key);
}

/// Prices posted, dev:2 supplies 100,000 USDC, `user` deposits 10 WETH and
/// borrows 1,000 USDC in one transaction; the height before that one.
async fn supplier_and_borrower(client: &Client, user: &Keypair) -> u64 {
    let (usdc, weth) = (asset("USDC"), asset("WETH"));
    post_prices(client, &[("USDC", 1), ("WETH", 3_000), ("WBTC", 60_000), ("TBILL", 1)]).await;
    submit_ok(client, &dev_keypair(2), vec![Instruction::Deposit { asset: usdc, amount: tokens("USDC", 100_000) }])
        .await;
    let before = client.head().await.unwrap().height;
    submit_ok(
        client,
        user,
        vec![
            Instruction::Deposit { asset: weth, amount: tokens("WETH", 10) },
            Instruction::Borrow { asset: usdc, amount: tokens("USDC", 1_000) },
        ],
    )
    .await;
    before
}

async fn proofs_hold(node: &TestNode) {
    let client = &node.client;
    let (user, usdc) = (dev_keypair(1), asset("USDC"));
    let before = supplier_and_borrower(client, &user).await;
    let head = client.head().await.unwrap();

    for key in every_kind(user.address()) {
        let answer = client.proof(key, None).await.unwrap();
        assert_eq!((answer.key, answer.height), (key, head.height));
        assert_eq!(answer.header.state_root, head.state_root);
        assert_eq!(answer.header.hash(), head.hash);
        assert!(answer.verify().unwrap().is_some(), "{key} is present at the head");
        assert_tampering_refused(node, &answer).await;
    }

    // At an older height the user had no position: its absence is proven
    // against that height's header, and the head's position is not.
    let position = StateKey::Position { owner: user.address() };
    let old = client.proof(position, Some(before)).await.unwrap();
    assert_eq!(old.header.height, before);
    assert_eq!(old.verify().unwrap(), None);
    assert_tampering_refused(node, &old).await;
    let now = client.proof(position, None).await.unwrap();
    assert_ne!(old.header.state_root, now.header.state_root);
    assert!(ProofView { height: before, header: old.header.clone(), ..now.clone() }.verify().is_err());
    // Older heights' proofs of present keys verify too.
    let config = client.proof(StateKey::Config, Some(1)).await.unwrap();
    assert!(config.verify().unwrap().is_some());

    // A key nobody ever wrote proves its absence.
    let stranger = StateKey::Balance { owner: Address([0xee; 32]), asset: usdc };
    let absent = client.proof(stranger, None).await.unwrap();
    assert_eq!((absent.value.as_deref(), absent.verify().unwrap()), (None, None));
    assert_tampering_refused(node, &absent).await;

    // Above the head: not found, with its stable code.
    let (_, body) = call(&node.url, "getProof", json!({"key": "config", "height": head.height + 1})).await;
    assert_eq!(error_code(&body), i64::from(codes::NOT_FOUND), "{body}");
    let (_, body) = call(&node.url, "getProof", json!({"key": {"account": {"owner": "00"}}})).await;
    assert_eq!(error_code(&body), i64::from(codes::INVALID_PARAMS), "{body}");
    // The key as JSON, as in access sets.
    let (_, body) = call(
        &node.url,
        "getProof",
        json!({"key": {"balance": {"owner": user.address().to_string(), "asset": "USDC"}}}),
    )
    .await;
    let answer: ProofView = serde_json::from_value(body["result"].clone()).expect("a proof answer");
    assert_eq!(answer.key, StateKey::Balance { owner: user.address(), asset: usdc });
    answer.verify().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_a_node_in_memory() {
    let node = TestNode::in_memory().await;
    proofs_hold(&node).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_a_node_on_rocksdb_and_after_it_restarts() {
    let directory = tempfile::tempdir().unwrap();
    let node = TestNode::on_rocksdb(directory.path()).await;
    proofs_hold(&node).await;
    let head = node.client.head().await.unwrap();
    node.stop().await;
    // Reopened, the store checks its tree against its state and still
    // proves every height.
    let node = TestNode::on_rocksdb(directory.path()).await;
    for height in [1, head.height] {
        let answer = node.client.proof(StateKey::Config, Some(height)).await.unwrap();
        answer.verify().unwrap();
    }
    node.stop().await;
}

/// A node keeping 3 heights: a proof at the oldest kept height verifies,
/// one height older answers "state pruned" with its own code; an archive
/// node still proves genesis.
async fn pruned_beyond_the_window(node: &TestNode) {
    let client = &node.client;
    client.mine(8).await.unwrap();
    let head = client.head().await.unwrap().height;
    let oldest = head - 2;
    let answer = client.proof(StateKey::Config, Some(oldest)).await.unwrap();
    assert!(answer.verify().unwrap().is_some());
    assert_eq!(answer.header.height, oldest);
    let (_, body) = call(&node.url, "getProof", json!({"key": "config", "height": oldest - 1})).await;
    assert_eq!(error_code(&body), i64::from(codes::PRUNED), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("pruned") && message.contains(&oldest.to_string()), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_beyond_the_state_history_are_pruned() {
    let mut config = parlend_node::node::NodeConfig::new(parlend_contracts::dev::dev_genesis());
    config.state_history = Some(3);
    let node = TestNode::start(config).await;
    pruned_beyond_the_window(&node).await;
    node.stop().await;

    let directory = tempfile::tempdir().unwrap();
    let mut config = parlend_node::node::NodeConfig::new(parlend_contracts::dev::dev_genesis());
    config.data_dir = Some(directory.path().to_path_buf());
    config.state_history = Some(3);
    let node = TestNode::start(config).await;
    pruned_beyond_the_window(&node).await;
    node.stop().await;

    let mut config = parlend_node::node::NodeConfig::new(parlend_contracts::dev::dev_genesis());
    config.state_history = None;
    let node = TestNode::start(config).await;
    node.client.mine(8).await.unwrap();
    node.client.proof(StateKey::Config, Some(0)).await.unwrap().verify().unwrap();
    node.stop().await;
}

/// `proof: true` on getPosition, getBalances and getMarket: the answer comes
/// with the proofs of every key it was computed from, at the head, and they
/// verify against the head's header; a changed entry does not; without it
/// there are no proofs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_balances_and_market_answers_carry_their_proofs() {
    use parlend_rpc::types::StateProofsView;
    let node = TestNode::in_memory().await;
    let client = &node.client;
    let (user, usdc, weth) = (dev_keypair(1), asset("USDC"), asset("WETH"));
    supplier_and_borrower(client, &user).await;
    let owner = user.address();
    let address = owner.to_string();
    for (method, params, must_prove) in [
        ("getPosition", json!({"address": address, "proof": true}), StateKey::Position { owner }),
        ("getBalances", json!({"address": address, "proof": true}), StateKey::Balance { owner, asset: usdc }),
        ("getMarket", json!({"asset": "WETH", "proof": true}), StateKey::MarketTotals { asset: weth }),
    ] {
        let head = client.head().await.unwrap();
        let (status, body) = call(&node.url, method, params.clone()).await;
        assert_eq!(status, 200, "{body}");
        let proofs: StateProofsView = serde_json::from_value(body["result"]["proofs"].clone()).expect("proofs");
        assert_eq!((proofs.height, proofs.header.hash()), (head.height, head.hash), "{method}: proofs at the head");
        let proven = proofs.verify().unwrap_or_else(|error| panic!("{method}: {error}"));
        let value = proven.iter().find(|(key, _)| *key == must_prove).map(|(_, value)| value.clone());
        assert!(matches!(value, Some(Some(_))), "{method} proves {must_prove} present: {proven:?}");
        assert!(proven.iter().any(|(key, _)| *key == StateKey::Config) || method == "getMarket");
        // The same answer, fields for fields, as without proofs.
        let mut plain_params = params.clone();
        plain_params.as_object_mut().unwrap().remove("proof");
        let (_, plain) = call(&node.url, method, plain_params).await;
        assert!(plain["result"].get("proofs").is_none(), "{method}: proofs not asked for");
        let mut with = body["result"].clone();
        with.as_object_mut().unwrap().remove("proofs");
        if method == "getBalances" {
            assert_eq!(with, plain["result"], "{method}");
        }
        for index in 0..proofs.entries.len() {
            let mut tampered = proofs.clone();
            let entry = &mut tampered.entries[index];
            entry.value = match &entry.value {
                Some(value) => Some(format!("{value}00")),
                None => Some("00".to_string()),
            };
            assert!(tampered.verify().is_err(), "{method}: entry {index} changed, it verifies");
        }
    }
    let (_, body) = call(&node.url, "getPosition", json!({"address": address, "proof": "yes"})).await;
    assert_eq!(error_code(&body), i64::from(codes::INVALID_PARAMS), "{body}");
    node.stop().await;
}
