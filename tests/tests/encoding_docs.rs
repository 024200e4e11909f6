//! docs/encoding.md's table of the keys each instruction declares cannot
//! drift from the contracts: every row is expanded for a real instruction
//! and compared with the exact access set `simulateTransaction` derives,
//! on a chain where each instruction succeeds.

use std::collections::BTreeSet;

use parlend_tests::{TestNode, call, dev_keypair, post_prices};
use serde_json::{Value, json};

/// One documented key: a kind, its arguments (names from the table), a mode.
#[derive(Debug, Clone)]
enum Item {
    /// `condition`: `(field, wanted)` when the key is declared only if the
    /// instruction's boolean `field` is `wanted` (`if field`, `unless field`).
    Key { kind: String, args: Vec<String>, mode: String, condition: Option<(String, bool)> },
    /// `onlyCollateral(x)`: the market configuration of `x`'s only
    /// collateral, read on a first deposit that could turn on beside it.
    OnlyCollateral { owner: String },
    /// `health(x)`: the markets and prices a health check of `x` reads;
    /// `only_with_debt`: only when `x` has debt after the instruction.
    Health { owner: String, only_with_debt: bool },
}

/// The table under `## Access sets`: instruction name to its items.
fn documented() -> Vec<(String, Vec<Item>)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/encoding.md")).unwrap();
    let section = text.split("## Access sets").nth(1).expect("docs/encoding.md has ## Access sets");
    let section = section.split("\n## ").next().unwrap();
    let mut rows = Vec::new();
    for line in section.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let name = cells[0].trim_start_matches("| ").trim_matches('`').to_string();
        let declared = cells[1].trim_end_matches(" |").trim();
        rows.push((name, parse_items(declared)));
    }
    rows
}

fn parse_items(text: &str) -> Vec<Item> {
    if text == "nothing more" {
        return Vec::new();
    }
    let mut items = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for character in text.chars() {
        match character {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(parse_item(current.trim()));
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(character);
    }
    items.push(parse_item(current.trim()));
    items
}

fn parse_item(text: &str) -> Item {
    let (code, rest) = text.trim_start_matches('`').split_once('`').unwrap_or_else(|| panic!("bad item {text:?}"));
    let (kind, args) = code.split_once('(').unwrap_or_else(|| panic!("bad key {code:?}"));
    let args: Vec<String> =
        args.trim_end_matches(')').split(", ").filter(|arg| !arg.is_empty()).map(str::to_string).collect();
    let rest = rest.trim();
    if kind == "health" {
        return Item::Health { owner: args[0].clone(), only_with_debt: rest == "if it has debt" };
    }
    if kind == "onlyCollateral" {
        assert_eq!(rest, "read if first deposit", "{text:?}");
        return Item::OnlyCollateral { owner: args[0].clone() };
    }
    let (mode, condition) = match rest.split_once(' ') {
        Some((mode, condition)) => {
            let parsed = match condition.split_once(' ') {
                Some(("if", field)) => (field.to_string(), true),
                Some(("unless", field)) => (field.to_string(), false),
                _ => panic!("bad condition {condition:?} in {text:?}"),
            };
            (mode, Some(parsed))
        }
        None => (rest, None),
    };
    assert!(["read", "write", "delta"].contains(&mode), "bad mode {mode:?} in {text:?}");
    Item::Key { kind: kind.to_string(), args, mode: mode.to_string(), condition }
}

/// The value of a table argument for an instruction signed by `signer`.
fn argument(name: &str, signer: &str, instruction: &Value) -> String {
    match name {
        "signer" => signer.to_string(),
        "beneficiary" => instruction["onBehalfOf"].as_str().unwrap_or(signer).to_string(),
        field => instruction[field].as_str().unwrap_or_else(|| panic!("no {field} in {instruction}")).to_string(),
    }
}

fn key(kind: &str, args: &[String]) -> Value {
    match (kind, args) {
        ("config", _) => json!("config"),
        ("account" | "position", [owner]) => json!({kind: {"owner": owner}}),
        ("balance", [owner, asset]) => json!({"balance": {"owner": owner, "asset": asset}}),
        ("marketConfig" | "marketIndex" | "marketTotals" | "price", [asset]) => json!({kind: {"asset": asset}}),
        other => panic!("unknown key {other:?}"),
    }
}

/// What a health check of `owner`'s position reads: per asset with debt or
/// flagged as collateral, its market's configuration and index, and its
/// price when it has debt or its collateral counts (threshold above 0).
async fn health(url: &str, owner: &str, only_with_debt: bool) -> Vec<(Value, String)> {
    let (_, position) = call(url, "getPosition", json!({"address": owner})).await;
    let entries = position["result"]["assets"].as_array().cloned().unwrap_or_default();
    let has_debt = entries.iter().any(|entry| entry["scaledDebt"] != "0");
    if only_with_debt && !has_debt {
        return Vec::new();
    }
    let mut keys = Vec::new();
    for entry in entries {
        let asset = entry["asset"].as_str().unwrap().to_string();
        let debt = entry["scaledDebt"] != "0";
        let collateral = entry["collateral"] == true;
        if !(debt || collateral) {
            continue;
        }
        let (_, market) = call(url, "getMarket", json!({"asset": asset})).await;
        let counts = collateral && market["result"]["params"]["liquidationThreshold"].as_u64() != Some(0);
        keys.push((key("marketConfig", std::slice::from_ref(&asset)), "read".to_string()));
        keys.push((key("marketIndex", std::slice::from_ref(&asset)), "read".to_string()));
        if debt || counts {
            keys.push((key("price", &[asset]), "read".to_string()));
        }
    }
    keys
}

/// Merges a key declared twice the way the ledger does: one mode stays,
/// two different modes become `write`.
fn merge(keys: Vec<(Value, String)>) -> BTreeSet<(String, String)> {
    let mut merged: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for (key, mode) in keys {
        let entry = merged.entry(key.to_string()).or_insert_with(|| mode.clone());
        if *entry != mode {
            *entry = "write".to_string();
        }
    }
    merged.into_iter().collect()
}

/// When an item is evaluated: against the state before the instruction
/// or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    After,
}

/// The keys `onlyCollateral(owner)` adds for a deposit of `asset`: the
/// configuration of the position's only collateral, when the deposit is
/// the asset's first and the asset could turn on as collateral beside it
/// (not isolated, LTV above 0).
async fn only_collateral(url: &str, owner: &str, asset: &str) -> Vec<(Value, String)> {
    let (_, position) = call(url, "getPosition", json!({"address": owner})).await;
    let entries = position["result"]["assets"].as_array().cloned().unwrap_or_default();
    let collateral: Vec<&Value> = entries.iter().filter(|entry| entry["collateral"] == true).collect();
    let first = entries.iter().all(|entry| entry["asset"] != asset || entry["scaledDeposit"] == "0");
    let (_, market) = call(url, "getMarket", json!({"asset": asset})).await;
    let params = &market["result"]["params"];
    let isolated = !matches!(&params["debtCeilingCents"], Value::Null)
        && params["debtCeilingCents"] != json!(0)
        && params["debtCeilingCents"] != json!("0");
    let could_turn_on = !isolated && params["ltv"].as_u64() != Some(0);
    match collateral.as_slice() {
        [only] if first && could_turn_on && only["asset"] != asset => {
            vec![(key("marketConfig", &[only["asset"].as_str().unwrap().to_string()]), "read".to_string())]
        }
        _ => Vec::new(),
    }
}

/// The keys the table gives `instruction` signed by `signer` that are
/// evaluated in `phase` (health checks after the instruction, before it for
/// `liquidate`; `onlyCollateral` before).
async fn expected(url: &str, items: &[Item], signer: &str, instruction: &Value, phase: Phase) -> Vec<(Value, String)> {
    let health_phase = if instruction["type"] == "liquidate" { Phase::Before } else { Phase::After };
    let mut keys = Vec::new();
    if phase == Phase::After {
        keys.push((key("config", &[]), "read".to_string()));
        keys.push((key("account", &[signer.to_string()]), "write".to_string()));
    }
    for item in items {
        match item {
            Item::Key { kind, args, mode, condition } if phase == Phase::After => {
                if let Some((field, wanted)) = condition
                    && instruction[field].as_bool() != Some(*wanted)
                {
                    continue;
                }
                let args: Vec<String> = args.iter().map(|name| argument(name, signer, instruction)).collect();
                keys.push((key(kind, &args), mode.clone()));
            }
            Item::Health { owner, only_with_debt } if phase == health_phase => {
                keys.extend(health(url, &argument(owner, signer, instruction), *only_with_debt).await);
            }
            Item::OnlyCollateral { owner } if phase == Phase::Before => {
                let asset = argument("asset", signer, instruction);
                keys.extend(only_collateral(url, &argument(owner, signer, instruction), &asset).await);
            }
            _ => {}
        }
    }
    keys
}

fn declared(simulation: &Value) -> BTreeSet<(String, String)> {
    let accesses = simulation["result"]["access"].as_array().unwrap_or_else(|| panic!("{simulation}"));
    accesses.iter().map(|access| (access["key"].to_string(), access["mode"].as_str().unwrap().to_string())).collect()
}

fn address(index: u32) -> String {
    dev_keypair(index).address().to_string()
}

/// Simulates, checks success, sends and waits; the simulation.
async fn run(url: &str, signer: u32, instructions: &[Value]) -> Value {
    let params = json!({"signer": address(signer), "instructions": instructions});
    let (_, simulation) = call(url, "simulateTransaction", params).await;
    assert_eq!(simulation["result"]["outcome"]["result"], "success", "{instructions:?}: {simulation}");
    let typed: Vec<parlend_contracts::Instruction> =
        instructions.iter().map(|instruction| serde_json::from_value(instruction.clone()).unwrap()).collect();
    let client = parlend_rpc::Client::new(url).unwrap();
    let status = client.submit(&dev_keypair(signer), typed, true).await.unwrap();
    assert_eq!(status.status, parlend_rpc::types::TxState::Committed, "{status:?}");
    simulation
}

/// The table's keys of a transaction in `phase`: every instruction's rows.
async fn expected_all(
    url: &str,
    table: &[(String, Vec<Item>)],
    signer: u32,
    instructions: &[Value],
    phase: Phase,
) -> Vec<(Value, String)> {
    let mut keys = Vec::new();
    for instruction in instructions {
        let name = instruction["type"].as_str().unwrap();
        let items =
            &table.iter().find(|(row, _)| row == name).unwrap_or_else(|| panic!("{name} is not in the table")).1;
        keys.extend(expected(url, items, &address(signer), instruction, phase).await);
    }
    keys
}

type Expected = BTreeSet<(String, String)>;

/// Each documented instruction, signed by a dev account, in an order in
/// which every one succeeds on the dev chain; health rows are compared
/// with the position after the instruction (before, for `liquidate`).
fn cases() -> Vec<(u32, Vec<Value>)> {
    let (one, two, three, four) = (address(1), address(2), address(3), address(4));
    let params = serde_json::to_value(parlend_contracts::dev::dev_markets()[0].params).unwrap();
    let liquidation = parlend_contracts::state::LiquidationConfig::default();
    let emode = serde_json::to_value(parlend_contracts::dev::dev_emode_categories()[0]).unwrap();
    let one_of = |signer: u32, instruction: Value| (signer, vec![instruction]);
    vec![
        one_of(1, json!({"type": "transfer", "to": two, "asset": "USDC", "amount": "1000000"})),
        one_of(0, json!({"type": "mint", "to": one, "asset": "USDC", "amount": "5"})),
        one_of(2, json!({"type": "deposit", "asset": "USDC", "amount": "500000000000"})),
        one_of(1, json!({"type": "deposit", "asset": "WETH", "amount": "10000000000000000000"})),
        one_of(1, json!({"type": "borrow", "asset": "USDC", "amount": "1000000000"})),
        one_of(1, json!({"type": "repay", "asset": "USDC", "amount": "1000000", "onBehalfOf": null})),
        one_of(2, json!({"type": "repay", "asset": "USDC", "amount": "1000000", "onBehalfOf": one})),
        one_of(1, json!({"type": "withdraw", "asset": "WETH", "amount": "1000000000000000000"})),
        one_of(2, json!({"type": "withdraw", "asset": "USDC", "amount": "1000000"})),
        one_of(1, json!({"type": "deposit", "asset": "WBTC", "amount": "100000000"})),
        one_of(1, json!({"type": "setCollateral", "asset": "WBTC", "enabled": false})),
        (
            3,
            vec![
                json!({"type": "flashBorrow", "asset": "USDC", "amount": "1000000"}),
                json!({"type": "flashRepay", "asset": "USDC"}),
            ],
        ),
        one_of(3, json!({"type": "deposit", "asset": "WETH", "amount": "1000000000000000000"})),
        one_of(3, json!({"type": "borrow", "asset": "USDC", "amount": "2300000000"})),
        one_of(5, json!({"type": "deposit", "asset": "WETH", "amount": "1000000000000000000"})),
        one_of(5, json!({"type": "borrow", "asset": "USDC", "amount": "2300000000"})),
        one_of(0, json!({"type": "setPrice", "asset": "WETH", "price": "2000000000000000000000", "timestamp": 0})),
        one_of(
            4,
            json!({"type": "liquidate", "borrower": three, "debtAsset": "USDC", "collateralAsset": "WETH",
                   "debtToCover": "all", "receiveDeposit": false}),
        ),
        one_of(
            4,
            json!({"type": "liquidate", "borrower": address(5), "debtAsset": "USDC", "collateralAsset": "WETH",
                   "debtToCover": "all", "receiveDeposit": true}),
        ),
        // A position whose collateral runs out: its debt becomes a deficit.
        one_of(6, json!({"type": "deposit", "asset": "WETH", "amount": "1000000000000000000"})),
        one_of(6, json!({"type": "borrow", "asset": "USDC", "amount": "1200000000"})),
        one_of(0, json!({"type": "setPrice", "asset": "WETH", "price": "100000000000000000000", "timestamp": 0})),
        one_of(
            4,
            json!({"type": "liquidate", "borrower": address(6), "debtAsset": "USDC", "collateralAsset": "WETH",
                   "debtToCover": "all", "receiveDeposit": false}),
        ),
        one_of(2, json!({"type": "coverDeficit", "asset": "USDC", "amount": "1000000", "fromTreasury": false})),
        // After a year of interest the treasury holds enough for a unit.
        one_of(0, json!({"type": "coverDeficit", "asset": "USDC", "amount": "1", "fromTreasury": true})),
        one_of(2, json!({"type": "setEMode", "category": 1})),
        one_of(0, json!({"type": "setEModeCategory", "category": emode})),
        one_of(0, json!({"type": "createMarket", "asset": "GOLD", "params": params})),
        one_of(0, json!({"type": "updateMarket", "asset": "USDC", "params": params})),
        one_of(0, json!({"type": "setLiquidationConfig", "config": liquidation})),
        one_of(0, json!({"type": "setMinter", "minter": four})),
        one_of(0, json!({"type": "setOracle", "oracle": address(0)})),
        one_of(0, json!({"type": "setAdmin", "admin": address(0)})),
    ]
}

/// The dev genesis with one more asset, GOLD, registered without a market
/// (so that `createMarket` can succeed).
fn genesis() -> parlend_contracts::genesis::Genesis {
    let mut genesis = parlend_contracts::dev::dev_genesis();
    let gold = parlend_ledger::AssetId::from_static("GOLD");
    genesis.assets.push(parlend_contracts::state::AssetInfo { id: gold, decimals: 18 });
    genesis
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_access_sets_are_what_simulation_declares() {
    let node = TestNode::start(parlend_node::node::NodeConfig::new(genesis())).await;
    let url = node.url.clone();
    post_prices(&node.client, &[("USDC", 1), ("WETH", 3_000), ("WBTC", 60_000), ("TBILL", 1)]).await;
    let table = documented();
    let mut covered = BTreeSet::new();
    let mut wrong = Vec::new();
    for (signer, mut instructions) in cases() {
        for instruction in &mut instructions {
            if instruction["type"] == "setPrice" {
                instruction["timestamp"] = json!(node.client.head().await.unwrap().clock);
            }
            if instruction["type"] == "coverDeficit" && instruction["fromTreasury"] == true {
                node.client.increase_time(365 * 86_400).await.unwrap();
                node.client.mine(1).await.unwrap();
            }
            covered.insert(instruction["type"].as_str().unwrap().to_string());
        }
        let mut keys = expected_all(&url, &table, signer, &instructions, Phase::Before).await;
        let simulation = run(&url, signer, &instructions).await;
        keys.extend(expected_all(&url, &table, signer, &instructions, Phase::After).await);
        let found = declared(&simulation);
        let want: Expected = merge(keys);
        if found != want {
            let missing: Vec<_> = found.difference(&want).collect();
            let extra: Vec<_> = want.difference(&found).collect();
            wrong.push(format!(
                "{instructions:?}: declared but not in the table {missing:?}; in the table but not declared {extra:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "docs/encoding.md's access table differs from simulation:\n{}", wrong.join("\n"));
    let rows: BTreeSet<String> = table.iter().map(|(name, _)| name.clone()).collect();
    assert_eq!(rows, covered, "every row of the table is checked here");
    // Scenario files name the instructions too (`collateral` for
    // `setCollateral`), and their list is kept whole by the scenario tests.
    let instructions = parlend_sim::scenario::format::INSTRUCTION_NAMES.len();
    assert_eq!(rows.len(), instructions, "the table has a row for each of the {instructions} instructions");
    node.stop().await;
}
