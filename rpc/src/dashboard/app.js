// parlend dashboard: plain JavaScript, served by the node (no CDN, no build
// step). Reads with JSON-RPC over HTTP POST, stays live through the
// WebSocket subscriptions on the same address (docs/rpc.md).
"use strict";

const U128_MAX = "340282366920938463463374607431768211455";
const HISTORY_BLOCKS = 120;
const BLOCK_ROWS = 16;
const LIQUIDATION_ROWS = 30;
const POSITION_ROWS = 25;
// The positions listed: the lowest health factors, whatever they are (the
// node's index evaluates about as many as asked for).
const POSITIONS_BAND = "1000000000000000000000000";

const state = {
  markets: new Map(), // asset -> market summary
  prices: new Map(), // asset -> price view
  history: new Map(), // asset -> [{height, utilization, borrow, supply}]
  atRisk: new Map(), // owner -> {to, health}
  band: 1.05,
  blocks: [], // recent heads, newest first
  riskByBlock: new Map(), // `${height}:${owner}` -> health after
  liquidations: [],
  positionOwner: null,
  positionTransactions: [],
  lastPositionsRefresh: 0,
};

// ---- formatting -----------------------------------------------------------

const big = (text) => BigInt(text ?? "0");
const wad = (text) => Number(big(text)) / 1e18;
const ray = (text) => Number(big(text)) / 1e27;
const tokens = (text, decimals) => Number(big(text)) / 10 ** decimals;
const number = (value, digits = 2) =>
  value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const usd = (text) => "$" + number(wad(text), 2);
const percent = (rayText, digits = 2) => (ray(rayText) * 100).toFixed(digits) + "%";
const short = (address) => address.slice(0, 8) + "…" + address.slice(-4);
function healthText(text) {
  if (text === undefined || text === null) return "—";
  if (text === U128_MAX) return "∞";
  return wad(text).toFixed(3);
}
function healthClass(text) {
  if (!text || text === U128_MAX) return "good";
  const value = wad(text);
  return value < 1 ? "bad" : value < 1.1 ? "warn" : "good";
}
function compact(value) {
  if (value >= 1e9) return number(value / 1e9, 2) + "B";
  if (value >= 1e6) return number(value / 1e6, 2) + "M";
  if (value >= 1e3) return number(value / 1e3, 2) + "k";
  return number(value, 4);
}
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key === "html") node.innerHTML = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}
const td = (content, cls) => el("td", cls ? { class: cls } : {}, content);
const ownerLink = (address) => el("a", { href: "#/position/" + address, class: "mono", title: address }, short(address));
function replaceRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ---- JSON-RPC over HTTP ------------------------------------------------------

let nextCallId = 1;
async function rpc(method, params = {}) {
  const body = JSON.stringify({ jsonrpc: "2.0", id: nextCallId++, method, params });
  const response = await fetch("/", { method: "POST", headers: { "content-type": "application/json" }, body });
  const answer = await response.json();
  if (answer.error) throw new Error(`${method}: ${answer.error.message} (${answer.error.code})`);
  return answer.result;
}

// ---- subscriptions over one WebSocket, re-established when it drops ---------

const live = {
  socket: null,
  subscriptions: [], // {method, params, notification, handler}
  connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/");
    this.socket = socket;
    socket.onopen = () => {
      setStatus(true);
      for (const subscription of this.subscriptions) this.send(subscription);
      refreshAll();
    };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = () => {
      setStatus(false);
      setTimeout(() => this.connect(), 1000);
    };
  },
  send(subscription) {
    const id = nextCallId++;
    this.socket.send(JSON.stringify({ jsonrpc: "2.0", id, method: subscription.method, params: subscription.params }));
  },
  subscribe(method, params, notification, handler) {
    const subscription = { method, params, notification, handler };
    this.subscriptions.push(subscription);
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.send(subscription);
  },
  receive(message) {
    if (message.id !== undefined) {
      if (message.error) console.warn("subscription refused", message.error);
      return;
    }
    const subscription = this.subscriptions.find((entry) => entry.notification === message.method);
    if (!subscription) return;
    if (message.params.error) {
      // Dropped by the node (too slow, ...): subscribe again.
      console.warn("subscription closed", message.method, message.params.error);
      setTimeout(() => this.send(subscription), 500);
      return;
    }
    subscription.handler(message.params.result);
  },
};

function setStatus(connected) {
  const status = document.getElementById("status");
  status.textContent = connected ? "live" : "offline";
  status.className = "status " + (connected ? "live" : "offline");
}

// ---- markets, rate curves and history ---------------------------------------

function borrowRateAt(params, utilization) {
  const base = ray(params.baseRate);
  const slope1 = ray(params.slope1);
  const slope2 = ray(params.slope2);
  const optimal = ray(params.optimalUtilization);
  if (utilization <= optimal) return base + (optimal > 0 ? (slope1 * utilization) / optimal : 0);
  return base + slope1 + (slope2 * (utilization - optimal)) / (1 - optimal);
}

function renderMarkets() {
  const rows = [...state.markets.values()].map((market) => {
    const price = state.prices.get(market.asset) ?? market.price;
    const priceCell = el("td");
    if (price) {
      priceCell.append(usd(price.price), el("span", { class: "muted" }, ` ${price.ageSeconds}s`));
      if (price.stale) priceCell.append(el("span", { class: "stale" }, "stale"));
    } else priceCell.append("none");
    const utilization = ray(market.utilization);
    const fill = el("i");
    // Through the CSSOM: the page's policy refuses style attributes.
    fill.style.width = `${Math.min(100, utilization * 100)}%`;
    const bar = el("span", { class: "bar" }, fill);
    const utilizationCell = el("td", {}, bar, percent(market.utilization, 1));
    const cap = (capText, used) => {
      if (big(capText) === 0n) return "none";
      const capValue = tokens(capText, market.decimals);
      return `${compact(capValue)} (${number((used / capValue) * 100, 1)}%)`;
    };
    const supplied = tokens(market.totalSupply, market.decimals);
    const borrowed = tokens(market.totalDebt, market.decimals);
    const row = el("tr", { "data-asset": market.asset },
      td(el("b", {}, market.asset)), priceCell, td(compact(supplied)), td(compact(borrowed)), utilizationCell,
      td(percent(market.supplyApy)), td(percent(market.borrowApy)),
      td(cap(market.params.supplyCap, supplied)), td(cap(market.params.borrowCap, borrowed)));
    return row;
  });
  replaceRows(document.querySelector("#markets tbody"), rows);
  renderCurves();
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}
function path(points, color, dashed) {
  const d = points.map(([x, y], index) => `${index ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  return svg("path", { d, fill: "none", stroke: color, "stroke-width": 1.8, "stroke-dasharray": dashed ? "4 3" : "" });
}
function axes(chart, width, height, pad, yMaxLabel) {
  chart.append(svg("line", { x1: pad, y1: height - pad, x2: width - 4, y2: height - pad, stroke: "#3a4654" }));
  chart.append(svg("line", { x1: pad, y1: 4, x2: pad, y2: height - pad, stroke: "#3a4654" }));
  const label = (x, y, text, anchor = "start") => {
    const node = svg("text", { x, y, fill: "#8a96a3", "font-size": 10, "text-anchor": anchor });
    node.textContent = text;
    chart.append(node);
  };
  label(pad - 3, 12, yMaxLabel, "end");
  label(pad - 3, height - pad, "0", "end");
  return label;
}

function renderCurves() {
  const container = document.getElementById("curves");
  const charts = [...state.markets.values()].map((market) => {
    const [width, height, pad] = [300, 150, 34];
    const params = market.params;
    const reserve = 1 - params.reserveFactor / 10000;
    const borrowAt = (u) => borrowRateAt(params, u);
    const supplyAt = (u) => borrowAt(u) * u * reserve;
    const top = Math.max(borrowAt(1), 0.0001) * 1.05;
    const x = (u) => pad + u * (width - pad - 6);
    const y = (rate) => height - pad - (rate / top) * (height - pad - 6);
    const samples = Array.from({ length: 101 }, (_, index) => index / 100);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
    const label = axes(chart, width, height, pad, (top * 100).toFixed(0) + "%");
    const optimal = ray(params.optimalUtilization);
    chart.append(svg("line", { x1: x(optimal), y1: 6, x2: x(optimal), y2: height - pad, stroke: "#3a4654", "stroke-dasharray": "2 3" }));
    label(x(optimal), height - pad + 12, "optimal " + (optimal * 100).toFixed(0) + "%", "middle");
    label(width - 6, height - pad + 24, "utilization →", "end");
    chart.append(path(samples.map((u) => [x(u), y(borrowAt(u))]), "#5aa9e6"));
    chart.append(path(samples.map((u) => [x(u), y(supplyAt(u))]), "#b48ead", true));
    const utilization = ray(market.utilization);
    chart.append(svg("circle", { cx: x(utilization), cy: y(ray(market.borrowApr)), r: 5, fill: "#e6b450", stroke: "#0f1419" }));
    chart.append(svg("circle", { cx: x(utilization), cy: y(ray(market.supplyApr)), r: 4, fill: "#b48ead", stroke: "#0f1419" }));
    const legend = el("div", { class: "legend", html:
      `<span class="b">borrow ${percent(market.borrowApr)}</span> · <span class="s">supply ${percent(market.supplyApr)}</span>` +
      ` · <span class="u">at ${percent(market.utilization, 1)} utilization</span>` });
    return el("div", { class: "chart", "data-asset": market.asset }, el("h3", {}, market.asset), chart, legend);
  });
  container.replaceChildren(...charts);
}

function recordHistory(notice) {
  for (const market of notice.markets) {
    const series = state.history.get(market.asset) ?? [];
    if (series.length && series[series.length - 1].height >= notice.height) continue;
    series.push({ height: notice.height, utilization: ray(market.utilization), borrow: ray(market.borrowApy), supply: ray(market.supplyApy) });
    if (series.length > HISTORY_BLOCKS) series.shift();
    state.history.set(market.asset, series);
  }
}

function renderHistory() {
  const container = document.getElementById("history");
  const charts = [...state.history.entries()].map(([asset, series]) => {
    const [width, height, pad] = [300, 150, 34];
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
    const top = Math.max(0.01, ...series.map((point) => point.borrow)) * 1.2;
    const label = axes(chart, width, height, pad, "100%");
    label(width - 6, 12, "borrow " + (top * 100).toFixed(1) + "%", "end");
    const first = series[0]?.height ?? 0;
    const span = Math.max(1, (series[series.length - 1]?.height ?? 1) - first);
    const x = (h) => pad + ((h - first) / span) * (width - pad - 6);
    const y = (fraction) => height - pad - fraction * (height - pad - 6);
    chart.append(path(series.map((point) => [x(point.height), y(point.utilization)]), "#e6b450"));
    chart.append(path(series.map((point) => [x(point.height), y(point.borrow / top)]), "#5aa9e6"));
    label(pad, height - pad + 12, "block " + first);
    label(width - 6, height - pad + 12, "block " + (first + span), "end");
    const last = series[series.length - 1];
    const legend = el("div", { class: "legend", html: last
      ? `<span class="u">utilization ${(last.utilization * 100).toFixed(1)}%</span> · <span class="b">borrow APY ${(last.borrow * 100).toFixed(2)}%</span> · ${series.length} blocks`
      : "" });
    return el("div", { class: "chart" }, el("h3", {}, asset), chart, legend);
  });
  container.replaceChildren(...charts);
}

// ---- risk: the at-risk set and positions by health ---------------------------

function renderAtRisk() {
  const entries = [...state.atRisk.entries()].sort(
    ([, a], [, b]) => wad(a.health?.healthFactor ?? "0") - wad(b.health?.healthFactor ?? "0"));
  const rows = entries.map(([owner, entry]) => el("tr", { "data-owner": owner },
    td(ownerLink(owner)),
    td(healthText(entry.health?.healthFactor), healthClass(entry.health?.healthFactor)),
    td(entry.health ? usd(entry.health.collateralValue) : "—"),
    td(entry.health ? usd(entry.health.debtValue) : "—"),
    td(entry.to === "liquidatable" ? "liquidatable" : "at risk", entry.to === "liquidatable" ? "bad" : "warn")));
  replaceRows(document.querySelector("#at-risk tbody"), rows);
  document.getElementById("at-risk-empty").hidden = rows.length > 0;
  document.getElementById("at-risk-band").textContent = `health factor below ${state.band}`;
}

function onRisk(notice) {
  state.band = wad(notice.atRiskBelow);
  if (notice.snapshot) state.atRisk.clear();
  for (const change of notice.changes) {
    if (change.health) state.riskByBlock.set(`${notice.height}:${change.owner}`, change.health);
    if (change.to === "atRisk" || change.to === "liquidatable") state.atRisk.set(change.owner, change);
    else state.atRisk.delete(change.owner);
  }
  if (state.riskByBlock.size > 2000) state.riskByBlock.clear();
  renderAtRisk();
  refreshPositions(true);
}

async function refreshPositions(force) {
  const now = Date.now();
  if (!force && now - state.lastPositionsRefresh < 3000) return;
  state.lastPositionsRefresh = now;
  const listed = await rpc("getLiquidatable", { atRiskBelow: POSITIONS_BAND, limit: POSITION_ROWS });
  const all = [...listed.liquidatable, ...listed.atRisk]
    .sort((a, b) => wad(a.healthFactor) - wad(b.healthFactor))
    .slice(0, POSITION_ROWS);
  const positions = await Promise.all(all.map((entry) => rpc("getPosition", { address: entry.owner }).catch(() => null)));
  const rows = all.map((entry, index) => {
    const position = positions[index];
    const prices = (position?.assets ?? [])
      .filter((asset) => asset.liquidationPrice)
      .map((asset) => `${asset.asset} ${usd(asset.liquidationPrice)}`)
      .join(", ");
    return el("tr", { "data-owner": entry.owner },
      td(ownerLink(entry.owner)), td(healthText(entry.healthFactor), healthClass(entry.healthFactor)),
      td(usd(entry.debtValue)), td(prices || "—"));
  });
  replaceRows(document.querySelector("#positions tbody"), rows);
  document.getElementById("positions-empty").hidden = rows.length > 0;
}

// ---- blocks and liquidations ---------------------------------------------------

function onHead(head) {
  state.blocks.unshift(head);
  if (state.blocks.length > 200) state.blocks.pop();
  document.getElementById("head").textContent =
    `block ${head.header.height} · ${new Date(head.header.timestamp * 1000).toLocaleTimeString()}`;
  const executed = state.blocks.filter((block) => block.execution && block.transactions > 0);
  const parallel = executed.filter((block) => block.execution.parallel).length;
  document.getElementById("parallel-share").textContent = executed.length
    ? `parallel path ${Math.round((parallel / executed.length) * 100)}% of the last ${executed.length} non-empty blocks`
    : "";
  const rows = state.blocks.slice(0, BLOCK_ROWS).map((block, index) => {
    const execution = block.execution;
    const row = el("tr", { class: index === 0 ? "fresh" : "" },
      td(block.header.height), td(block.transactions), td(block.failed, block.failed ? "warn" : ""),
      td(execution ? (execution.parallel ? "parallel" : "serial") : "—", execution?.parallel ? "good" : "muted"),
      td(execution?.depth ?? "—"), td(execution?.reexecutions ?? "—"),
      td(execution?.scheduleMicros ?? "—"), td(execution?.executeMicros ?? "—"), td(execution?.rootMicros ?? "—"),
      td(execution?.commitMicros ?? "—"));
    return row;
  });
  replaceRows(document.querySelector("#blocks tbody"), rows);
  refreshPositions(false);
  if (state.positionOwner) refreshPosition(false);
}

function instructionType(instruction) {
  return instruction.type;
}

function namesAddress(notice, address) {
  if (notice.signer === address) return true;
  return notice.instructions.some((instruction) =>
    [instruction.to, instruction.borrower, instruction.onBehalfOf].includes(address));
}

// Amounts of a liquidation: from the receipt's events when the node
// records them; until then, the borrower's health after the block.
function liquidationAmounts(notice, instruction) {
  const events = notice.receipt.events ?? notice.events;
  if (Array.isArray(events) && events.length) {
    return events
      .map((event) => Object.entries(event).map(([key, value]) => `${key} ${typeof value === "object" ? JSON.stringify(value) : value}`).join(" "))
      .join("; ");
  }
  const health = state.riskByBlock.get(`${notice.receipt.blockHeight}:${instruction.borrower}`);
  return health ? `health after ${healthText(health.healthFactor)}` : "—";
}

function onTransaction(notice) {
  const success = notice.receipt.outcome.result === "success";
  for (const instruction of notice.instructions) {
    if (instructionType(instruction) !== "liquidate" || !success) continue;
    state.liquidations.unshift({ notice, instruction });
  }
  if (state.liquidations.length > LIQUIDATION_ROWS) state.liquidations.length = LIQUIDATION_ROWS;
  // The health after the block arrives with the liquidatable notification of
  // the same block: render a moment later too.
  renderLiquidations();
  setTimeout(renderLiquidations, 300);
  if (state.positionOwner && namesAddress(notice, state.positionOwner)) {
    state.positionTransactions.unshift(notice);
    if (state.positionTransactions.length > 50) state.positionTransactions.pop();
    renderPositionTransactions();
    refreshPosition(true);
  }
}

function renderLiquidations() {
  const rows = state.liquidations.map(({ notice, instruction }) => el("tr", { "data-borrower": instruction.borrower },
    td(notice.receipt.blockHeight), td(ownerLink(instruction.borrower)), td(ownerLink(notice.signer)),
    td(`${instruction.debtAsset} ${instruction.debtToCover === "all" ? "(max)" : instruction.debtToCover}`),
    td(instruction.collateralAsset), td(liquidationAmounts(notice, instruction))));
  replaceRows(document.querySelector("#liquidations tbody"), rows);
  document.getElementById("liquidations-empty").hidden = rows.length > 0;
}

// ---- the position page -----------------------------------------------------------

async function refreshPosition(force) {
  const owner = state.positionOwner;
  if (!owner) return;
  const now = Date.now();
  if (!force && now - (state.lastPositionRefresh ?? 0) < 1000) return;
  state.lastPositionRefresh = now;
  let position;
  try {
    position = await rpc("getPosition", { address: owner });
  } catch (error) {
    document.getElementById("position-summary").textContent = error.message;
    return;
  }
  const health = position.health;
  const item = (label, value, cls) => el("div", {}, el("b", cls ? { class: cls } : {}, value), el("span", {}, label));
  document.getElementById("position-summary").replaceChildren(
    item("health factor", healthText(health?.healthFactor), healthClass(health?.healthFactor)),
    item("collateral", health ? usd(health.collateralValue) : "—"),
    item("debt", health ? usd(health.debtValue) : "—"),
    item("available to borrow", position.availableToBorrow ? usd(position.availableToBorrow) : "—"),
    item("prices", position.pricesFresh ? "fresh" : "stale", position.pricesFresh ? "good" : "bad"),
    item("e-mode", position.emodeCategory ? `category ${position.emodeCategory}` : "none"));
  const rows = position.assets.map((asset) => el("tr", {},
    td(el("b", {}, asset.asset)), td(number(tokens(asset.deposit, asset.decimals), 6)), td(asset.collateral ? "yes" : "no"),
    td(number(tokens(asset.debt, asset.decimals), 6)), td(asset.price ? usd(asset.price.price) : "—"),
    td(asset.liquidationPrice ? usd(asset.liquidationPrice) : "—")));
  replaceRows(document.querySelector("#position-assets tbody"), rows);
}

function renderPositionTransactions() {
  const rows = state.positionTransactions.map((notice) => el("tr", {},
    td(notice.receipt.blockHeight), td(ownerLink(notice.signer)),
    td(notice.instructions.map(instructionType).join(", ")),
    td(notice.receipt.outcome.result === "success" ? "ok" : notice.receipt.outcome.reason ?? notice.receipt.outcome.result,
      notice.receipt.outcome.result === "success" ? "good" : "bad")));
  replaceRows(document.querySelector("#position-transactions tbody"), rows);
}

function route() {
  const match = location.hash.match(/^#\/position\/([0-9a-fA-F]{64})$/);
  state.positionOwner = match ? match[1].toLowerCase() : null;
  document.getElementById("overview").hidden = Boolean(state.positionOwner);
  document.getElementById("position-page").hidden = !state.positionOwner;
  if (state.positionOwner) {
    document.getElementById("position-owner").textContent = state.positionOwner;
    state.positionTransactions = [];
    renderPositionTransactions();
    refreshPosition(true);
  }
}

// ---- start -------------------------------------------------------------------------

function onMarkets(notice) {
  for (const market of notice.markets) state.markets.set(market.asset, market);
  for (const entry of notice.prices) if (entry.price) state.prices.set(entry.asset, entry.price);
  recordHistory(notice);
  renderMarkets();
  renderHistory();
}

async function refreshAll() {
  try {
    const [markets, head] = await Promise.all([rpc("getMarkets"), rpc("getHead")]);
    for (const market of markets) state.markets.set(market.asset, market);
    document.getElementById("head").textContent = `block ${head.height}`;
    renderMarkets();
    await refreshPositions(true);
  } catch (error) {
    console.warn(error);
  }
}

document.getElementById("lookup").addEventListener("submit", (event) => {
  event.preventDefault();
  const address = document.getElementById("lookup-address").value.trim().replace(/^0x/, "");
  location.hash = "#/position/" + address;
});
window.addEventListener("hashchange", route);

live.subscribe("subscribeNewHeads", {}, "newHeads", onHead);
live.subscribe("subscribeMarkets", {}, "markets", onMarkets);
live.subscribe("subscribeLiquidatable", {}, "liquidatable", onRisk);
live.subscribe("subscribeTransactions", {}, "transactions", onTransaction);
route();
renderAtRisk();
renderLiquidations();
live.connect();
