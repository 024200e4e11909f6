// The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; never a downloaded browser). Starts a dev node, opens
// the dashboard, submits a lending workload through the RPC (the parlend
// CLI), and checks that the dashboard shows, live, a position entering the
// at-risk list, becoming liquidatable on a price drop, and its liquidation
// in the feed. Saves screenshots along the way.
//
// Run by tests/tests/dashboard_browser.rs (part of `make test`), or by hand:
//   PARLEND_BIN=target/debug/parlend SCREENSHOT_DIR=docs/images node tests/browser/dashboard.test.mjs

import { spawn, execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const run = promisify(execFile);
const BIN = process.env.PARLEND_BIN ?? "target/debug/parlend";
const SHOTS = process.env.SCREENSHOT_DIR ?? "target/dashboard-screenshots";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WAIT = 30_000;
mkdirSync(SHOTS, { recursive: true });

function fail(message) {
  console.error("FAIL: " + message);
  process.exitCode = 1;
  throw new Error(message);
}

/// Starts `parlend run --dev` on a free port; resolves with its URL.
function startNode() {
  const args = ["run", "--dev", "--in-memory", "--rpc-addr", "127.0.0.1:0", "--block-time-ms", "250"];
  const child = spawn(BIN, args, { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error("the node did not start:\n" + output)), 60_000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = output.match(/RPC listening on (http:\/\/[0-9.:]+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1] });
      }
    });
    child.on("exit", (code) => reject(new Error(`the node exited (${code}):\n${output}`)));
  });
}

const { child: node, url } = await startNode();
console.log("node at " + url);

async function cli(...args) {
  const { stdout } = await run(BIN, [...args, "--rpc", url], { encoding: "utf8" });
  return stdout;
}
const tx = (key, ...args) => cli("tx", "--key", key, "--wait", ...args);
async function address(account) {
  const view = JSON.parse(await cli("query", "account", account, "--json"));
  return view.account.address;
}
async function rpc(method, params = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const answer = await response.json();
  if (answer.error) fail(`${method}: ${answer.error.message}`);
  return answer.result;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  // Nothing but the node: the page loads no other origin.
  page.on("request", (request) => {
    if (!request.url().startsWith(url) && !request.url().startsWith(url.replace("http", "ws"))) {
      errors.push("a request outside the node: " + request.url());
    }
  });
  await page.goto(url + "/");
  await page.waitForSelector("#status.live", { timeout: WAIT });
  await page.waitForSelector('#markets tbody tr[data-asset="USDC"]', { timeout: WAIT });
  console.log("dashboard live");

  // A lending workload: lenders, borrowers at several health factors.
  const borrower = await address("dev:1");
  await tx("dev:2", "deposit", "--asset", "USDC", "--amount", "600000");
  await tx("dev:3", "deposit", "--asset", "WETH", "--amount", "300");
  await tx("dev:4", "deposit", "--asset", "WETH", "--amount", "10");
  await tx("dev:4", "borrow", "--asset", "USDC", "--amount", "20000");
  await tx("dev:5", "deposit", "--asset", "WBTC", "--amount", "2");
  await tx("dev:5", "borrow", "--asset", "USDC", "--amount", "60000");
  await tx("dev:6", "deposit", "--asset", "USDC", "--amount", "200000");
  await tx("dev:6", "borrow", "--asset", "WETH", "--amount", "40");
  await tx("dev:7", "deposit", "--asset", "WETH", "--amount", "10");
  await tx("dev:7", "borrow", "--asset", "USDC", "--amount", "23000");
  // dev:1 borrows just below WETH's LTV: HF = 30,000 × 0.83 / 23,900 ≈ 1.04, at risk.
  await tx("dev:1", "deposit", "--asset", "WETH", "--amount", "10");
  await tx("dev:1", "borrow", "--asset", "USDC", "--amount", "23900");

  const atRiskRow = `#at-risk tbody tr[data-owner="${borrower}"]`;
  await page.waitForSelector(atRiskRow, { timeout: WAIT });
  console.log("the borrower is in the at-risk list");
  await page.waitForSelector(`#positions tbody tr[data-owner="${borrower}"]`, { timeout: WAIT });
  // Let a few more blocks fill the history charts.
  for (let round = 0; round < 6; round++) {
    await tx("dev:8", "deposit", "--asset", "USDC", "--amount", String(1000 + round));
    await tx("dev:8", "transfer", "--to", "dev:9", "--asset", "USDC", "--amount", "1");
  }
  await page.screenshot({ path: join(SHOTS, "dashboard-at-risk.png"), fullPage: true });

  // WETH falls to $2,800: HF ≈ 0.97, liquidatable.
  await tx("dev:0", "price", "--asset", "WETH", "--price", "2800");
  await page.waitForFunction(
    (selector) => document.querySelector(selector)?.textContent.includes("liquidatable"),
    atRiskRow,
    { timeout: WAIT },
  );
  console.log("the borrower is liquidatable");
  await page.screenshot({ path: join(SHOTS, "dashboard-liquidatable.png"), fullPage: true });

  // Another account liquidates: the feed shows it, the borrower leaves the list.
  await tx("dev:3", "liquidate", "--borrower", "dev:1", "--debt-asset", "USDC", "--collateral-asset", "WETH");
  await page.waitForSelector(`#liquidations tbody tr[data-borrower="${borrower}"]`, { timeout: WAIT });
  console.log("the liquidation is in the feed");
  await page.waitForFunction(
    (selector) => !document.querySelector(selector)?.textContent.includes("liquidatable"),
    atRiskRow,
    { timeout: WAIT },
  );
  const listed = await rpc("getLiquidatable");
  if (listed.liquidatable.some((entry) => entry.owner === borrower)) fail("still liquidatable after the liquidation");
  for (let round = 0; round < 4; round++) {
    await tx("dev:8", "transfer", "--to", "dev:9", "--asset", "USDC", "--amount", "1");
  }
  await page.screenshot({ path: join(SHOTS, "dashboard-liquidated.png"), fullPage: true });

  // The position page, by address, live.
  await page.fill("#lookup-address", borrower);
  await page.click("#lookup button");
  await page.waitForSelector("#position-assets tbody tr", { timeout: WAIT });
  const summary = await page.textContent("#position-summary");
  if (!summary.includes("health factor")) fail("the position page shows no health factor: " + summary);
  await tx("dev:1", "repay", "--asset", "USDC", "--amount", "100");
  await page.waitForSelector("#position-transactions tbody tr", { timeout: WAIT });
  await page.screenshot({ path: join(SHOTS, "dashboard-position.png"), fullPage: true });
  console.log("the position page is live");

  if (errors.length) fail("errors in the page:\n" + errors.join("\n"));
  console.log("PASS: screenshots in " + SHOTS);
} finally {
  await browser.close();
  node.kill("SIGTERM");
}
