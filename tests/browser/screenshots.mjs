// Screenshots of the dashboard under a running lending workload (for the
// README): a node on `parlend bench rpc`'s lending-mix genesis, the
// workload sent at a steady rate by `parlend bench rpc --url`, and the
// dashboard in headless Chromium (/usr/bin/chromium, playwright-core).
//
//   PARLEND_BIN=target/release/parlend SCREENSHOT_DIR=docs/images node tests/browser/screenshots.mjs
//
// The liquidation screenshots come from dashboard.test.mjs (the browser test).

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BIN = process.env.PARLEND_BIN ?? "target/release/parlend";
const SHOTS = process.env.SCREENSHOT_DIR ?? "target/dashboard-screenshots";
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SIGNERS = "400";
mkdirSync(SHOTS, { recursive: true });
const scratch = mkdtempSync(join(tmpdir(), "parlend-screens-"));
const genesis = join(scratch, "genesis.json");

function runToEnd(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`parlend ${args.join(" ")}: ${code}`))));
  });
}

await runToEnd(["bench", "rpc", "--workload", "lending-mix", "--signers", SIGNERS, "--write-genesis", genesis]);
const node = spawn(BIN, ["run", "--genesis", genesis, "--in-memory", "--rpc-addr", "127.0.0.1:0", "--block-time-ms", "250"], {
  stdio: ["ignore", "pipe", "inherit"],
});
const url = await new Promise((resolve, reject) => {
  let output = "";
  node.stdout.on("data", (chunk) => {
    output += chunk;
    const match = output.match(/RPC listening on (http:\/\/[0-9.:]+)/);
    if (match) resolve(match[1]);
  });
  node.on("exit", (code) => reject(new Error(`the node exited (${code}): ${output}`)));
});
console.log("node at " + url);

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const workload = spawn(
  BIN,
  ["bench", "rpc", "--workload", "lending-mix", "--signers", SIGNERS, "--txs", process.env.TXS ?? "8000", "--rate", process.env.RATE ?? "300", "--url", url],
  { stdio: ["ignore", "inherit", "inherit"] },
);
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await page.goto(url + "/");
  await page.waitForSelector("#status.live", { timeout: 30_000 });
  // Let the block feed and the history charts fill (the workload signs
  // every transaction before it sends the first).
  await page.waitForFunction(() => document.querySelectorAll("#blocks tbody tr").length >= 16, null, {
    timeout: 240_000,
  });
  await page.waitForTimeout(3_000);
  await page.screenshot({ path: join(SHOTS, "dashboard-workload.png"), fullPage: true });
  console.log("saved " + join(SHOTS, "dashboard-workload.png"));
} finally {
  workload.kill("SIGTERM");
  await browser.close();
  node.kill("SIGTERM");
}
