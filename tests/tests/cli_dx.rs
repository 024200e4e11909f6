//! The CLI as a new user meets it (issue 17): transactions that would fail
//! are refused before sending, with the reason and its numbers; `--dry-run`
//! sends nothing; a dev node's prices stay fresh across a time warp; the
//! errors of a node that is not running and of a data directory in use read
//! as golden text; a closed stdout ends a command quietly; and the README's
//! tour runs, command by command, against a real node.

use std::path::Path;
use std::process::{Command, Stdio};

use parlend_tests::{ChildNode, parlend_binary};
use serde_json::Value;

/// `parlend ARGS` against `url`, in `directory`: (success, stdout, stderr).
fn parlend(url: &str, directory: &Path, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(parlend_binary())
        .args(args)
        .env("PARLEND_RPC", url)
        .env("RUST_LOG", "warn")
        .current_dir(directory)
        .output()
        .expect("running parlend");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8 output");
    (output.status.success(), text(output.stdout), text(output.stderr))
}

fn json(url: &str, directory: &Path, args: &[&str]) -> Value {
    let args = [args, &["--json"]].concat();
    let (success, stdout, stderr) = parlend(url, directory, &args);
    assert!(success, "parlend {args:?} failed:\n{stdout}\n{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("{args:?}: {error}: {stdout}"))
}

fn nonce(url: &str, directory: &Path, who: &str) -> u64 {
    json(url, directory, &["query", "account", who])["account"]["nonce"].as_u64().unwrap()
}

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/cli").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn failing_transactions_are_refused_with_numbers_and_dry_runs_send_nothing() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(&directory.path().join("chain"), &["--block-time-ms", "0"]);
    let (url, dir) = (node.url.as_str(), directory.path());

    // A zero deposit: refused, the reason named, the nonce unchanged.
    let (success, stdout, stderr) =
        parlend(url, dir, &["tx", "deposit", "--key", "dev:4", "--asset", "USDC", "--amount", "0"]);
    assert!(!success, "{stdout}");
    assert!(stderr.contains("not sent") && stderr.contains("ZeroAmount"), "{stderr}");
    assert_eq!(nonce(url, dir, "dev:4"), 0);

    // A borrow without collateral: refused with what it needed and had.
    let borrow = ["tx", "borrow", "--key", "dev:4", "--asset", "USDC", "--amount", "250"];
    let (success, _, stderr) = parlend(url, dir, &borrow);
    assert!(!success);
    assert!(
        stderr.contains("InsufficientCollateral: the debt would be worth $250.00, the borrowing power is $0.00"),
        "{stderr}"
    );
    assert_eq!(nonce(url, dir, "dev:4"), 0, "nothing was sent");

    // --dry-run prints the simulation and sends nothing.
    let deposit = ["tx", "deposit", "--key", "dev:4", "--asset", "WETH", "--amount", "2", "--dry-run"];
    let (success, stdout, stderr) = parlend(url, dir, &deposit);
    assert!(success, "{stderr}");
    assert!(stdout.contains("dry run: nothing sent") && stdout.contains("Deposit 2 WETH"), "{stdout}");
    assert!(stdout.contains("access set ("), "{stdout}");
    assert_eq!(nonce(url, dir, "dev:4"), 0, "a dry run sends nothing");

    // Sent for real (waiting is the default): the receipt's events in whole tokens.
    let (success, stdout, stderr) = parlend(url, dir, &deposit[..deposit.len() - 1]);
    assert!(success, "{stderr}");
    assert!(stdout.contains("status: success") && stdout.contains("Deposit 2 WETH"), "{stdout}");
    assert_eq!(nonce(url, dir, "dev:4"), 1);
}

#[test]
fn a_dev_node_keeps_prices_fresh_across_a_two_day_warp() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(&directory.path().join("chain"), &["--block-time-ms", "0"]);
    let (url, dir) = (node.url.as_str(), directory.path());
    for args in [
        ["tx", "deposit", "--key", "dev:2", "--asset", "USDC", "--amount", "100000"],
        ["tx", "deposit", "--key", "dev:5", "--asset", "WETH", "--amount", "10"],
    ] {
        let (success, stdout, stderr) = parlend(url, dir, &args);
        assert!(success, "{stdout}{stderr}");
    }
    let warped = json(url, dir, &["dev", "increase-time", "2d"]);
    assert!(warped["pricesRefreshed"].as_u64().unwrap() > 0, "{warped}");
    let borrowed = json(url, dir, &["tx", "borrow", "--key", "dev:5", "--asset", "USDC", "--amount", "1000"]);
    assert_eq!(borrowed["status"], "committed", "{borrowed}");
    // An absolute time works the same way, and never goes back.
    let clock = warped["clock"].as_u64().unwrap();
    let later = (clock + 3 * 86_400).to_string();
    let set = json(url, dir, &["dev", "set-time", &later]);
    assert!(set["clock"].as_u64().unwrap() >= clock + 3 * 86_400 - 1, "{set}");
    assert!(set["pricesRefreshed"].as_u64().unwrap() > 0, "{set}");
    let (success, _, stderr) = parlend(url, dir, &["dev", "set-time", &clock.to_string()]);
    assert!(!success && stderr.contains("never goes back"), "{stderr}");
    let borrowed = json(url, dir, &["tx", "borrow", "--key", "dev:5", "--asset", "USDC", "--amount", "1000"]);
    assert_eq!(borrowed["status"], "committed", "{borrowed}");
}

#[test]
fn a_node_that_is_not_running_and_a_data_dir_in_use_read_as_golden_text() {
    let directory = tempfile::tempdir().unwrap();
    // No scheme: http:// is assumed; nobody listens on port 1.
    let (success, stdout, stderr) = parlend("localhost:1", directory.path(), &["query", "block"]);
    assert!(!success && stdout.is_empty());
    assert_eq!(stderr, golden("node-not-running.txt"));

    let data_dir = directory.path().join("chain");
    let _node = ChildNode::spawn(&data_dir, &[]);
    let output = Command::new(parlend_binary())
        .args(["run", "--dev", "--rpc-addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("running parlend");
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "", "no banner before the error");
    let expected = golden("data-dir-locked.txt").replace("{data_dir}", &data_dir.display().to_string());
    assert_eq!(String::from_utf8_lossy(&output.stderr), expected);
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(&directory.path().join("chain"), &[]);
    let binary = parlend_binary();
    for run in 0..50 {
        let output = Command::new("bash")
            .arg("-c")
            .arg("\"$PARLEND_BIN\" query block --full | head -1")
            .env("PARLEND_BIN", &binary)
            .env("PARLEND_RPC", &node.url)
            .output()
            .expect("running bash");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "run {run}: {stderr}");
        assert!(String::from_utf8_lossy(&output.stdout).starts_with("block "), "run {run}");
    }
}

/// The commands of README.md's tour: its first `sh` block after "## A
/// five-minute tour", with `parlend` the binary under test.
fn readme_tour() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let tour = readme.split("## A five-minute tour").nth(1).expect("README.md has the tour");
    let block = tour.split("```sh\n").nth(1).and_then(|rest| rest.split("```").next()).expect("the tour's sh block");
    block.lines().filter(|line| !line.starts_with("alias parlend=")).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_readme_tour_runs_against_a_real_node() {
    let directory = tempfile::tempdir().unwrap();
    let node = ChildNode::spawn(&directory.path().join("chain"), &["--block-time-ms", "0"]);
    let tour = readme_tour();
    assert!(tour.lines().filter(|line| line.starts_with("parlend ")).count() >= 15, "{tour}");
    let script = format!("set -euo pipefail\nparlend() {{ \"$PARLEND_BIN\" \"$@\"; }}\nset -x\n{tour}\n");
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PARLEND_BIN", parlend_binary())
        .env("PARLEND_RPC", &node.url)
        .env("RUST_LOG", "warn")
        .current_dir(directory.path())
        .output()
        .expect("running bash");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the README tour failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("health factor"), "{stdout}");
    assert!(stdout.contains("dry run: nothing sent"), "{stdout}");
}

/// A dev node in memory whose log goes to `log`; its RPC URL.
fn node_logging_to(log: &Path, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(parlend_binary())
        .args(["run", "--dev", "--in-memory", "--rpc-addr", "127.0.0.1:0", "--block-time-ms", "0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawning parlend");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("parlend exited before serving").unwrap();
        if let Some(url) = line.strip_prefix("RPC listening on ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

#[test]
fn the_node_log_has_a_line_per_transaction_and_block_as_text_or_json() {
    let directory = tempfile::tempdir().unwrap();
    let dir = directory.path();
    for format in ["text", "json"] {
        let log = dir.join(format!("{format}.log"));
        let (mut child, url) = node_logging_to(&log, &["--log-format", format]);
        let transfer = ["tx", "transfer", "--key", "dev:1", "--to", "dev:2", "--asset", "USDC", "--amount", "3"];
        let sent = json(&url, dir, &transfer);
        let hash = sent["hash"].as_str().unwrap().to_string();
        json(&url, dir, &["dev", "increase-time", "1h"]);
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.contains('\u{1b}'), "no colour codes when not a terminal:\n{text}");
        let transaction = text.lines().find(|line| line.contains(&hash)).unwrap_or_else(|| panic!("{text}"));
        assert!(transaction.contains("transfer") && transaction.contains("ok"), "{transaction}");
        assert!(text.lines().any(|line| line.contains("block committed")), "{text}");
        assert!(text.lines().any(|line| line.contains("dev: clock moved forward")), "{text}");
        if format == "json" {
            for line in text.lines() {
                let object: Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
                assert!(object["fields"]["message"].is_string(), "{line}");
            }
            let object: Value = serde_json::from_str(transaction).unwrap();
            assert_eq!(object["fields"]["outcome"], "ok", "{transaction}");
            assert_eq!(object["fields"]["instructions"], "transfer", "{transaction}");
        }
    }
}
