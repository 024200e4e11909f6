//! Scenarios: every file in `tests/scenarios/` passes and reproduces its
//! golden hashes; a wrong expectation fails with a readable difference; a
//! malformed scenario is an error naming the step.

use std::path::Path;
use std::process::Command;

use parlend_sim::scenario::golden::read_manifest;
use parlend_sim::scenario::{Scenario, ScenarioError, ScenarioOptions, ScenarioReport, run};
use parlend_tests::{dev_keypair, golden_dir, parlend_binary, scenario_files};

fn run_text(text: &str) -> Result<ScenarioReport, ScenarioError> {
    let scenario = Scenario::parse(text, None)?;
    run(&scenario, &ScenarioOptions { threads: 2 }).map(|outcome| outcome.report)
}

#[test]
fn every_scenario_passes_and_reproduces_its_golden_log() {
    let files = scenario_files();
    assert!(files.len() >= 15, "tests/scenarios holds {} scenarios", files.len());
    let manifest = read_manifest(&golden_dir()).unwrap();
    for path in &files {
        let scenario = Scenario::load(path).unwrap();
        let outcome = run(&scenario, &ScenarioOptions { threads: 4 }).unwrap();
        assert!(outcome.report.passed(), "{}", outcome.report);
        let entry = manifest.get(scenario.name()).unwrap_or_else(|| {
            panic!(
                "{} has no golden log; run `parlend scenario run {} --save-log tests/golden`",
                path.display(),
                path.display()
            )
        });
        assert_eq!(
            (outcome.report.head.hash, outcome.report.head.header.state_root),
            (entry.head_hash, entry.state_root),
            "{} no longer produces its golden chain; if the change is intended, regenerate with \
             `parlend scenario run tests/scenarios/*.toml --save-log tests/golden`",
            scenario.name()
        );
        assert_eq!(Path::new(&entry.log), Path::new(&format!("{}.plog", scenario.name())));
    }
    assert_eq!(manifest.len(), files.len(), "every golden log has its scenario");
}

#[test]
fn the_scenarios_cover_every_instruction_and_failure_family() {
    let mut text = String::new();
    for path in scenario_files() {
        text.push_str(&std::fs::read_to_string(path).unwrap());
    }
    for instruction in parlend_sim::scenario::format::INSTRUCTION_NAMES {
        assert!(text.contains(&format!("{instruction} = {{")), "no scenario uses {instruction}");
    }
    for needle in [
        "advance =",
        "prices =",
        "same_block = true",
        "HealthyPosition",
        "SelfLiquidation",
        "DustPosition",
        "deficit",
        "FlashLoanNotRepaid",
        "SupplyCapExceeded",
        "BorrowCapExceeded",
        "MarketPaused",
        "MarketFrozen",
        "PriceStale",
        "HealthFactorTooLow",
        "NotBorrowableInIsolation",
        "DebtCeilingExceeded",
        "IsolatedCollateralConflict",
        "NotBorrowableInEMode",
        "FlashLoanDisabled",
        "NoDeficit",
        "InsufficientTreasury",
        "isolation_debt",
    ] {
        assert!(text.contains(needle), "no scenario shows {needle}");
    }
}

const WRONG: &str = r#"
name = "wrong-expectations"

[accounts]
alice = "dev:1"
bob = "dev:2"

[[step]]
by = "alice"
deposit = { asset = "USDC", amount = "100000" }

[[step]]
by = "bob"
deposit = { asset = "WETH", amount = "10" }

[[step]]
name = "bob borrows 20,000 USDC"
by = "bob"
borrow = { asset = "USDC", amount = "20000" }
expect.debt.bob.USDC = "20001"
expect.health.bob = "1.3..1.4"
expect.market.USDC = { utilization = "20", paused = true }

[[step]]
name = "a success expected to fail"
by = "bob"
repay = { asset = "USDC", amount = "1" }
expect.fail = "NoDebt"

[[step]]
name = "a failure expected to succeed"
by = "bob"
withdraw = { asset = "WBTC", amount = "1" }
"#;

#[test]
fn a_wrong_expectation_fails_with_a_readable_difference() {
    let report = run_text(WRONG).unwrap();
    assert!(!report.passed());
    assert_eq!(report.failed_steps(), 3);
    let step = &report.steps[2];
    let lines: Vec<String> = step.differences.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "debt of bob in USDC: expected 20001, got 20000 (off by -1)",
            "health factor of bob: expected 1.3..1.4, got 1.245",
            "USDC market paused: expected true, got false",
        ]
    );
    assert_eq!(report.steps[3].differences[0].to_string(), "outcome: expected failure NoDebt, got success");
    assert_eq!(
        report.steps[4].differences[0].to_string(),
        "outcome: expected success, got failure NoDeposit (instruction 0)"
    );
    let shown = report.to_string();
    assert!(shown.contains("  FAIL   3 bob borrows 20,000 USDC [block 3]"), "{shown}");
    assert!(shown.contains("           debt of bob in USDC: expected 20001, got 20000 (off by -1)"), "{shown}");
    assert!(shown.contains("  ok     1 alice: deposit amount=100000 asset=USDC [block 1]"), "{shown}");
    assert!(shown.contains("FAILED: 2/5 steps"), "{shown}");
}

#[test]
fn malformed_scenarios_are_errors_naming_the_step() {
    let cases = [
        (
            "[[step]]\nby = \"nobody\"\ndeposit = { asset = \"USDC\", amount = \"1\" }",
            "step 1: unknown account \"nobody\"",
        ),
        (
            "[[step]]\nby = \"dev:1\"\ndepositt = { asset = \"USDC\", amount = \"1\" }",
            "step 1: unknown key \"depositt\"",
        ),
        (
            "[[step]]\nby = \"dev:1\"\ndeposit = { asset = \"USDC\", amount = \"1.0000001\" }",
            "step 1: \"1.0000001\" USDC",
        ),
        (
            "[[step]]\nby = \"dev:1\"\ndeposit = { asset = \"USDC\", amount = \"1\" }\nexpect.fail = \"Nope\"",
            "unknown failure \"Nope\"",
        ),
        ("[[step]]\ndeposit = { asset = \"USDC\", amount = \"1\" }", "the step needs `by`"),
        (
            "[[step]]\nby = \"dev:1\"\ndeposit = { asset = \"USDC\", amount = \"1\", extra = 1 }",
            "unknown field `extra`",
        ),
        ("[[step]]\nadvance = \"3 weeks\"", "is not a duration"),
        ("[[step]]\nexpect.health.\"dev:1\" = \"2..1\"", "is empty"),
        ("[[step]]\nsame_block = true\nby = \"dev:1\"\ndeposit = { asset = \"USDC\", amount = \"1\" }", "same_block"),
    ];
    for (steps, message) in cases {
        let text = format!("name = \"malformed\"\n{steps}\n");
        let error = run_text(&text).err().unwrap_or_else(|| panic!("{steps:?} ran"));
        assert!(error.to_string().contains(message), "{steps:?}: {error}");
    }
    let error = Scenario::parse("name = 1", None).unwrap_err();
    assert!(error.to_string().contains("not a valid scenario"), "{error}");
}

#[test]
fn json_scenarios_work_too() {
    let text = r#"{
        "name": "json",
        "accounts": { "alice": "dev:1", "eve": "new" },
        "step": [
            { "by": "alice", "transfer": { "to": "eve", "asset": "WETH", "amount": "2" } },
            { "by": "eve", "deposit": { "asset": "WETH", "amount": "2" },
              "expect": { "deposit": { "eve": { "WETH": "2" } }, "collateral_value": { "eve": "6000" } } }
        ]
    }"#;
    let scenario = Scenario::parse(text, Some(Path::new("inline.json"))).unwrap();
    let outcome = run(&scenario, &ScenarioOptions::default()).unwrap();
    assert!(outcome.report.passed(), "{}", outcome.report);
}

#[test]
fn cli_scenario_run_reports_failures_and_saves_replayable_logs() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, WRONG).unwrap();
    let good = scenario_files().into_iter().find(|path| path.ends_with("deposit-withdraw.toml")).unwrap();
    let logs = dir.path().join("logs");
    let output = Command::new(parlend_binary())
        .args(["scenario", "run"])
        .arg(&good)
        .arg(&wrong)
        .arg("--save-log")
        .arg(&logs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("PASSED: 7/7 steps"), "{stdout}");
    assert!(stdout.contains("debt of bob in USDC: expected 20001, got 20000 (off by -1)"), "{stdout}");
    assert!(stderr.contains("1 of 2 scenarios failed: wrong-expectations"), "{stderr}");
    // Both chains were saved, and replay.
    for name in ["deposit-withdraw", "wrong-expectations"] {
        let summary = parlend_tests::replay(&logs.join(format!("{name}.plog"))).unwrap();
        let entry = read_manifest(&logs).unwrap()[name].clone();
        assert_eq!(summary.head.hash, entry.head_hash);
    }
}

#[test]
fn event_expectations_report_differences_and_refuse_mistakes() {
    let text = r#"
name = "events"
[accounts]
alice = "dev:1"
bob = "dev:2"

[[step]]
by = "alice"
transfer = { to = "bob", asset = "USDC", amount = "5" }
expect.events = [{ kind = "Transfer", from = "alice", to = "alice", amount = "6" }]

[[step]]
by = "alice"
transfer = { to = "bob", asset = "USDC", amount = "5" }
expect.events = [{ kind = "Deposit" }]

[[step]]
by = "alice"
transfer = { to = "bob", asset = "USDC", amount = "5" }
expect.events = []
"#;
    let report = run_text(text).unwrap();
    let lines =
        |step: usize| -> Vec<String> { report.steps[step].differences.iter().map(ToString::to_string).collect() };
    let bob = dev_keypair(2).address();
    assert_eq!(
        lines(0),
        [
            "event 0 (Transfer) amount: expected 6, got 5 (off by -1)".to_string(),
            format!("event 0 (Transfer) to: expected alice, got {bob}"),
        ]
    );
    assert_eq!(lines(1), ["event 0: expected Deposit, got Transfer"]);
    assert_eq!(lines(2), ["events: expected 0 events, got 1 (Transfer)"]);
    for (expectation, message) in [
        ("[{ kind = \"Teleport\" }]", "unknown event kind \"Teleport\""),
        ("[{ kind = \"Transfer\", colour = \"red\" }]", "has no field \"colour\""),
    ] {
        let text = format!(
            "name = \"bad\"\n[[step]]\nby = \"dev:1\"\ntransfer = {{ to = \"dev:2\", asset = \"USDC\", amount = \"1\" }}\n\
             expect.events = {expectation}\n"
        );
        let error = run_text(&text).err().unwrap_or_else(|| panic!("{expectation} ran"));
        assert!(error.to_string().contains(message), "{expectation}: {error}");
    }
}
