//! `getProof` against real nodes, in memory and on RocksDB: a proof for
//! every kind of state key verifies against the header it comes with, at
//! the head and at an older height; an absent key proves its absence; a
//! changed value, a changed proof byte, another height's header and an
//! absent key claimed present are each refused; a height above the head is
//! not found. The client's verified reads check proofs and figures, and
//! refuse every tampered answer with an error naming what failed.

use parlend_contracts::Instruction;
use parlend_ledger::{Address, Keypair, StateKey};
use parlend_rpc::Client;
use parlend_rpc::error as codes;
use parlend_rpc::types::{BalancesView, BlockParams, MarketView, PositionView, ProofView};
use parlend_rpc::verified::{Recomputable, Verified, VerifyError, verify_answer};
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

/// The answer of `method` with `proof: true`, as the node sent it.
async fn proven_answer(node: &TestNode, method: &str, params: serde_json::Value) -> serde_json::Value {
    let (status, body) = call(&node.url, method, params).await;
    assert_eq!(status, 200, "{body}");
    body["result"].clone()
}

/// `answer` changed by `change`, checked as the client checks it.
fn changed<T: Recomputable>(
    answer: &serde_json::Value,
    asked: &str,
    change: impl FnOnce(&mut serde_json::Value),
) -> Result<Verified<T>, VerifyError> {
    let mut answer = answer.clone();
    change(&mut answer);
    verify_answer::<T>(&answer, Some(asked))
}

/// The index of `key`'s entry in an answer's proofs.
fn entry_of(answer: &serde_json::Value, key: StateKey) -> usize {
    let entries = answer["proofs"]["entries"].as_array().expect("entries");
    let key = serde_json::to_value(key).unwrap();
    entries.iter().position(|entry| entry["key"] == key).expect("the key is proven")
}

/// The client's verified reads: a position, balances and markets verify at
/// the head, proofs and figures alike; the same check refuses a changed
/// figure, a changed proof byte, a changed value, another height's header,
/// a missing proof, an answer about someone else, a time before the
/// header's and an answer without proofs, each with a typed error naming
/// what failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_reads_check_every_proof_and_every_figure() {
    let node = TestNode::in_memory().await;
    let client = &node.client;
    let (user, weth) = (dev_keypair(1), asset("WETH"));
    supplier_and_borrower(client, &user).await;
    let owner = user.address();
    let head = client.head().await.unwrap();

    let position = client.verified_position(owner).await.expect("the position verifies");
    assert_eq!((position.height, position.block_hash()), (head.height, head.hash));
    assert_eq!(position.view.owner, owner);
    assert_eq!(position.view.assets.len(), 2, "{:?}", position.view);
    assert!(position.view.health.is_some() && position.time >= Some(head.timestamp));
    let balances = client.verified_balances(owner).await.expect("the balances verify");
    assert_eq!(balances.view, client.balances(owner).await.unwrap());
    for symbol in ["USDC", "WETH", "TBILL"] {
        let market = client.verified_market(asset(symbol)).await.expect("the market verifies");
        assert_eq!((market.view.asset, market.block_hash()), (asset(symbol), head.hash));
    }
    let stranger = client.verified_position(Address([0xee; 32])).await.expect("an empty position verifies");
    assert!(stranger.view.assets.is_empty());

    let asked = owner.to_string();
    let params = json!({"address": asked, "proof": true});
    let answer = proven_answer(&node, "getPosition", params.clone()).await;
    verify_answer::<PositionView>(&answer, Some(&asked)).expect("the answer as sent verifies");
    let figure = changed::<PositionView>(&answer, &asked, |answer| answer["assets"][0]["deposit"] = json!("1"));
    assert!(
        matches!(&figure, Err(VerifyError::Figure { field, proven, .. }) if field == "assets[0].deposit" && proven != "\"1\""),
        "{figure:?}"
    );
    let health = changed::<PositionView>(&answer, &asked, |answer| {
        answer["health"]["healthFactor"] = json!("9000000000000000000")
    });
    assert!(matches!(&health, Err(VerifyError::Figure { field, .. }) if field == "health.healthFactor"), "{health:?}");
    let key = StateKey::Position { owner };
    let at = entry_of(&answer, key);
    let proof_byte = changed::<PositionView>(&answer, &asked, |answer| {
        let entry = &mut answer["proofs"]["entries"][at];
        let mut proof = hex::decode(entry["proof"].as_str().unwrap()).unwrap();
        let middle = proof.len() / 2;
        proof[middle] ^= 0x10;
        entry["proof"] = json!(hex::encode(proof));
    });
    assert!(matches!(&proof_byte, Err(VerifyError::Proof { key: failed, .. }) if *failed == key), "{proof_byte:?}");
    let value = changed::<PositionView>(&answer, &asked, |answer| {
        let entry = &mut answer["proofs"]["entries"][at];
        let mut value = hex::decode(entry["value"].as_str().unwrap()).unwrap();
        value[0] ^= 1;
        entry["value"] = json!(hex::encode(value));
    });
    assert!(matches!(&value, Err(VerifyError::Proof { key: failed, .. }) if *failed == key), "{value:?}");
    let older = client.block(&BlockParams { height: Some(head.height - 1), ..Default::default() }).await.unwrap();
    let older = serde_json::to_value(older.unwrap().header).unwrap();
    let other_header = changed::<PositionView>(&answer, &asked, |answer| {
        answer["proofs"]["header"] = older.clone();
        answer["proofs"]["height"] = json!(head.height - 1);
    });
    assert!(matches!(other_header, Err(VerifyError::Proof { .. })), "{other_header:?}");
    let header_only = changed::<PositionView>(&answer, &asked, |answer| answer["proofs"]["header"] = older.clone());
    assert!(matches!(header_only, Err(VerifyError::HeaderHeight { .. })), "{header_only:?}");
    let missing = changed::<PositionView>(&answer, &asked, |answer| {
        answer["proofs"]["entries"].as_array_mut().unwrap().remove(at);
    });
    assert_eq!(missing.unwrap_err(), VerifyError::Unproven(key));
    let someone_else = verify_answer::<PositionView>(&answer, Some(&Address([0xee; 32]).to_string()));
    assert!(matches!(someone_else, Err(VerifyError::Subject { .. })), "{someone_else:?}");
    let early = head.timestamp - 1;
    let before = changed::<PositionView>(&answer, &asked, |answer| answer["timestamp"] = json!(early));
    assert!(matches!(before, Err(VerifyError::Time { time, .. }) if time == early), "{before:?}");
    let (_, plain) = call(&node.url, "getPosition", json!({"address": asked})).await;
    assert_eq!(verify_answer::<PositionView>(&plain["result"], Some(&asked)).unwrap_err(), VerifyError::NoProofs);

    let balances = proven_answer(&node, "getBalances", params).await;
    verify_answer::<BalancesView>(&balances, Some(&asked)).expect("balances as sent verify");
    let formatted =
        changed::<BalancesView>(&balances, &asked, |answer| answer["balances"][0]["formatted"] = json!("7"));
    assert!(
        matches!(&formatted, Err(VerifyError::Figure { field, .. }) if field == "balances[0].formatted"),
        "{formatted:?}"
    );
    let market = proven_answer(&node, "getMarket", json!({"asset": "WETH", "proof": true})).await;
    verify_answer::<MarketView>(&market, Some("WETH")).expect("the market as sent verifies");
    let supply = changed::<MarketView>(&market, "WETH", |answer| answer["totalSupply"] = json!("1"));
    assert!(matches!(&supply, Err(VerifyError::Figure { field, .. }) if field == "totalSupply"), "{supply:?}");
    let price = StateKey::Price { asset: weth };
    let unproven_price = changed::<MarketView>(&market, "WETH", |answer| {
        let at = entry_of(answer, price);
        answer["proofs"]["entries"].as_array_mut().unwrap().remove(at);
    });
    assert_eq!(unproven_price.unwrap_err(), VerifyError::Unproven(price));
    node.stop().await;
}
