// SPDX-License-Identifier: MIT
// What the browser tests share (console.test.mjs, live.test.mjs and
// ../oidc/oidc.test.mjs): Debian's Chromium and pinned npm peers
// (playwright-core), a real mcpfleetd (init, serve on the ports asked or the
// kernel's, stop), and a sandbox HOME for the agent. Environment:
// MCPFLEET_CACHE (default ~/.cache/mcpfleet; the peers go to its webpeers/,
// oidcpeers/), CHROMIUM (default /usr/bin/chromium).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SKIP = 77;
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const T0 = Date.now();

export const log = (msg) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}`);

let passed = 0;
export const pass = (msg) => {
  passed++;
  log('PASS: ' + msg);
};

// Runs the test's main() and exits 0 when it passes, 1 with the error.
export function run(main) {
  main().then(() => {
    console.log(`${passed} passed, 0 failed`);
    process.exit(0);
  }, (err) => {
    console.error('FAIL:', err && err.stack ? err.stack : err);
    console.log(`${passed} passed, 1 failed`);
    process.exit(1);
  });
}

// ---- Chromium and playwright-core ----

function haveChromium() {
  return fs.existsSync(CHROMIUM) && spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).status === 0;
}

// Debian's package, as scripts/deps.sh installs it; here only if missing.
export function ensureChromium() {
  if (haveChromium()) return;
  if (process.env.CHROMIUM) {
    console.log(`SKIP: ${CHROMIUM} (CHROMIUM) does not run`);
    process.exit(SKIP);
  }
  log('chromium is missing: installing the Debian package');
  const root = process.getuid && process.getuid() === 0;
  const pre = root ? [] : ['sudo', '-n'];
  const run = (args) => spawnSync(pre.length ? pre[0] : args[0], pre.length ? pre.slice(1).concat(args) : args.slice(1), {
    stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 900_000,
  });
  run(['apt-get', 'update', '-qq']);
  run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'chromium']);
  if (!haveChromium()) {
    console.log('SKIP: chromium is not installed and could not be (apt-get install chromium failed)');
    process.exit(SKIP);
  }
}

// The npm peers of a test directory (its package.json and lock pin them),
// installed once with npm ci into the cache's NAME/ and reused while they do
// not change; main is a package the install must hold. Returns a require()
// for them. Playwright fetches no browser of its own: Debian's is used.
export function ensurePeers(dir, name, main) {
  const cache = path.join(process.env.MCPFLEET_CACHE || path.join(os.homedir(), '.cache', 'mcpfleet'), name);
  fs.mkdirSync(cache, { recursive: true });
  const pkg = fs.readFileSync(path.join(dir, 'package.json'));
  const lock = fs.readFileSync(path.join(dir, 'package-lock.json'));
  const want = crypto.createHash('sha256').update(pkg).update(lock).digest('hex') + ` node-${process.versions.node.split('.')[0]}`;
  const stamp = path.join(cache, '.stamp');
  const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8') : '';
  if (have !== want || !fs.existsSync(path.join(cache, 'node_modules', main))) {
    log(`npm peers: installing ${path.relative(path.join(HERE, '..', '..'), path.join(dir, 'package.json'))} into ${cache}`);
    fs.rmSync(path.join(cache, 'node_modules'), { recursive: true, force: true });
    fs.rmSync(stamp, { force: true });
    fs.writeFileSync(path.join(cache, 'package.json'), pkg);
    fs.writeFileSync(path.join(cache, 'package-lock.json'), lock);
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: cache, encoding: 'utf8', timeout: 600_000,
      env: { ...process.env, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1' },
    });
    if (r.status !== 0) {
      console.error(r.stdout, r.stderr, r.error || '');
      throw new Error(`npm ci of ${path.join(dir, 'package.json')} into ${cache} failed`);
    }
    fs.writeFileSync(stamp, want);
  } else {
    log(`npm peers: reusing ${cache}`);
  }
  return createRequire(path.join(cache, 'package.json'));
}

// playwright-core, pinned by tests/web/package.json and its lock.
export function ensurePlaywright() {
  return ensurePeers(HERE, 'webpeers', 'playwright-core')('playwright-core');
}

// ---- mcpfleetd ----

export async function waitFor(what, fn, ms = 15_000, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function init(DAEMON, data) {
  const r = spawnSync(DAEMON, ['init', '--data', data, '--name', '127.0.0.1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mcpfleetd init: ${r.stderr}`);
  const m = /first admin token[^\n]*\n\s*(\S+)/.exec(r.stdout);
  if (!m) throw new Error('no admin token in: ' + r.stdout);
  return m[1];
}

// Serves data on the given ports (0: the kernel picks) and waits until it
// listens; logFile is appended to. Returns the process and its ports.
export async function serve(DAEMON, data, logFile, agentPort = 0, apiPort = 0) {
  const start = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const fd = fs.openSync(logFile, 'a');
  const p = spawn(DAEMON, ['serve', '--data', data, '--agent-port', String(agentPort), '--api-port', String(apiPort)],
    { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const port = await waitFor('mcpfleetd to listen', () => {
    if (p.exitCode !== null) throw new Error('mcpfleetd exited: ' + fs.readFileSync(logFile, 'utf8'));
    const m = /agent port (\d+), API port (\d+)/.exec(fs.readFileSync(logFile, 'utf8').slice(start));
    return m ? { agent: Number(m[1]), api: Number(m[2]) } : 0;
  });
  return { proc: p, port: port.api, agentPort: port.agent };
}

export async function stop(p, ms = 10_000) {
  if (!p || p.exitCode !== null || p.signalCode !== null) return p ? p.exitCode : null;
  const done = new Promise((r) => p.once('exit', (code) => r(code)));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), ms);
  const code = await done;
  clearTimeout(t);
  return code;
}

// ---- The agent (optional) ----

// A sandbox HOME: no host's relocation variable leaks in from outside.
export function agentEnv(home) {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    MCPFLEET_HOME: path.join(home, '.mcpfleet'),
    XDG_CONFIG_HOME: path.join(home, '.config'),
    LANG: 'C.UTF-8',
  };
}

// Debian's Chromium, headless, with a profile in dir: the fleet CA is our
// own, so its certificate errors are ignored; a fixed size, locale and
// time zone. extra adds options (permissions).
export function launch(chromium, dir, extra = {}) {
  return chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
    ...extra,
  });
}
