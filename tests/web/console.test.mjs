// SPDX-License-Identifier: MIT
// Browser test of the web console: a real mcpfleetd on loopback (init, then
// serve on ports the kernel picks), Debian's Chromium driven by
// playwright-core, and, when given, a real agent enrolled with the link the
// console showed. Signs in with the admin token, adds a user, a team, a
// server (with its via and rate controls), a grant (with rates) and a
// secret, makes an enrollment link, delivers call records over the agent
// port as an agent does and filters them on the Calls page, revokes things,
// checks the audit log, signs out, and takes screenshots.
//
//   node tests/web/console.test.mjs MCPFLEETD [OUTDIR] [MCPFLEET]
//
// OUTDIR (default: the current directory) receives console-*.png.
// Environment: MCPFLEET_CACHE (default ~/.cache/mcpfleet; playwright-core
// goes to its webpeers/), CHROMIUM (default /usr/bin/chromium), KEEP=1
// keeps the scratch directory. Exit 0 pass, 1 fail, 77 skip (only when
// Chromium is missing and cannot be installed).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import * as harness from './harness.mjs';
import { agentEnv, ensureChromium, ensurePlaywright, log, pass, run, stop, waitFor } from './harness.mjs';

const [daemonArg, outArg, agentArg] = process.argv.slice(2);
if (!daemonArg) {
  console.error('usage: console.test.mjs MCPFLEETD [OUTDIR] [MCPFLEET]');
  process.exit(2);
}
const DAEMON = path.resolve(daemonArg);
const OUT = path.resolve(outArg || '.');
const AGENT = agentArg ? path.resolve(agentArg) : null;


// ---- Chromium, playwright-core, mcpfleetd: tests/web/harness.mjs ----

const init = (data) => harness.init(DAEMON, data);
const serve = (data, logFile) => harness.serve(DAEMON, data, logFile);

// ---- The agent port, spoken directly: hello and a CallBatch ----

// Protobuf, as much as these frames need.
const pbVarint = (n) => {
  let v = BigInt(n);
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
};
const pbInt = (f, n) => Buffer.concat([pbVarint(f << 3), pbVarint(n)]);
const pbBytes = (f, b) => {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b, 'utf8');
  return Buffer.concat([pbVarint((f << 3) | 2), pbVarint(buf.length), buf]);
};
const OUTCOMES = { ok: 0, error: 1, denied: 2, rate_limited: 3 };

function callRecord(c) {
  return Buffer.concat([pbInt(1, c.seq), pbInt(2, c.at_ms), pbBytes(3, c.server), pbBytes(4, c.method),
    pbBytes(5, c.name), pbInt(6, c.duration_us), pbInt(7, OUTCOMES[c.outcome]), pbInt(8, c.bytes_in),
    pbInt(9, c.bytes_out), c.detail ? pbBytes(10, c.detail) : Buffer.alloc(0)]);
}

// One masked binary websocket frame.
function wsFrame(payload) {
  const mask = crypto.randomBytes(4);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n])
    : n < 65536 ? Buffer.from([0x82, 0x80 | 126, n >> 8, n & 0xff])
      : Buffer.concat([Buffer.from([0x82, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i] ^= mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

// Connects as the device (its key and certificate under MCPFLEET_HOME),
// says hello, sends one CallBatch and resolves with CallAck.through_seq.
function sendCalls(port, home, deviceId, calls, dropped = 0) {
  const dir = path.join(home, '.mcpfleet');
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host: '127.0.0.1', port, servername: '127.0.0.1',
      key: fs.readFileSync(path.join(dir, 'device.key')),
      cert: fs.readFileSync(path.join(dir, 'device.crt')),
      ca: fs.readFileSync(path.join(dir, 'ca.crt')),
    });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('no CallAck within 15 s')); }, 15_000);
    let buf = Buffer.alloc(0);
    let open = false;
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('secureConnect', () => {
      sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
        + `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n`
        + 'Sec-WebSocket-Protocol: mcpfleet.v1\r\n\r\n');
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!/^HTTP\/1\.1 101/.test(buf.subarray(0, end).toString())) {
          clearTimeout(timer);
          reject(new Error('websocket refused: ' + buf.subarray(0, end).toString()));
          sock.destroy();
          return;
        }
        buf = buf.subarray(end + 4);
        open = true;
        sock.write(wsFrame(pbBytes(1, pbBytes(1, deviceId))));                 // AgentFrame.hello
        sock.write(wsFrame(pbBytes(4, Buffer.concat([...calls.map((c) => pbBytes(1, callRecord(c))),
          dropped ? pbInt(2, dropped) : Buffer.alloc(0)])))); // .calls, CallBatch.dropped
      }
      // Server frames: an unmasked header, then a ServerFrame.
      while (buf.length >= 2) {
        let n = buf[1] & 0x7f;
        let off = 2;
        if (n === 126) { if (buf.length < 4) return; n = buf.readUInt16BE(2); off = 4; }
        else if (n === 127) { if (buf.length < 10) return; n = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + n) return;
        const msg = buf.subarray(off, off + n);
        buf = buf.subarray(off + n);
        // ServerFrame.calls_ack = 4 (0x22), CallAck.through_seq = 1 (0x08).
        if (msg[0] === 0x22 && msg[2] === 0x08) {
          let v = 0n;
          let shift = 0n;
          for (let i = 3; i < msg.length; i++) {
            v |= BigInt(msg[i] & 0x7f) << shift;
            shift += 7n;
            if (!(msg[i] & 0x80)) break;
          }
          clearTimeout(timer);
          sock.destroy();
          resolve(Number(v));
          return;
        }
      }
    });
  });
}

// ---- The test ----

async function main() {
  ensureChromium();
  const { chromium } = ensurePlaywright();
  fs.mkdirSync(OUT, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpfleet-web-'));
  const data = path.join(work, 'data');
  let daemon = null;
  let agent = null;
  let ctx = null;
  const problems = [];
  try {
    const token = init(data);
    const srv = await serve(data, path.join(work, 'mcpfleetd.log'));
    daemon = srv.proc;
    const base = `https://127.0.0.1:${srv.port}`;
    log(`mcpfleetd: ${base}`);

    ctx = await harness.launch(chromium, path.join(work, 'chromium-profile'), {
      permissions: ['clipboard-read', 'clipboard-write'],
    });
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => {
      // A 401 or 403 the test provokes is logged as a failed load; a
      // policy violation or a script error is a failure.
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push('console: ' + m.text());
    });
    // The console asks in the page (a <dialog>), never with window.confirm.
    page.on('dialog', (d) => {
      problems.push(`a window dialog: ${d.message()}`);
      d.dismiss();
    });
    const shot = async (name) => {
      const file = path.join(OUT, `console-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      log(`screenshot ${file}`);
    };
    const main = page.locator('main');
    // Opens a view by its address and waits for its heading; outside JSON
    // data, a view never shows a stray "null", "undefined" or "[object".
    const go = async (hash, heading) => {
      await page.evaluate((h) => { location.hash = h; }, hash);
      await main.getByRole('heading', { level: 1, name: heading }).waitFor();
      const prose = await main.evaluate((m) => {
        const c = m.cloneNode(true);
        for (const x of c.querySelectorAll('code, pre, textarea')) x.remove(); // data shown as JSON may say null
        return c.textContent;
      });
      const stray = /.{0,200}(\b(null|undefined|NaN)\b|\[object ).{0,200}/.exec(prose);
      assert.equal(stray, null, `view ${hash} shows: ${stray && stray[0]}`);
    };
    const row = (text) => main.locator('tbody tr', { hasText: text });
    // The in-page confirmation of a destructive change: it names what goes
    // and has the focus on Cancel; how: confirm, cancel or escape.
    const confirmDlg = async (text, how = 'confirm') => {
      const dlg = page.getByRole('dialog');
      await dlg.waitFor();
      assert.match(await dlg.textContent(), text);
      assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Cancel');
      if (how === 'confirm') await dlg.locator('button.danger').click();
      else if (how === 'escape') await page.keyboard.press('Escape');
      else await dlg.getByRole('button', { name: 'Cancel' }).click();
      await dlg.waitFor({ state: 'detached' });
    };
    // A field by the start of its label (labels carry hints after it).
    const lbl = (l) => main.locator('input, select, textarea')
      .and(main.getByLabel(new RegExp('^' + l.replace(/[()]/g, '\\$&') + '\\b')));

    // -- The page and its headers.
    const resp = await page.goto(base + '/');
    const hdr = resp.headers();
    assert.equal(resp.status(), 200);
    assert.match(hdr['content-type'], /^text\/html/);
    assert.match(hdr['content-security-policy'], /default-src 'self'/);
    assert.match(hdr['content-security-policy'], /frame-ancestors 'none'/);
    assert.equal(hdr['x-content-type-options'], 'nosniff');
    assert.equal(hdr['referrer-policy'], 'no-referrer');
    pass('GET / serves the console with CSP, nosniff and no-referrer');

    // -- Signing in.
    await page.getByLabel('Admin token').waitFor();
    await shot('login');
    await page.getByLabel('Admin token').fill('not-a-valid-admin-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#login-error', { hasText: 'unknown admin token' }).waitFor();
    pass('a wrong admin token is refused with the reason shown');
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#who', { hasText: 'initial' }).waitFor();
    await page.locator('#role', { hasText: 'owner' }).waitFor();
    await main.getByRole('heading', { name: 'Overview' }).waitFor();
    const cookies = await ctx.cookies(base + '/api/v1/');
    const sc = cookies.find((c) => c.name === '__Host-mcpfleet_session');
    assert.ok(sc, 'session cookie set');
    assert.equal(sc.httpOnly, true);
    assert.equal(sc.secure, true);
    assert.equal(sc.sameSite, 'Strict');
    // __Host-: the browser keeps it only Secure, for Path=/ and without
    // Domain (a host-only cookie).
    assert.equal(sc.path, '/');
    assert.ok(!sc.domain.startsWith('.'), 'host-only cookie');
    assert.equal(await page.evaluate(() => document.cookie), '', 'the cookie is not readable by scripts');
    pass('signed in: a __Host- cookie, HttpOnly, Secure, SameSite=Strict, Path=/');

    // -- A change without the CSRF token is refused, even from the page.
    const forged = await page.evaluate(async () => (await fetch('/api/v1/users', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'eve' }),
    })).status);
    assert.equal(forged, 403);
    pass('a POST with the cookie but without X-CSRF-Token gets 403');

    // -- Users.
    await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Users', exact: true }).click();
    await main.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await lbl('Name').fill('alice');
    await lbl('Email').fill('alice@example.com');
    await main.getByRole('button', { name: 'Add user' }).click();
    await row('alice@example.com').waitFor();
    // Data is text, never markup.
    await lbl('Name').fill('mallory');
    await lbl('Email').fill('<img src=x onerror="window.__xss=1">');
    await main.getByRole('button', { name: 'Add user' }).click();
    await row('mallory').waitFor();
    assert.equal(await row('mallory').locator('td').nth(1).textContent(), '<img src=x onerror="window.__xss=1">');
    assert.equal(await main.locator('img').count(), 0);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    await lbl('Name').fill('Bad Name!');
    await main.getByRole('button', { name: 'Add user' }).click();
    await main.getByRole('alert').filter({ hasText: 'only letters, digits' }).waitFor();
    pass('users: added alice and mallory (markup in the email shown as text); a bad name shows the API\'s reason');

    // -- Teams and membership.
    await go('#/teams', 'Teams');
    await lbl('Name').fill('dev');
    await main.getByRole('button', { name: 'Add team' }).click();
    await main.getByRole('link', { name: 'dev', exact: true }).click();
    await main.getByRole('heading', { name: 'dev', level: 1 }).waitFor();
    await lbl('User').fill('alice');
    await main.getByRole('button', { name: 'Add member' }).click();
    await main.getByRole('button', { name: 'Remove alice from dev' }).waitFor();
    pass('teams: dev added, alice is a member');

    // -- Lists: search, filters, sort and pages, kept in the address.
    await page.evaluate(async () => {
      const { csrf } = await (await fetch('/api/v1/session')).json();
      for (let i = 1; i <= 28; i++) {
        const r = await fetch('/api/v1/users', {
          method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ name: `u${String(i).padStart(2, '0')}` }),
        });
        if (r.status !== 201) throw new Error('POST /api/v1/users: ' + r.status);
      }
    });
    const listStatus = main.locator('.list-status');
    const firstCell = () => main.locator('tbody tr').first().locator('td').first().textContent();
    const hashOf = () => page.evaluate(() => location.hash);
    await go('#/users', 'Users');
    await listStatus.filter({ hasText: '30 users · page 1 of 2' }).waitFor();
    assert.equal(await main.locator('tbody tr').count(), 25);
    await main.getByRole('button', { name: 'Next →' }).click();
    await listStatus.filter({ hasText: 'page 2 of 2' }).waitFor();
    assert.equal(await main.locator('tbody tr').count(), 5);
    assert.equal(await hashOf(), '#/users?page=2');
    const nameSort = main.getByRole('button', { name: 'Name', exact: true });
    await nameSort.click();
    await listStatus.filter({ hasText: 'page 1 of 2' }).waitFor();
    assert.equal(await firstCell(), 'alice');
    await nameSort.click();
    await main.locator('th[aria-sort="descending"]', { hasText: 'Name' }).waitFor();
    assert.equal(await firstCell(), 'u28');
    assert.equal(await hashOf(), '#/users?sort=name&dir=desc');
    await lbl('Search').fill('u0');
    await listStatus.filter({ hasText: '9 of 30 users match' }).waitFor();
    assert.equal(await firstCell(), 'u09');
    await lbl('Team').selectOption('dev');
    await main.getByText('No users match.').waitFor();
    await lbl('Search').fill('');
    await listStatus.filter({ hasText: /^1 user$/ }).waitFor();
    assert.equal(await firstCell(), 'alice');
    assert.equal(await hashOf(), '#/users?sort=name&dir=desc&team=dev');
    await lbl('Status').selectOption('disabled');
    await main.getByText('No users match.').waitFor();
    await lbl('Status').selectOption('active');
    await listStatus.filter({ hasText: /^1 user$/ }).waitFor();
    await shot('users-list');
    pass('lists: 30 users in pages of 25, sorted by name both ways, searched, filtered by team and status, all in the address');
    await page.reload();
    await main.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await listStatus.filter({ hasText: /^1 user$/ }).waitFor();
    assert.equal(await lbl('Team').inputValue(), 'dev');
    assert.equal(await lbl('Status').inputValue(), 'active');
    assert.equal(await firstCell(), 'alice');
    pass('lists: a reload shows the same list (team dev, active, sorted by name)');
    await page.goBack(); // to status disabled
    await main.getByText('No users match.').waitFor();
    assert.equal(await lbl('Status').inputValue(), 'disabled');
    await page.goBack(); // to status any
    await waitFor('status any after back', async () => (await lbl('Status').inputValue()) === '');
    assert.equal(await lbl('Team').inputValue(), 'dev');
    await page.goBack(); // to the search "u0", before the team
    await listStatus.filter({ hasText: '9 of 30 users match' }).waitFor();
    assert.equal(await lbl('Team').inputValue(), '');
    assert.equal(await lbl('Search').inputValue(), 'u0');
    await page.goBack(); // sorted by name, ascending
    await main.locator('th[aria-sort="ascending"]', { hasText: 'Name' }).waitFor();
    assert.equal(await firstCell(), 'alice');
    await page.goForward();
    await main.locator('th[aria-sort="descending"]', { hasText: 'Name' }).waitFor();
    await go('#/users?team=gone&q=u1', 'Users');
    await listStatus.filter({ hasText: '10 of 30 users match' }).waitFor(); // u10 to u19
    assert.equal(await lbl('Team').inputValue(), '');
    pass('lists: back and forward walk the list states (filters, search and sort restored); a link naming a team that is not there lists every team');

    // -- Servers: the form, with the canonical JSON kept in step both ways;
    // the API's errors shown under the field they name.
    await go('#/servers', 'Servers');
    const entry = lbl('Entry');
    const advanced = () => main.locator('details.advanced > summary').click();
    const fieldError = (label) => lbl(label).locator('xpath=..').locator('.field-error');
    const addServer = () => main.getByRole('button', { name: 'Add server' }).click();
    await lbl('Name').fill('Bad name');
    await lbl('Transport').selectOption('http');
    await lbl('URL').fill('ftp://docs.example.com/mcp');
    await lbl('Headers').fill('Authorization: Bearer ${secret:DOCS_TOKEN}\nX-Team: dev');
    await lbl('Tools denied').fill('delete_page');
    await advanced();
    assert.deepEqual(JSON.parse(await entry.inputValue()), {
      url: 'ftp://docs.example.com/mcp', headers: { Authorization: 'Bearer ${secret:DOCS_TOKEN}', 'X-Team': 'dev' }, tools: { deny: ['delete_page'] },
    });
    await addServer();
    await fieldError('Name').filter({ hasText: /^Server name .*Bad name/ }).waitFor();
    assert.equal(await lbl('Name').getAttribute('aria-invalid'), 'true');
    await lbl('Name').fill('docs');
    await addServer();
    await fieldError('URL').filter({ hasText: 'Must be an http:// or https:// URL' }).waitFor();
    assert.equal(await lbl('URL').getAttribute('aria-invalid'), 'true');
    assert.equal(await lbl('Name').getAttribute('aria-invalid'), null);
    await main.getByRole('alert').filter({ hasText: 'Not saved: URL: Must be an http:// or https:// URL' }).waitFor();
    await shot('server-error');
    // The JSON edited: the controls follow.
    const docs = {
      url: 'https://docs.example.com/mcp', type: 'sse', headers: { Authorization: 'Bearer ${secret:DOCS_TOKEN}' }, hosts: ['cursor'], tools: { deny: ['delete_page'] },
    };
    await entry.fill(JSON.stringify(docs));
    assert.equal(await lbl('Transport').inputValue(), 'sse');
    assert.equal(await lbl('URL').inputValue(), docs.url);
    assert.equal(await lbl('Headers').inputValue(), 'Authorization: Bearer ${secret:DOCS_TOKEN}');
    assert.equal(await lbl('Hosts').inputValue(), 'cursor');
    assert.equal(await lbl('URL').getAttribute('aria-invalid'), null);
    await addServer();
    await main.getByRole('heading', { name: 'docs', level: 1 }).waitFor();
    assert.deepEqual(JSON.parse(await lbl('Entry').inputValue()), docs);
    assert.equal(await lbl('Transport').inputValue(), 'sse');
    pass('servers: the form builds the JSON and the JSON refills the form; a bad name and a bad URL are shown under their fields in plain words; docs added');

    await go('#/servers', 'Servers');
    await lbl('Name').fill('github');
    await advanced();
    await entry.fill('{"url": ');
    await fieldError('Entry').filter({ hasText: 'not valid JSON' }).waitFor();
    assert.equal(await entry.getAttribute('aria-invalid'), 'true');
    await addServer();
    await main.getByRole('alert').filter({ hasText: 'Not saved: the JSON needs fixing' }).waitFor();
    await entry.fill('{"url": "https://api.example.com/mcp", "command": "npx"}');
    await addServer();
    await fieldError('Command').filter({ hasText: "Needs exactly one of 'command' (stdio) or 'url' (remote)" }).waitFor();
    const apiError = await fieldError('Command').textContent();
    await entry.fill(JSON.stringify({
      url: 'https://api.example.com/mcp', type: 'http',
      headers: { Authorization: 'Bearer ${secret:GITHUB_TOKEN}' }, tools: { deny: ['delete_repository'] },
    }, null, 2));
    await lbl('Rate').fill('120/min');
    await lbl('Tool rates').fill('delete_*');
    await fieldError('Tool rates').filter({ hasText: 'write it as GLOB=RATE' }).waitFor();
    await lbl('Tool rates').fill('delete_*=5/hour');
    assert.equal(await fieldError('Tool rates').textContent(), '');
    await addServer();
    await main.getByRole('heading', { name: 'github', level: 1 }).waitFor();
    {
      const saved = JSON.parse(await lbl('Entry').inputValue());
      assert.equal(saved.type, 'http');
      assert.equal(saved.rate, '120/min');
      assert.deepEqual(saved.tool_rates, { 'delete_*': '5/hour' });
      assert.equal(await lbl('Via').inputValue(), '');
      assert.equal(await lbl('Rate').inputValue(), '120/min');
    }
    await shot('server');
    pass(`servers: invalid JSON and an invalid entry are refused with the reason by the field (${apiError.trim()}); github added`);
    // A second server, through the form, whose command is markup, edited
    // in place.
    await go('#/servers', 'Servers');
    await lbl('Name').fill('everything');
    await lbl('Command').fill('<b>npx</b>');
    await lbl('Arguments').fill('-y\n@modelcontextprotocol/server-everything');
    await lbl('Environment').fill('API_KEY=${secret:EVERYTHING_KEY}');
    await advanced();
    assert.deepEqual(JSON.parse(await entry.inputValue()), {
      command: '<b>npx</b>', args: ['-y', '@modelcontextprotocol/server-everything'], env: { API_KEY: '${secret:EVERYTHING_KEY}' },
    });
    await addServer();
    await main.getByRole('heading', { name: 'everything', level: 1 }).waitFor();
    await advanced();
    await lbl('Entry').fill('{"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"], "tools": {"deny": ["echo"]}}');
    assert.equal(await lbl('Command').inputValue(), 'npx');
    assert.equal(await lbl('Tools denied').inputValue(), 'echo');
    await lbl('Via').selectOption('direct');
    assert.equal(JSON.parse(await lbl('Entry').inputValue()).via, 'direct');
    await main.getByRole('button', { name: 'Save' }).click();
    await page.locator('#toast', { hasText: 'saved' }).waitFor();
    await go('#/servers', 'Servers');
    await row('everything').filter({ hasText: 'npx -y @modelcontextprotocol/server-everything' }).filter({ hasText: 'direct' }).waitFor();
    await row('github').filter({ hasText: '120/min; delete_*=5/hour' }).waitFor();
    assert.equal(await main.locator('b').count(), 0);
    await lbl('Runs').selectOption('sse');
    await main.locator('.list-status', { hasText: /^1 of 3 servers match$/ }).waitFor();
    await row('docs').waitFor();
    pass('servers: everything added through the form, then edited (PUT) to via direct; github shows its rate limits; the list filters by transport');

    // -- Grants.
    await go('#/grants', 'Grants');
    await lbl('Server').selectOption('github');
    await main.getByRole('radio', { name: 'A team' }).check();
    await lbl('Team or user').fill('dev');
    await lbl('Tools denied').fill('delete_repository, delete_org');
    await lbl('Rate').fill('30/minutes');
    await lbl('Tool rates').fill('merge_*=2/day');
    await main.getByRole('button', { name: 'Add grant' }).click();
    await row('delete_repository, delete_org').filter({ hasText: '30/min' }).filter({ hasText: 'merge_*=2/day' }).waitFor();
    await lbl('Server').selectOption('everything');
    await main.getByRole('radio', { name: 'Everyone' }).check();
    await main.getByRole('button', { name: 'Add grant' }).click();
    await row('everything').waitFor();
    await shot('grants');
    pass('grants: github to team dev (deny two tools, 30/min, merge_*=2/day), everything to everyone');

    // -- Secrets: the value goes in and never comes back.
    const SECRET = 'ghp_console_' + crypto.randomBytes(12).toString('hex');
    await go('#/secrets', 'Secrets');
    await lbl('Name').fill('GITHUB_TOKEN');
    await lbl('Scope').selectOption('user');
    await lbl('Team or user').fill('alice');
    const value = lbl('Value');
    assert.equal(await value.getAttribute('type'), 'password');
    await value.fill(SECRET);
    await main.getByRole('button', { name: 'Set secret' }).click();
    await row('GITHUB_TOKEN').filter({ hasText: 'alice' }).waitFor();
    assert.equal(await lbl('Value').inputValue(), '');
    await lbl('Name').fill('ORG_KEY');
    await lbl('Value').fill('org-value-to-remove');
    await main.getByRole('button', { name: 'Set secret' }).click();
    await row('ORG_KEY').waitFor();
    await main.getByRole('button', { name: 'Remove secret ORG_KEY' }).click();
    await confirmDlg(/^Remove secret ORG_KEY of the organisation\?Every version of ORG_KEY/);
    await row('ORG_KEY').waitFor({ state: 'detached' });
    await shot('secrets');
    const html = await page.content();
    assert.ok(!html.includes(SECRET), 'the secret value is not in the page');
    pass('secrets: GITHUB_TOKEN set for alice (password field, cleared, never shown); ORG_KEY set and removed');

    // -- Enrollment links: one revoked, one shown once and used.
    await go('#/tokens', 'Enrollment');
    await lbl('User').fill('alice');
    await main.getByRole('button', { name: 'Create link' }).click();
    await main.locator('#enroll-link').waitFor();
    await main.getByRole('button', { name: 'Done' }).click();
    await main.getByRole('button', { name: /^Revoke enrollment link/ }).first().click();
    await confirmDlg(/^Revoke enrollment link \d+ of alice\?.*can no longer enroll a workstation for alice/);
    await row('revoked').waitFor();
    pass('enrollment: a link created, then revoked from the list');
    await lbl('User').fill('alice');
    await main.getByRole('button', { name: 'Create link' }).click();
    const linkBox = main.locator('#enroll-link');
    await linkBox.waitFor();
    const link = await linkBox.inputValue();
    assert.match(link, /^mcpfleet:\/\/127\.0\.0\.1:\d+\/enroll\/[A-Za-z0-9_-]{43}#ca=sha256:[0-9a-f]{64}$/);
    await main.getByRole('button', { name: 'Copy' }).click();
    await main.getByText('Copied to the clipboard.').waitFor();
    const clip = await page.evaluate(() => navigator.clipboard.readText()).catch(() => null);
    if (clip !== null) assert.equal(clip, link);
    await shot('token');
    pass('enrollment: the link is shown once, well formed, and copied' + (clip !== null ? ' (clipboard checked)' : ''));

    // -- A real device, when the agent was given.
    if (AGENT) {
      const home = path.join(work, 'alice');
      fs.mkdirSync(path.join(home, '.cursor'), { recursive: true });
      const env = agentEnv(home);
      const en = spawnSync(AGENT, ['enroll', link], { env, encoding: 'utf8', timeout: 60_000 });
      if (en.status !== 0) throw new Error(`mcpfleet enroll: ${en.status}: ${en.stdout}${en.stderr}`);
      const enrollment = JSON.parse(fs.readFileSync(path.join(home, '.mcpfleet', 'enrollment.json'), 'utf8'));
      const dev = enrollment.device_id;
      // The launcher's audit, as the agent delivers it: a CallBatch over
      // the agent port, acknowledged through its last seq.
      const now = Date.now();
      const calls = [
        { seq: 1, at_ms: now - 60_000, server: 'github', method: 'tools/call', name: 'search_code', duration_us: 1830, outcome: 'ok', bytes_in: 120, bytes_out: 5630 },
        { seq: 2, at_ms: now - 30_000, server: 'github', method: 'tools/call', name: 'delete_repository', duration_us: 40, outcome: 'denied', bytes_in: 80, bytes_out: 0, detail: 'denied by the grant' },
        { seq: 3, at_ms: now - 10_000, server: 'everything', method: 'resources/read', name: 'test://static/resource/1', duration_us: 900, outcome: 'ok', bytes_in: 60, bytes_out: 400 },
      ];
      assert.equal(await sendCalls(srv.agentPort, home, dev, calls), 3);
      assert.equal(await sendCalls(srv.agentPort, home, dev, calls, 4), 3); // again: stored once
      pass('calls: a CallBatch over the agent port is acknowledged through seq 3, again when sent twice');
      await go('#/calls', 'Calls');
      await row('search_code').waitFor();
      assert.equal(await main.locator('tbody tr').count(), 3);
      await row('delete_repository').filter({ hasText: 'alice' }).filter({ hasText: 'denied by the grant' }).waitFor();
      await lbl('Outcome').selectOption('denied');
      await main.getByText('1 call shown').waitFor();
      assert.equal(await main.locator('tbody tr').count(), 1);
      assert.equal(await hashOf(), '#/calls?outcome=denied');
      await lbl('Outcome').selectOption('');
      await lbl('Server').fill('everything');
      await row('test://static/resource/1').waitFor();
      await main.getByText('1 call shown').waitFor();
      assert.equal(await main.locator('tbody tr').count(), 1);
      assert.equal(await hashOf(), '#/calls?server=everything');
      await shot('calls');
      pass('calls: the Calls page lists them with alice and the device; the outcome and server filters work');
      // 120 older calls: pages of 100 from the API, on with its cursor.
      // Each its own bytes in (50 the first, 169 the last), to tell them
      // apart.
      const more = Array.from({ length: 120 }, (_, i) => ({
        seq: 4 + i, at_ms: now - 3_600_000 + i * 1000, server: 'github', method: 'tools/call', name: 'list_issues', duration_us: 500, outcome: 'ok', bytes_in: 50 + i, bytes_out: 900,
      }));
      const bytesAt = (i) => main.locator('tbody tr').nth(i).locator('td').last().textContent();
      assert.equal(await sendCalls(srv.agentPort, home, dev, more), 123);
      await go('#/calls?tool=list_issues', 'Calls');
      assert.equal(await lbl('Tool').inputValue(), 'list_issues');
      await listStatus.filter({ hasText: /^100 calls shown, newest first$/ }).waitFor();
      await main.getByRole('button', { name: 'Next page →' }).click();
      await listStatus.filter({ hasText: /^20 calls shown, newest first, after the first page$/ }).waitFor();
      assert.match(await hashOf(), /^#\/calls\?tool=list_issues&from=\d+$/);
      assert.equal(await main.getByRole('button', { name: 'Next page →' }).isDisabled(), true);
      await page.goBack();
      await listStatus.filter({ hasText: /^100 calls shown, newest first$/ }).waitFor();
      assert.equal(await bytesAt(0), '169 / 900');
      // The Time header: oldest first from the API, paged on by after.
      await main.getByRole('button', { name: 'Time', exact: true }).click();
      await listStatus.filter({ hasText: /^100 calls shown, oldest first$/ }).waitFor();
      assert.equal(await hashOf(), '#/calls?tool=list_issues&sort=at');
      assert.equal(await main.locator('th[aria-sort="ascending"]').textContent(), 'Time ▲');
      assert.equal(await bytesAt(0), '50 / 900');
      assert.equal(await bytesAt(99), '149 / 900');
      await main.getByRole('button', { name: 'Next page →' }).click();
      await listStatus.filter({ hasText: /^20 calls shown, oldest first, after the first page$/ }).waitFor();
      assert.match(await hashOf(), /^#\/calls\?tool=list_issues&sort=at&from=\d+$/);
      assert.equal(await bytesAt(0), '150 / 900');
      assert.equal(await bytesAt(19), '169 / 900');
      assert.equal(await main.getByRole('button', { name: 'Next page →' }).isDisabled(), true);
      await page.goBack();
      await listStatus.filter({ hasText: /^100 calls shown, oldest first$/ }).waitFor();
      assert.equal(await bytesAt(0), '50 / 900');
      // Again: newest first, as the API answers without an order.
      await main.getByRole('button', { name: 'Time', exact: true }).click();
      await listStatus.filter({ hasText: /^100 calls shown, newest first$/ }).waitFor();
      assert.equal(await hashOf(), '#/calls?tool=list_issues&sort=at&dir=desc');
      assert.equal(await bytesAt(0), '169 / 900');
      // A last denied one: the newest, as offboarding lists it below.
      assert.equal(await sendCalls(srv.agentPort, home, dev, [{ ...calls[1], seq: 124, at_ms: now - 5000 }]), 124);
      pass('calls: 120 more calls come in pages of 100 from the API, the next page by its cursor in the address, back to the first; the Time header sorts them oldest first through the API (paged on, back) and newest first again');
      const agentLog = fs.openSync(path.join(work, 'agent.log'), 'a');
      agent = spawn(AGENT, ['run'], { env, stdio: ['ignore', agentLog, agentLog] });
      fs.closeSync(agentLog);
      const cursorFile = path.join(home, '.cursor', 'mcp.json');
      const launched = () => {
        const t = fs.existsSync(cursorFile) ? fs.readFileSync(cursorFile, 'utf8') : '';
        return t.includes('"github"') && t.includes('"everything"') && t.includes('"exec"');
      };
      await waitFor('the agent to write cursor\'s file', launched, 30_000);
      assert.ok(!fs.readFileSync(cursorFile, 'utf8').includes(SECRET), "alice's secret is not in cursor's file");
      pass(`agent: enrolled with the console's link as ${dev}; github and everything reached cursor as launcher entries, without alice's secret`);

      await go('#/devices', 'Devices');
      await waitFor('the device to show connected with a report', async () => {
        await go('#/devices/' + dev, new RegExp(dev));
        const connected = await main.getByText('connected', { exact: true }).count();
        const reported = await main.locator('tbody tr', { hasText: 'cursor' }).count();
        return connected > 0 && reported > 0;
      }, 30_000, 500);
      await row('cursor').filter({ hasText: 'github' }).waitFor();
      // everything is rendered directly with a deny list Cursor cannot apply:
      // its report is not a plain ok.
      await row('cursor').filter({ hasText: 'ok, 1 warning' }).filter({ hasText: 'cannot be enforced by Cursor' }).waitFor();
      await main.locator('dd', { hasText: /^4 \(its calls\)$/ }).waitFor();
      const certEnd = await main.locator('dd', { hasText: 'valid until' }).locator('time').getAttribute('datetime');
      assert.ok(Date.parse(certEnd) > Date.now() + 86400_000, `the device certificate is valid until ${certEnd}, past tomorrow`);
      await shot('device');
      await main.getByRole('link', { name: 'its calls' }).click();
      await main.getByRole('heading', { name: 'Calls', level: 1 }).waitFor();
      assert.equal(await lbl('Device').inputValue(), dev);
      await row('list_issues').first().waitFor();
      await go('#/devices/' + dev, new RegExp(dev));
      pass('devices: connected, applied revision, the last sync report per host (cursor: ok, 1 warning: a deny list it cannot enforce), 4 calls dropped offline and a link to its calls, the end of its certificate');

      await lbl('Reason').fill('laptop lost');
      await main.getByRole('button', { name: 'Revoke device' }).click();
      await confirmDlg(new RegExp(`^Revoke device .+ of alice\\?.*\\(${dev}\\) of alice will stop receiving updates, its fleet entries are wiped within seconds`));
      await main.getByText('laptop lost').waitFor();
      const code = await waitFor('the agent to exit', () => (agent.exitCode !== null ? { code: agent.exitCode } : null), 30_000);
      assert.equal(code.code, 4, 'mcpfleet run exits 4 when revoked');
      assert.ok(!fs.existsSync(cursorFile) || !fs.readFileSync(cursorFile, 'utf8').includes('github'), 'fleet entries wiped');
      pass('devices: revoked with a reason from the console; the agent wiped its entries and exited 4');
    } else {
      log('no agent given: the device steps are left out');
    }

    // -- Offboarding lists what to rotate.
    await go('#/users/alice', 'alice');
    await lbl('Reason').fill('left the company');
    await main.getByRole('button', { name: 'Offboard alice' }).click();
    await confirmDlg(/^Offboard alice\?This disables alice, (revokes 1 device \(dev-[^)]+\)|who has no device)/);
    await main.locator('#offboard-result').waitFor();
    if (AGENT) {
      await main.locator('#offboard-result tbody tr', { hasText: 'GITHUB_TOKEN' }).waitFor();
      await main.locator('#offboard-result tbody tr', { hasText: 'delete_repository' }).filter({ hasText: 'denied' }).waitFor();
    }
    await main.getByText('disabled (offboarded)').waitFor();
    await shot('offboard');
    pass('users: alice offboarded; the credentials to rotate are listed' + (AGENT ? ' (GITHUB_TOKEN v1), then her last calls' : ''));
    // The report is stored: her page shows it again later.
    await go('#/users', 'Users');
    await go('#/users/alice', 'alice');
    await main.locator('#offboard-result', { hasText: 'left the company' }).waitFor();
    if (AGENT) await main.locator('#offboard-result tbody tr', { hasText: 'GITHUB_TOKEN' }).waitFor();
    pass('users: alice\'s stored offboarding report is on her page later, with its reason');
    await go('#/users/mallory', 'mallory');
    const mallory = async () => page.evaluate(async () => (await fetch('/api/v1/users/mallory')).status);
    await main.getByRole('button', { name: 'Remove mallory' }).click();
    await confirmDlg(/^Remove user mallory\?The record of mallory \(<img src=x/, 'escape');
    await main.getByRole('button', { name: 'Remove mallory' }).click();
    await confirmDlg(/^Remove user mallory\?/, 'cancel');
    assert.equal(await mallory(), 200, 'mallory is still there after Escape and Cancel');
    await main.getByRole('heading', { name: 'mallory', level: 1 }).waitFor();
    await main.getByRole('button', { name: 'Remove mallory' }).click();
    await confirmDlg(/^Remove user mallory\?/);
    await main.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    assert.equal(await mallory(), 404);
    assert.equal(await row('mallory').count(), 0);
    pass('users: removing mallory asks in the page, naming her; Escape and Cancel leave her, confirming removes her');

    // -- The audit log, with console actors, and its verification.
    await go('#/audit', 'Audit log');
    await row('user.add').first().waitFor();
    await row('admin:initial (console)').first().waitFor();
    // Filtered and paged by the API: an action, an action's start, an
    // actor; newest first, or oldest first by the Id header. More than a
    // page of rows first: 70 teams added.
    await page.evaluate(async () => {
      const { csrf } = await (await fetch('/api/v1/session')).json();
      for (let i = 1; i <= 70; i++) {
        const r = await fetch('/api/v1/teams', {
          method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf }, body: JSON.stringify({ name: `t${i}` }),
        });
        if (r.status !== 201) throw new Error('POST /api/v1/teams: ' + r.status);
      }
    });
    await page.reload();
    await main.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    await lbl('Action').fill('session.refused');
    await listStatus.filter({ hasText: /^1 row shown, newest first$/ }).waitFor();
    await row('session.refused').waitFor();
    assert.equal(await hashOf(), '#/audit?action=session.refused');
    await lbl('Action').fill('user.');
    await listStatus.filter({ hasText: /^3\d rows shown, newest first$/ }).waitFor();
    assert.equal(await main.locator('tbody tr', { hasNotText: 'user.' }).count(), 0);
    assert.match(await main.locator('tbody tr').first().textContent(), /user\.remove|user\.offboard/);
    await lbl('Actor').fill('(console)');
    await listStatus.filter({ hasText: /^3\d rows shown, newest first$/ }).waitFor();
    await lbl('Action').fill('');
    await lbl('Actor').fill('');
    await listStatus.filter({ hasText: /^100 rows shown, newest first$/ }).waitFor();
    const newestId = Number(await firstCell());
    await main.getByRole('button', { name: 'Next page →' }).click();
    await listStatus.filter({ hasText: 'after the first page' }).waitFor();
    assert.equal(Number(await firstCell()), newestId - 100);
    await main.getByRole('button', { name: 'Id', exact: true }).click();
    await listStatus.filter({ hasText: /^100 rows shown, oldest first$/ }).waitFor();
    assert.equal(await firstCell(), '1');
    await row('session.refused').first().waitFor();
    await page.goBack();
    await listStatus.filter({ hasText: 'after the first page' }).waitFor();
    assert.equal(Number(await firstCell()), newestId - 100);
    await go('#/audit', 'Audit log');
    pass('audit: filtered by action, an action\'s start and actor, paged and sorted by the API, back to the page before');
    await main.getByRole('button', { name: 'Verify the chain' }).click();
    await main.getByText('The chain is intact').waitFor();
    await shot('audit');
    pass('audit: console actions as "admin:initial (console)", the refused sign-in, chain verified');

    await go('#/overview', 'Overview');
    await shot('overview');

    // -- A phone's width: no page scrolls sideways (tables scroll inside
    // their box), the sections, headings and list controls stay in view,
    // and a confirmation fits.
    await page.setViewportSize({ width: 390, height: 844 });
    const nav390 = page.getByRole('navigation', { name: 'Sections' });
    const narrow = [];
    const inView = async (loc, what) => {
      const b = await loc.boundingBox();
      if (!(b && b.width > 0 && b.x >= 0 && b.x + b.width <= 390)) narrow.push(`${what} is not within 390 px: ${JSON.stringify(b)}`);
    };
    for (const [hash, heading, control] of [['#/overview', 'Overview'], ['#/users', 'Users', 'Search'], ['#/users/alice', 'alice'],
      ['#/teams', 'Teams'], ['#/teams/dev', 'dev'], ['#/servers', 'Servers', 'Runs'], ['#/servers/github', 'github', 'Transport'],
      ['#/grants', 'Grants', 'Server'], ['#/secrets', 'Secrets', 'Name'], ['#/tokens', 'Enrollment', 'User'],
      ['#/devices', 'Devices', 'Status'], ['#/calls', 'Calls', 'Outcome'], ['#/audit', 'Audit log', 'Action']]) {
      await go(hash, heading);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      if (width > 390) narrow.push(`${hash}: the page is ${width} px wide at a 390 px viewport`);
      await inView(main.getByRole('heading', { level: 1, name: heading }), `${hash}: its heading`);
      await inView(nav390.getByRole('link', { name: 'Users', exact: true }), `${hash}: the sections`);
      await inView(page.getByRole('button', { name: 'Sign out' }), `${hash}: Sign out`);
      if (control) await inView(lbl(control).first(), `${hash}: ${control}`);
    }
    await go('#/servers/github', 'github');
    await main.getByRole('button', { name: 'Remove github' }).click();
    await inView(page.getByRole('dialog'), 'the confirmation');
    await inView(page.getByRole('dialog').locator('button.danger'), 'its Remove button');
    await shot('phone-dialog');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await go('#/users', 'Users');
    await shot('phone-users');
    await page.setViewportSize({ width: 1280, height: 900 });
    assert.deepEqual(narrow, []);
    pass('390 px: no page scrolls sideways; headings, sections, Sign out, list controls and a confirmation stay in view');

    // -- Roles: the owner makes a helpdesk and an auditor token (a bearer
    // token from the page: the cookie is then ignored).
    const adminToken = (name, role) => page.evaluate(async ([t, n, r]) => {
      const res = await fetch('/api/v1/admin-tokens', {
        method: 'POST', headers: { Authorization: 'Bearer ' + t, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: n, role: r }),
      });
      return { status: res.status, body: await res.json() };
    }, [token, name, role]);
    const desk = await adminToken('desk', 'helpdesk');
    assert.equal(desk.status, 201, JSON.stringify(desk.body));
    assert.equal(desk.body.role, 'helpdesk');
    const audit = await adminToken('books', 'auditor');
    assert.equal(audit.status, 201, JSON.stringify(audit.body));
    // A change the session's role may not make, sent with the session's
    // cookie and CSRF token: the API refuses it whatever the page shows.
    const sessionCall = (method, apiPath, body) => page.evaluate(async ([m, p, b]) => {
      const s = await (await fetch('/api/v1/session')).json();
      const res = await fetch('/api/v1/' + p, {
        method: m, headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf }, body: b ? JSON.stringify(b) : undefined,
      });
      return { status: res.status, body: await res.json() };
    }, [method, apiPath, body]);
    const signInAs = async (tok, name, role) => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Admin token').fill(tok);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('#who', { hasText: name }).waitFor();
      await page.locator('#role', { hasText: role }).waitFor();
      await go('#/overview', 'Overview');
    };
    const nav = page.getByRole('navigation', { name: 'Sections' });

    await signInAs(desk.body.token, 'desk', 'helpdesk');
    assert.equal(await nav.getByRole('link', { name: 'Servers', exact: true }).isVisible(), false, 'helpdesk: no Servers section');
    assert.equal(await nav.getByRole('link', { name: 'Audit log', exact: true }).isVisible(), false, 'helpdesk: no Audit section');
    assert.equal(await main.getByText('servers', { exact: true }).count(), 0, 'helpdesk: no server count on the overview');
    await go('#/users', 'Users');
    await main.getByRole('heading', { name: 'Add a user' }).waitFor();
    await go('#/tokens', 'Enrollment');
    await main.getByRole('heading', { name: 'Create an enrollment link' }).waitFor();
    await go('#/teams/dev', 'dev');
    assert.equal(await main.getByRole('heading', { name: 'Add a member' }).count(), 0, 'helpdesk: no "Add a member"');
    assert.equal(await main.getByRole('button', { name: /^Remove/ }).count(), 0, 'helpdesk: no team removal');
    await go('#/servers', 'Not open to your role');
    await main.getByText("listing servers needs role auditor, admin or owner; token 'desk' has role helpdesk").waitFor();
    assert.equal(await main.getByRole('heading', { name: 'Add a server' }).count(), 0, 'helpdesk: no "Add a server"');
    const refusedServer = await sessionCall('POST', 'servers', { name: 'sneaky', entry: { command: 'true' } });
    assert.equal(refusedServer.status, 403);
    assert.equal(refusedServer.body.error, "adding a server needs role admin or owner; token 'desk' has role helpdesk");
    const deskUser = await sessionCall('POST', 'users', { name: 'carol' });
    assert.equal(deskUser.status, 201, JSON.stringify(deskUser.body));
    await go('#/users', 'Users');
    await shot('helpdesk');
    pass('roles: a helpdesk console sees no servers, audit or "Add a server", adds users; the API refuses it a server with the role it needs');

    await signInAs(audit.body.token, 'books', 'auditor');
    await go('#/servers', 'Servers');
    await row('github').waitFor();
    assert.equal(await main.getByRole('heading', { name: 'Add a server' }).count(), 0, 'auditor: no "Add a server"');
    await go('#/servers/github', 'github');
    await main.locator('pre', { hasText: '"url"' }).waitFor();
    assert.equal(await main.getByRole('button').count(), 0, 'auditor: no button on a server');
    for (const [hash, heading] of [['#/users', 'Users'], ['#/users/carol', 'carol'], ['#/teams', 'Teams'], ['#/teams/dev', 'dev'],
      ['#/grants', 'Grants'], ['#/secrets', 'Secrets'], ['#/tokens', 'Enrollment'], ['#/devices', 'Devices']]) {
      await go(hash, heading);
      assert.equal(await main.locator('form').count(), 0, `auditor: no form on ${hash}`);
      // Only the lists' own buttons: sorting and pages.
      assert.equal(await main.locator('button:not(th > button.sort, .pager > button)').count(), 0, `auditor: no button on ${hash}`);
    }
    for (const [m, p, b, what] of [['POST', 'users', { name: 'eve' }, 'adding a user'], ['DELETE', 'servers/github', null, 'removing a server'],
      ['PUT', 'secrets/X', { value: 'v' }, 'setting a secret'], ['POST', 'tokens', { user: 'carol' }, 'creating an enrollment token']]) {
      const res = await sessionCall(m, p, b);
      assert.equal(res.status, 403, `${m} ${p}`);
      assert.match(res.body.error, new RegExp(`^${what} needs role .*; token 'books' has role auditor$`));
    }
    await go('#/audit', 'Audit log');
    await row('access.refused').filter({ hasText: 'admin:desk (console)' }).filter({ hasText: 'POST servers' }).waitFor();
    await main.getByRole('button', { name: 'Verify the chain' }).click();
    await main.getByText('The chain is intact').waitFor();
    await shot('auditor');
    pass('roles: an auditor console reads everything and shows no form or button that changes anything; the API refuses its changes; it sees the refusals in the audit log');

    // -- The colour scheme: the system's, or the one chosen in the header,
    // kept across a reload.
    const LIGHT = 'rgb(244, 246, 249)';
    const DARK = 'rgb(17, 21, 27)';
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const theme = page.getByLabel('Theme');
    await page.emulateMedia({ colorScheme: 'light' });
    assert.equal(await theme.inputValue(), 'system');
    assert.equal(await bg(), LIGHT);
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.equal(await bg(), DARK);
    await theme.selectOption('light');
    assert.equal(await bg(), LIGHT);
    await page.reload();
    await page.locator('#who').filter({ hasText: 'books' }).waitFor();
    assert.equal(await theme.inputValue(), 'light');
    assert.equal(await bg(), LIGHT);
    await page.emulateMedia({ colorScheme: 'light' });
    await theme.selectOption('dark');
    assert.equal(await bg(), DARK);
    await shot('dark');
    await theme.selectOption('system');
    assert.equal(await bg(), LIGHT);
    assert.equal(await page.evaluate(() => localStorage.getItem('mcpfleet.theme')), null);
    pass('theme: the system\'s scheme by default; light or dark chosen in the header wins over it and is kept across a reload');

    // -- Signing out ends the session on the server.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    const after = await page.evaluate(async () => (await fetch('/api/v1/users')).status);
    assert.equal(after, 401);
    await page.reload();
    await page.getByLabel('Admin token').waitFor();
    pass('signed out: the API answers 401 and a reload shows the sign-in page');

    assert.deepEqual(problems, [], 'no script errors or policy violations');
    pass('no script error or Content-Security-Policy violation in the page');

    await ctx.close();
    ctx = null;
    const code = await stop(daemon);
    if (code !== 0) throw new Error(`mcpfleetd exited with ${code} on SIGTERM: ${fs.readFileSync(path.join(work, 'mcpfleetd.log'), 'utf8').slice(-3000)}`);
    pass('mcpfleetd stopped cleanly on SIGTERM');
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    await stop(agent);
    const code = await stop(daemon);
    if (code !== null && code !== 0) log(`mcpfleetd exited with ${code}`);
    if (process.env.KEEP === '1') log(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

run(main);
