// End-to-end test of the dashboard: the real binary's simulator, a real workspace, `serve` with
// the embedded web/dist, and the installed Chromium driven by playwright-core. What a user would
// check: logging in, the 29 guests with their badges, an edit that becomes a one-change plan,
// applying it with live progress, drift made on the cluster, a viewer who cannot apply, and an
// invalid edit that is refused next to its field with the file untouched.
//
//   PMPC_BIN=target/debug/proxmox-mpc node --test web/e2e/
//
// Env: PMPC_BIN (required), CHROMIUM (default /usr/bin/chromium), PMPC_E2E_ARTIFACTS (screenshots,
// default web/e2e/artifacts/). PMPC_E2E_DIST=web/dist serves the page and its assets from that
// folder instead of the binary's embedded copy (for working on the UI without rebuilding the
// binary; the API is the binary's either way). Everything listens on 127.0.0.1; every wait is bounded and every
// child process is stopped at the end, also when a test fails.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.PMPC_BIN ? path.resolve(process.env.PMPC_BIN) : "";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = path.resolve(process.env.PMPC_E2E_ARTIFACTS || path.join(here, "artifacts"));
const WAIT = 20_000; // any single wait in the browser or for a process
const SECRET_VAR = "PMPC_E2E_SIM_SECRET";
const DIST = process.env.PMPC_E2E_DIST ? path.resolve(process.env.PMPC_E2E_DIST) : null;

const children = [];
let browser = null;
let workspace = null;
let sim = null; // { url, fingerprint, tokenHeader, secret }
let serveUrl = null;
let operatorToken = null;
let viewerToken = null;
let simSecretEnv = {};
let shot = 0;

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
    }
  }
}
process.on("exit", () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  }
});

/** Starts a long-running child and collects its output (never printed: it may hold secrets). */
function start(args, options = {}) {
  const child = spawn(BIN, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  child.out = "";
  child.err = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (child.out += d));
  child.stderr.setEncoding("utf8").on("data", (d) => (child.err += d));
  children.push(child);
  return child;
}

/** Waits until `test(child)` returns a value, the child exits, or the time is up. */
async function waitFor(child, what, check, timeout = WAIT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = check(child);
    if (value) return value;
    if (child.exitCode !== null) throw new Error(`${what}: the process exited (${child.exitCode}) before it was ready`);
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the binary to completion in the workspace; returns stdout. */
function run(args, timeout = 60_000) {
  return new Promise((resolve, reject) => {
    execFile(
      BIN,
      args,
      { cwd: workspace, env: { ...process.env, ...simSecretEnv, NO_COLOR: "1" }, timeout, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        // The first word only: arguments and output may carry a token.
        if (err) reject(new Error(`proxmox-mpc ${args[0]} failed (${err.code ?? err.signal}): ${stderr.slice(-2000)}`));
        else resolve(stdout);
      },
    );
  });
}

/** A request to the simulator's PVE API, its certificate pinned by the fingerprint it printed. */
function pve(method, apiPath, form) {
  const url = new URL(`${sim.url}${apiPath}`);
  const body = form ? new URLSearchParams(form).toString() : null;
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method,
        agent: false, // a fresh connection, so its certificate is checked every time
        rejectUnauthorized: false, // self-signed; the fingerprint is checked below instead
        headers: {
          Authorization: sim.tokenHeader,
          ...(body ? { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": Buffer.byteLength(body) } : {}),
        },
        timeout: WAIT,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d) => (text += d));
        res.on("end", () => {
          if (res.statusCode >= 300) reject(new Error(`${method} ${apiPath}: ${res.statusCode} ${text.slice(0, 500)}`));
          else resolve(JSON.parse(text).data);
        });
      },
    );
    req.on("socket", (socket) => {
      socket.once("secureConnect", () => {
        const pinned = socket.getPeerCertificate().fingerprint256;
        if (pinned !== sim.fingerprint) {
          req.destroy(new Error(`the simulator's certificate is ${pinned}, not the printed ${sim.fingerprint}`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${apiPath}: no answer in ${WAIT} ms`)));
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

/** A REST call to serve with a bearer token (not through the browser). */
async function rest(token, method, apiPath, body) {
  const res = await fetch(`${serveUrl}/api/v1${apiPath}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(WAIT),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${apiPath}: ${res.status} ${json.title ?? ""}`);
  return json;
}

async function guestOnServer(name) {
  const overview = await rest(operatorToken, "GET", "/overview");
  const guest = overview.data.guests.find((g) => g.name === name);
  assert.ok(guest, `${name} is in the overview`);
  return guest;
}

async function screenshot(page, name) {
  shot += 1;
  await page.screenshot({ path: path.join(ARTIFACTS, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

const openPages = new Set();

/** Runs a test body; on failure, screenshots every open page before the failure is reported. */
function scenario(name, body) {
  return async () => {
    try {
      await body();
    } catch (err) {
      for (const page of openPages) {
        const file = path.join(ARTIFACTS, `FAILED-${name}-${String(++shot).padStart(2, "0")}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
        err.message += `\n  page ${page.url()} (screenshot ${file})\n  problems: ${JSON.stringify(page.problems)}`;
      }
      throw err;
    } finally {
      for (const page of openPages) await page.context().close().catch(() => undefined);
      openPages.clear();
    }
  };
}

async function login(token) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  openPages.add(page);
  page.setDefaultTimeout(WAIT);
  const problems = [];
  if (DIST) {
    await context.route(/^http:\/\/127\.0\.0\.1:\d+\/(assets\/[\w.-]+)?(\?.*)?(#.*)?$/, async (route) => {
      const rel = new URL(route.request().url()).pathname.slice(1) || "index.html";
      const type = rel.endsWith(".js") ? "text/javascript" : rel.endsWith(".css") ? "text/css" : "text/html";
      await route.fulfill({ status: 200, contentType: type, body: fs.readFileSync(path.join(DIST, rel)) });
    });
  }
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // A refused request is logged by the browser itself; what matters is script errors and CSP.
    if (m.type() !== "error" || /Failed to load resource/.test(m.text())) return;
    if (DIST && /ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS/.test(m.text())) return;
    problems.push(`console: ${m.text()}`);
  });
  page.problems = problems;
  await page.goto(`${serveUrl}/`);
  await page.locator("#token").waitFor();
  await page.fill("#token", token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("[data-guest]").first().waitFor();
  return page;
}

async function badgeOf(page, guest) {
  return page.locator(`[data-guest="${guest}"] [data-badge]`).getAttribute("data-badge");
}

before(async () => {
  assert.ok(BIN, "set PMPC_BIN to the proxmox-mpc binary (e.g. target/debug/proxmox-mpc)");
  assert.ok(fs.existsSync(BIN), `PMPC_BIN ${BIN} does not exist`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  workspace = fs.mkdtempSync(path.join(os.tmpdir(), "pmpc-e2e-"));

  const simProcess = start(["sim", "--listen", "127.0.0.1:0", "--task-ms", "300"]);
  const lines = await waitFor(simProcess, "sim", (c) => {
    const l = c.out.split("\n").filter(Boolean);
    return l.length >= 3 ? l : null;
  });
  const [apiUrl, fingerprint, tokenHeader] = lines;
  assert.match(apiUrl, /^https:\/\/127\.0\.0\.1:\d+\/api2\/json$/);
  const token = tokenHeader.replace(/^PVEAPIToken=/, "");
  const cut = token.indexOf("=");
  sim = {
    url: apiUrl,
    fingerprint,
    tokenHeader,
    tokenId: token.slice(0, cut),
    secret: token.slice(cut + 1),
  };
  simSecretEnv = { [SECRET_VAR]: sim.secret };

  await run([
    "init",
    "--endpoint",
    apiUrl.replace(/\/api2\/json$/, ""),
    "--token-id",
    sim.tokenId,
    "--secret-env",
    SECRET_VAR,
    "--fingerprint",
    fingerprint,
    "--yes",
  ]);
  await run(["sync"]);
  operatorToken = (await run(["token", "create", "e2e-op", "--role", "operator"])).trim().split("\n").pop();
  viewerToken = (await run(["token", "create", "e2e-view", "--role", "viewer"])).trim().split("\n").pop();
  assert.match(operatorToken, /^pmpc_[0-9a-f]{64}$/);
  assert.match(viewerToken, /^pmpc_[0-9a-f]{64}$/);

  const serve = start(["serve", "--listen", "127.0.0.1:0"], {
    cwd: workspace,
    env: { ...process.env, ...simSecretEnv, NO_COLOR: "1" },
  });
  serveUrl = await waitFor(serve, "serve", (c) => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(c.err)?.[1]);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], timeout: WAIT });
});

after(async () => {
  await browser?.close().catch(() => undefined);
  killAll();
  const deadline = Date.now() + 5000;
  while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  if (workspace) fs.rmSync(workspace, { recursive: true, force: true });
});

test("an operator edits web-01's memory, reviews the one-change plan, applies it and sees it in sync", { timeout: 180_000 }, scenario("operator-apply", async () => {
  const page = await login(operatorToken);
  await page.locator("[data-guest]").nth(28).waitFor();
  assert.equal(await page.locator("[data-guest]").count(), 29, "the homelab's 29 guests");
  const badges = await page.locator("[data-guest] [data-badge]").evaluateAll((els) => els.map((e) => e.getAttribute("data-badge")));
  assert.equal(badges.length, 29);
  for (const b of badges) assert.ok(["in-sync", "drifted", "pending", "unmanaged"].includes(b), `badge ${b}`);
  assert.equal(await badgeOf(page, "web-01"), "in-sync");
  // The badge says its state in words too, not by colour alone.
  assert.match(await page.locator('[data-guest="web-01"] [data-badge]').innerText(), /in sync/);
  await screenshot(page, "overview");

  await page.locator('[data-guest="web-01"] a').click();
  await page.locator('[data-field="memory"]').waitFor();
  assert.equal(await page.locator('[data-field="memory"]').getAttribute("data-drifted"), "false");
  await page.locator("[data-chart]").first().waitFor();
  assert.equal(await page.locator("[data-chart]").count(), 4, "CPU, memory, network and disk charts");
  await screenshot(page, "guest-web-01");

  await page.getByRole("link", { name: "Edit definition" }).click();
  const memory = page.locator("#field-memory");
  await memory.waitFor();
  const before = await memory.inputValue();
  assert.equal(before, "2048");
  await memory.fill("4G");
  await screenshot(page, "edit-web-01");
  await page.getByRole("button", { name: "Save and plan" }).click();

  await page.waitForURL(/#\/plan$/);
  await page.locator("[data-change]").first().waitFor();
  const changed = await page.locator("[data-change]").evaluateAll((els) => els.map((e) => e.getAttribute("data-change")));
  assert.deepEqual(changed, ["web-01"], "the plan has one change");
  const fields = await page.locator('[data-change="web-01"] [data-plan-field]').evaluateAll((els) => els.map((e) => e.getAttribute("data-plan-field")));
  assert.deepEqual(fields, ["memory"]);
  assert.equal(await page.locator('[data-plan-field="memory"]').innerText(), '~ memory: "2048" → "4096"');
  await screenshot(page, "plan");

  await page.getByRole("button", { name: "Approve and apply" }).click();
  await page.locator("[data-step]").first().waitFor();
  const status = page.locator("[data-job-status]");
  await status.waitFor({ timeout: 60_000 });
  assert.equal(await status.getAttribute("data-job-status"), "succeeded");
  const step = page.locator('[data-step="0"]');
  assert.equal(await step.getAttribute("data-step-status"), "done");
  assert.ok((await step.locator(".step-messages li").count()) > 0, "the step's task progress arrived");
  assert.match(await step.innerText(), /web-01/);
  // The WebSocket carried the events (SSE is the fallback). A page served by PMPC_E2E_DIST comes
  // from Playwright, not from 127.0.0.1, and Chromium's local network checks refuse its socket.
  const transport = await page.locator("[data-transport]").getAttribute("data-transport");
  assert.equal(transport, DIST ? "sse" : "websocket");
  await screenshot(page, "applied");

  await page.goto(`${serveUrl}/#/`);
  await page.locator('[data-guest="web-01"] [data-badge]').waitFor();
  assert.equal(await badgeOf(page, "web-01"), "in-sync");
  await page.goto(`${serveUrl}/#/guests/web-01`);
  const row = page.locator('[data-field="memory"]');
  await row.waitFor();
  assert.match(await row.innerText(), /4096[\s\S]*4096/, "file and live both 4096 MiB");
  await screenshot(page, "web-01-after");

  const guest = await guestOnServer("web-01");
  const config = await pve("GET", `/nodes/${guest.node}/qemu/${guest.vmid}/config`);
  assert.equal(String(config.memory), "4096", "the simulator's config has the new memory");
  assert.deepEqual(page.problems, []);
}));

test("memory changed on the cluster shows web-02 as drifted with the field highlighted", { timeout: 120_000 }, scenario("drift", async () => {
  const guest = await guestOnServer("web-02");
  const current = await pve("GET", `/nodes/${guest.node}/qemu/${guest.vmid}/config`);
  const changed = String(Number(current.memory) + 1024);
  await pve("PUT", `/nodes/${guest.node}/qemu/${guest.vmid}/config`, { memory: changed });

  const page = await login(operatorToken);
  await page.locator('[data-guest="web-02"] [data-badge]').waitFor();
  assert.equal(await badgeOf(page, "web-02"), "drifted");
  assert.match(await page.locator('[data-guest="web-02"] [data-badge]').innerText(), /drifted/);
  await screenshot(page, "web-02-drifted");

  await page.locator('[data-guest="web-02"] a').click();
  const row = page.locator('[data-field="memory"]');
  await row.waitFor();
  assert.equal(await row.getAttribute("data-drifted"), "true");
  assert.match(await row.innerText(), new RegExp(`${current.memory}[\\s\\S]*${changed}`), "file value then live value");
  const drifted = await page.locator('[data-drifted="true"]').evaluateAll((els) => els.map((e) => e.getAttribute("data-field")));
  assert.deepEqual(drifted, ["memory"], "only memory is highlighted");
  await screenshot(page, "web-02-detail");

  // A phone-sized screen: the same views, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 800 });
  for (const [hash, ready] of [
    ["#/", '[data-guest="web-02"] [data-badge="drifted"]'],
    ["#/guests/web-02", '[data-field="memory"][data-drifted="true"]'],
  ]) {
    await page.goto(`${serveUrl}/${hash}`);
    await page.locator(ready).waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${hash} is ${width} px wide at 390 px`);
    await screenshot(page, `narrow-${hash === "#/" ? "overview" : "web-02"}`);
  }
  assert.deepEqual(page.problems, []);
}));

test("a viewer sees no apply button and the server refuses its apply", { timeout: 120_000 }, scenario("viewer", async () => {
  // Make sure there is something to apply, so a missing button means the role, not an empty plan.
  const guest = await guestOnServer("db-01");
  const current = await pve("GET", `/nodes/${guest.node}/qemu/${guest.vmid}/config`);
  await pve("PUT", `/nodes/${guest.node}/qemu/${guest.vmid}/config`, { cores: String(Number(current.cores) + 1) });

  const page = await login(viewerToken);
  await page.goto(`${serveUrl}/#/plan`);
  await page.locator("[data-change]").first().waitFor();
  assert.ok((await page.locator("[data-change]").count()) > 0, "the viewer sees pending changes");
  await page.locator("[data-apply-hidden]").waitFor();
  assert.equal(await page.getByRole("button", { name: "Approve and apply" }).count(), 0);
  await screenshot(page, "viewer-plan");

  await page.goto(`${serveUrl}/#/guests/db-01`);
  await page.locator('[data-field="cores"]').waitFor();
  assert.equal(await page.getByRole("link", { name: "Edit definition" }).count(), 0, "no edit link for a viewer");

  const answer = await page.evaluate(async () => {
    const res = await fetch("/api/v1/apply", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": sessionStorage.getItem("pmpc.csrf") ?? "" },
      body: JSON.stringify({ yes: true }),
    });
    return { status: res.status, body: await res.json() };
  });
  assert.equal(answer.status, 403);
  assert.match(answer.body.title, /viewer/);
  assert.deepEqual(page.problems, []);
}));

test("an invalid edit shows each message next to its field and leaves the file alone", { timeout: 120_000 }, scenario("invalid-edit", async () => {
  const file = path.join(workspace, "terraform", "web_01.tf");
  const before = fs.readFileSync(file);
  const page = await login(operatorToken);
  await page.goto(`${serveUrl}/#/guests/web-01/edit`);
  await page.locator("#field-memory").waitFor();
  await page.fill("#field-memory", "lots");
  await page.fill("#field-add-disk", "scsi99=local-lvm:10G");
  await page.getByRole("button", { name: "Save and plan" }).click();

  const memoryError = page.locator('[data-error-for="memory"]');
  const diskError = page.locator('[data-error-for="add-disk"]');
  await memoryError.waitFor();
  await diskError.waitFor();
  assert.match(await memoryError.innerText(), /lots/);
  assert.match(await diskError.innerText(), /scsi99/);
  // Each message sits in its field's own block, under its input.
  assert.equal(await page.locator('[data-field="memory"] [data-error-for="memory"]').count(), 1);
  assert.equal(await page.locator('[data-field="add-disk"] [data-error-for="add-disk"]').count(), 1);
  assert.equal(await page.locator('[data-error-for="cores"]').count(), 0);
  // Nothing else changed: still the editor, with what the user typed.
  assert.match(page.url(), /#\/guests\/web-01\/edit$/);
  assert.equal(await page.inputValue("#field-memory"), "lots");
  assert.equal(await page.getAttribute("#field-memory", "aria-invalid"), "true");
  await screenshot(page, "invalid-edit");
  assert.deepEqual(fs.readFileSync(file), before, "web_01.tf is unchanged");

  // The raw HCL: a file that does not parse is refused with the parser's message under it.
  await page.getByRole("tab", { name: "HCL" }).click();
  const hcl = page.locator("#field-hcl");
  await hcl.waitFor();
  assert.equal(await hcl.inputValue(), before.toString("utf8"), "the HCL tab shows the file as it is");
  await hcl.fill('resource "proxmox_virtual_environment_vm" "web_01" {\n  memory {\n');
  await page.getByRole("button", { name: "Save and plan" }).click();
  const hclError = page.locator('[data-error-for="hcl"]');
  await hclError.waitFor();
  assert.match(await hclError.innerText(), /HCL/);
  await screenshot(page, "invalid-hcl");
  assert.deepEqual(fs.readFileSync(file), before, "web_01.tf is still unchanged");
  assert.deepEqual(page.problems, []);
}));

test("the link proxmox-mpc demo prints logs in and shows its cluster, and the token leaves the address bar", { timeout: 120_000 }, scenario("demo-link", async () => {
  const demoDir = fs.mkdtempSync(path.join(os.tmpdir(), "pmpc-e2e-demo-"));
  // stdin stays open: the demo's console (and its dashboard) lives until it ends.
  const demo = start(["demo", path.join(demoDir, "ws")], { cwd: demoDir, stdio: ["pipe", "pipe", "pipe"] });
  try {
    const link = await waitFor(demo, "demo", (c) => /Dashboard: (http:\/\/127\.0\.0\.1:\d+\/#token=pmpc_[0-9a-f]{64})/.exec(c.err)?.[1], 60_000);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    openPages.add(page);
    page.setDefaultTimeout(WAIT);
    await page.goto(link);
    await page.locator("[data-guest]").nth(28).waitFor();
    assert.equal(await page.locator("[data-guest]").count(), 29, "the demo's homelab");
    assert.ok(!page.url().includes("token="), `the token is gone from the address: ${page.url()}`);
    await screenshot(page, "demo-link");
  } finally {
    demo.stdin.end();
    const deadline = Date.now() + WAIT;
    while (demo.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    fs.rmSync(demoDir, { recursive: true, force: true });
  }
  assert.equal(demo.exitCode, 0, "the demo ends when its console does");
}));
