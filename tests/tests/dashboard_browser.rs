//! The dashboard in a real browser: runs tests/browser/dashboard.test.mjs
//! (playwright-core driving Debian's headless Chromium at
//! /usr/bin/chromium) against a `parlend run --dev` child node. The script
//! submits a deposit, borrow, price drop and liquidation through the RPC and
//! checks the at-risk list and the liquidation feed, saving screenshots.
//!
//! Needs `chromium` (`apt-get install -y chromium`), `node` and the script's
//! packages (`npm ci` in tests/browser, run here when missing). Outside CI a
//! machine without Chromium or Node skips the test with a message; under CI
//! (`CI` set, as `.ci/run` does, which also installs them) it must run.

use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

/// `Some(reason)` when the browser test cannot run on this machine.
fn missing_prerequisite(browser_dir: &Path) -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is missing (apt-get install -y chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node is missing (apt-get install -y nodejs npm)".to_string());
    }
    if !browser_dir.join("node_modules/playwright-core").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(browser_dir)
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            return Some("playwright-core is not installed and `npm ci` in tests/browser failed".to_string());
        }
    }
    None
}

#[test]
fn the_dashboard_shows_a_position_at_risk_and_its_liquidation_live_in_headless_chromium() {
    let browser_dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/browser"));
    if let Some(reason) = missing_prerequisite(&browser_dir) {
        assert!(std::env::var_os("CI").is_none(), "the browser test must run in CI, but {reason}");
        eprintln!("SKIPPED the dashboard browser test: {reason}");
        return;
    }
    let binary = parlend_tests::parlend_binary();
    let screenshots = std::env::var_os("PARLEND_SCREENSHOT_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots"), PathBuf::from);
    let status = Command::new("node")
        .arg("dashboard.test.mjs")
        .current_dir(&browser_dir)
        .env("PARLEND_BIN", &binary)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("CHROMIUM", CHROMIUM)
        .status()
        .expect("running node");
    assert!(status.success(), "the browser test failed (its output is above)");
    for name in ["dashboard-at-risk", "dashboard-liquidatable", "dashboard-liquidated", "dashboard-position"] {
        let path = screenshots.join(format!("{name}.png"));
        let size = std::fs::metadata(&path).map(|metadata| metadata.len()).unwrap_or(0);
        assert!(size > 10_000, "{} is missing or empty", path.display());
    }
}
