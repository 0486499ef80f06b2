// SPDX-License-Identifier: MIT
// Browser test of the console's live view (web/live.js, GET /api/v1/events):
// a real mcpfleetd on loopback, Debian's Chromium driven by playwright-core
// with two tabs open, one on the overview and one on the device list, and
// a real agent. The agent enrolls and runs, a server is pushed to it, and
// both tabs show the device, the counters and "reached 1 of 1" without a
// reload; then the daemon is stopped and started again on the same ports
// and the tabs reconnect by themselves.
//
//   node tests/web/live.test.mjs MCPFLEETD MCPFLEET
//
// Environment as tests/web/console.test.mjs (MCPFLEET_CACHE, CHROMIUM,
// KEEP=1). Exit 0 pass, 1 fail, 77 skip (only when Chromium is missing and
// cannot be installed).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

import * as harness from './harness.mjs';
import { agentEnv, ensureChromium, ensurePlaywright, log, pass, run, stop, waitFor } from './harness.mjs';

const [daemonArg, agentArg] = process.argv.slice(2);
if (!daemonArg || !agentArg) {
  console.error('usage: live.test.mjs MCPFLEETD MCPFLEET');
  process.exit(2);
}
const DAEMON = path.resolve(daemonArg);
const AGENT = path.resolve(agentArg);


const init = (data) => harness.init(DAEMON, data);
const serve = (data, logFile, agentPort, apiPort) => harness.serve(DAEMON, data, logFile, agentPort, apiPort);

// One admin API call with the token, over TLS to loopback (the fleet CA
// is our own: not checked here, the browser ignores it too).
function apiCall(port, token, method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : JSON.stringify(body);
    const req = https.request({
      host: '127.0.0.1', port, method, path: '/api/v1/' + p, rejectUnauthorized: false, timeout: 15_000,
      headers: { Authorization: 'Bearer ' + token, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}) },
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        const j = text ? JSON.parse(text) : null;
        if (res.statusCode >= 300) reject(new Error(`${method} ${p}: ${res.statusCode} ${text}`));
        else resolve(j);
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${p}: timed out`)));
    if (data) req.write(data);
    req.end();
  });
}

// ---- The test ----

async function main() {
  ensureChromium();
  const { chromium } = ensurePlaywright();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpfleet-live-'));
  const data = path.join(work, 'data');
  const daemonLog = path.join(work, 'mcpfleetd.log');
  let daemon = null;
  let agent = null;
  let ctx = null;
  const problems = [];
  try {
    const token = init(data);
    const srv = await serve(data, daemonLog);
    daemon = srv.proc;
    const base = `https://127.0.0.1:${srv.port}`;
    const api = (method, p, body) => apiCall(srv.port, token, method, p, body);
    log(`mcpfleetd: ${base}`);

    ctx = await harness.launch(chromium, path.join(work, 'chromium-profile'));
    const overview = ctx.pages()[0] || (await ctx.newPage());
    const loads = new Map(); // page -> main-frame loads (a reload counts)
    const watch = (page, name) => {
      page.setDefaultTimeout(20_000);
      loads.set(page, 0);
      page.on('load', () => loads.set(page, loads.get(page) + 1));
      page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
    };
    watch(overview, 'overview');

    // -- Signed in, the overview in one tab and the devices in another.
    await overview.goto(base + '/#/overview');
    await overview.getByLabel('Admin token').fill(token);
    await overview.getByRole('button', { name: 'Sign in' }).click();
    await overview.locator('main').getByRole('heading', { name: 'Overview' }).waitFor();
    const devices = await ctx.newPage();
    watch(devices, 'devices');
    await devices.goto(base + '/#/devices');
    await devices.locator('main').getByRole('heading', { name: 'Devices', level: 1 }).waitFor();
    for (const page of [overview, devices]) await page.locator('#live[data-state="live"]', { hasText: 'live' }).waitFor();
    // Marks that a reload would lose.
    for (const page of [overview, devices]) await page.evaluate(() => { window.liveMark = 'kept'; });
    const before = new Map([...loads]);
    const stat = (label) => overview.locator('main .stat', { hasText: label }).locator('.n');
    assert.equal(await stat('active devices').textContent(), '0');
    assert.equal(await stat('connected now').textContent(), '0');
    pass('two tabs signed in, on the overview and the device list, both streaming ("live")');

    // -- A device enrolls: both tabs show it.
    await api('POST', 'users', { name: 'alice' });
    const link = (await api('POST', 'tokens', { user: 'alice' })).link;
    const home = path.join(work, 'alice');
    fs.mkdirSync(path.join(home, '.cursor'), { recursive: true });
    const env = agentEnv(home);
    const en = spawnSync(AGENT, ['enroll', link], { env, encoding: 'utf8', timeout: 60_000 });
    if (en.status !== 0) throw new Error(`mcpfleet enroll: ${en.status}: ${en.stdout}${en.stderr}`);
    const dev = JSON.parse(fs.readFileSync(path.join(home, '.mcpfleet', 'enrollment.json'), 'utf8')).device_id;
    const devRow = devices.locator('main tbody tr', { hasText: dev });
    await devRow.waitFor();
    await overview.locator('main .stat', { hasText: 'active devices' }).locator('.n', { hasText: /^1$/ }).waitFor();
    await overview.locator('main .stat', { hasText: /^\d+ users?$/ }).locator('.n', { hasText: /^1$/ }).waitFor();
    pass(`enrolled ${dev}: the device list shows it and the overview counts 1 active device and 1 user, no reload`);

    // -- It connects.
    const agentLog = fs.openSync(path.join(work, 'agent.log'), 'a');
    agent = spawn(AGENT, ['run'], { env, stdio: ['ignore', agentLog, agentLog] });
    fs.closeSync(agentLog);
    await devRow.filter({ hasText: 'connected' }).waitFor();
    await overview.locator('main .stat', { hasText: 'connected now' }).locator('.n', { hasText: /^1$/ }).waitFor();
    pass('the agent runs: its row says connected, the overview counts 1 connected');

    // -- A server for everyone: pushed, applied, reported.
    await api('POST', 'servers', { name: 'live-echo', entry: { command: 'echo', args: ['live'] } });
    await api('POST', 'grants', { server: 'live-echo', everyone: true });
    const rev = (await api('GET', 'status')).revision;
    const cursorFile = path.join(home, '.cursor', 'mcp.json');
    await waitFor("the agent to write cursor's file", () => fs.existsSync(cursorFile) && fs.readFileSync(cursorFile, 'utf8').includes('live-echo'), 30_000);
    for (const page of [overview, devices]) {
      await page.locator(`#live-push[data-revision="${rev}"][data-reached="1"][data-devices="1"]`, { hasText: 'reached 1 of 1 device' }).waitFor();
    }
    await devRow.filter({ has: devices.locator('td', { hasText: new RegExp(`^${rev}$`) }) }).waitFor();
    await overview.locator('main .stat', { hasText: /^\d+ servers?$/ }).locator('.n', { hasText: /^1$/ }).waitFor();
    pass(`revision ${rev} pushed: both headers say "reached 1 of 1 device", the row shows it applied, the overview 1 server`);

    for (const page of [overview, devices]) {
      assert.equal(await page.evaluate(() => window.liveMark), 'kept', 'no reload');
      assert.equal(loads.get(page), before.get(page), 'no page load');
    }
    pass('all of it without a reload or a navigation in either tab');

    // -- The daemon goes away and comes back on the same ports.
    await stop(agent);
    agent = null;
    assert.equal(await stop(daemon), 0);
    daemon = null;
    for (const page of [overview, devices]) await page.locator('#live[data-state="reconnecting"]').waitFor();
    pass('mcpfleetd stopped: both tabs say "reconnecting"');
    const again = await serve(data, daemonLog, srv.agentPort, srv.port);
    daemon = again.proc;
    assert.equal(again.port, srv.port);
    for (const page of [overview, devices]) await page.locator('#live[data-state="live"]').waitFor({ timeout: 30_000 });
    // The device list and the counters follow the new daemon: alice's
    // agent is gone, and a new user counts.
    await devRow.filter({ hasText: 'offline' }).waitFor();
    await overview.locator('main .stat', { hasText: 'connected now' }).locator('.n', { hasText: /^0$/ }).waitFor();
    await api('POST', 'users', { name: 'bob' });
    await overview.locator('main .stat', { hasText: /^\d+ users?$/ }).locator('.n', { hasText: /^2$/ }).waitFor();
    for (const page of [overview, devices]) {
      assert.equal(await page.evaluate(() => window.liveMark), 'kept', 'no reload');
      assert.equal(loads.get(page), before.get(page), 'no page load');
    }
    pass('mcpfleetd started again: both tabs reconnected by themselves and follow it (2 users, 0 connected), still without a reload');

    assert.deepEqual(problems, [], 'no script errors');
    pass('no script error in either tab');
    await ctx.close();
    ctx = null;
    const code = await stop(daemon);
    daemon = null;
    assert.equal(code, 0, `mcpfleetd exited with ${code} on SIGTERM: ${fs.readFileSync(daemonLog, 'utf8').slice(-3000)}`);
    pass('mcpfleetd stopped cleanly on SIGTERM, streams and all');
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    await stop(agent);
    await stop(daemon);
    if (process.env.KEEP === '1') log(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

run(main);
