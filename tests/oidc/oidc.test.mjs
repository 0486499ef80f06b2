// SPDX-License-Identifier: MIT
// Browser test of console sign-in with OpenID Connect: a real OpenID
// provider (npm oidc-provider, a certified implementation) on 127.0.0.1
// over TLS with a throwaway CA, a real mcpfleetd configured for it
// (oidc_* keys of mcpfleetd.conf, oidc_ca_file for that CA), and Debian's
// Chromium driven by playwright-core through the provider's own login and
// consent pages. Checks: the console offers "Sign in with ..."; a person
// in an allowed domain and a mapped group lands signed in, as themselves
// (the audit actor) with the mapped role; an ID token for another
// audience and an expired one (the provider's answer changed in flight and
// signed again with its own key), a replayed callback, a state that is not
// the browser's, an address outside the allowed domains and a person in
// no mapped group are refused with a page that says why, and audited; a
// helpdesk person cannot add a server and an auditor changes nothing, told
// which role it would take, and audited as themselves. (The rest of the ID
// token's checks, a bad signature or nonce, are tests/test_jwt.c's.)
//
//   node tests/oidc/oidc.test.mjs MCPFLEETD [OUTDIR]
//
// Environment: MCPFLEET_CACHE (default ~/.cache/mcpfleet; the npm peers go
// to its oidcpeers/), CHROMIUM (default /usr/bin/chromium), KEEP=1 keeps
// the scratch directory. Exit 0 pass, 1 fail, 77 skip (Chromium cannot be
// installed, openssl or npm missing). What it shares with the console's
// browser tests comes from tests/web/harness.mjs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  SKIP, ensureChromium, ensurePeers, init, launch, log, pass, run, serve, stop, waitFor,
} from '../web/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_ID = 'mcpfleet-console';

const [daemonArg, outArg] = process.argv.slice(2);
if (!daemonArg) {
  console.error('usage: oidc.test.mjs MCPFLEETD [OUTDIR]');
  process.exit(2);
}
const DAEMON = path.resolve(daemonArg);
const OUT = path.resolve(outArg || '.');

function need(cmd, args) {
  if (spawnSync(cmd, args, { encoding: 'utf8' }).status !== 0) {
    console.log(`SKIP: ${cmd} is not available`);
    process.exit(SKIP);
  }
}

// A port free on 127.0.0.1 now (the redirect URI must be known before
// mcpfleetd starts, so its API port cannot be the kernel's pick).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A throwaway CA and a certificate for 127.0.0.1 from it.
function makeCerts(dir) {
  const run = (args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key',
    '-out', 'ca.pem', '-days', '2', '-subj', '/CN=OIDC test CA']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'idp.key',
    '-out', 'idp.csr', '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(path.join(dir, 'idp.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', 'idp.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'idp.pem',
    '-days', '2', '-extfile', 'idp.ext']);
  return {
    ca: path.join(dir, 'ca.pem'),
    key: fs.readFileSync(path.join(dir, 'idp.key')),
    cert: fs.readFileSync(path.join(dir, 'idp.pem')),
  };
}

// The people the provider knows: any login is an account, and these have
// claims.
const PEOPLE = {
  'ada@example.com': { groups: ['fleet-admins', 'staff'] },
  'bob@example.com': { groups: ['staff'] },
  'eve@evil.test': { groups: ['fleet-admins'] },
  'hal@example.com': { groups: ['fleet-helpdesk'] },
  'aud@example.com': { groups: ['fleet-auditors', 'staff'] },
};

// What the token endpoint's answer should carry instead of the provider's
// own ID token: null (the provider's), or a function that changes its
// claims; the token is then signed again with the provider's key, so only
// the claim is wrong.
let tamper = null;
// Milliseconds the token endpoint waits before it answers (0: none), and
// whether a token request has arrived since it was set.
let slowToken = 0;
let tokenAsked = false;

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

// The provider's answer at /token with its id_token's claims changed by
// tamper() and signed again with key.
function tampered(body, key) {
  const answer = JSON.parse(body);
  const [h, p] = answer.id_token.split('.');
  const claims = tamper(JSON.parse(Buffer.from(p, 'base64url')));
  const signing = `${h}.${b64url(JSON.stringify(claims))}`;
  answer.id_token = `${signing}.${b64url(crypto.sign('sha256', Buffer.from(signing), key))}`;
  return JSON.stringify(answer);
}

async function startProvider(req, port, certs, redirect) {
  const { default: Provider } = await import(pathToFileURL(req.resolve('oidc-provider')).href);
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', use: 'sig', alg: 'RS256' };
  const issuer = `https://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: 'test-client-secret',
      redirect_uris: [redirect],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    // The ID token carries the scopes' claims (mcpfleetd reads them there,
    // as it does with Okta's, Entra ID's and Google's).
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: id, email_verified: true, groups: (PEOPLE[id] || { groups: [] }).groups };
        },
      };
    },
  });
  const handle = provider.callback();
  const server = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
    if (slowToken && req.method === 'POST' && req.url.startsWith('/token')) {
      tokenAsked = true;
      setTimeout(() => handle(req, res), slowToken);
      return;
    }
    if (tamper && req.method === 'POST' && req.url.startsWith('/token')) {
      // The answer is written at once by res.end(body), its headers not
      // yet sent: swap the body and its length there.
      const end = res.end.bind(res);
      res.end = (chunk, ...rest) => {
        if (res.statusCode === 200 && chunk) {
          const out = tampered(chunk.toString(), privateKey);
          res.setHeader('Content-Length', Buffer.byteLength(out));
          return end(out, ...rest);
        }
        return end(chunk, ...rest);
      };
    }
    handle(req, res);
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { issuer, server };
}

// The admin API with the first admin token (the test's own checks).
async function adminGet(base, token, p) {
  const res = await fetch(base + '/api/v1/' + p, { headers: { Authorization: 'Bearer ' + token } });
  assert.equal(res.status, 200, `GET ${p}`);
  return res.json();
}

async function main() {
  ensureChromium();
  need('openssl', ['version']);
  need('npm', ['--version']);
  // oidc-provider and playwright-core, pinned by tests/oidc/package.json.
  const peers = ensurePeers(HERE, 'oidcpeers', 'oidc-provider');
  const { chromium } = peers('playwright-core');
  fs.mkdirSync(OUT, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpfleet-oidc-'));
  const data = path.join(work, 'data');
  let daemon = null;
  let idp = null;
  let ctx = null;
  const problems = [];
  // Node's own fetch talks to mcpfleetd, whose CA is the fleet's.
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  try {
    const certs = makeCerts(work);
    const [idpPort, apiPort] = [await freePort(), await freePort()];
    const base = `https://127.0.0.1:${apiPort}`;
    const redirect = `${base}/api/v1/oidc/callback`;
    idp = await startProvider(peers, idpPort, certs, redirect);
    log(`provider: ${idp.issuer}`);
    const token = init(DAEMON, data);
    fs.writeFileSync(path.join(data, 'oidc-secret'), 'test-client-secret\n', { mode: 0o600 });
    // The redirect URI is left to its default: the first name and the API
    // port, which mcpfleetd logs for the administrator to register.
    fs.appendFileSync(path.join(data, 'mcpfleetd.conf'), [
      `oidc_issuer = ${idp.issuer}`,
      `oidc_client_id = ${CLIENT_ID}`,
      'oidc_client_secret_file = oidc-secret',
      `oidc_ca_file = ${certs.ca}`,
      'oidc_scopes = openid email groups',
      'oidc_email_domains = example.com',
      'oidc_role_admin = fleet-admins',
      'oidc_role_helpdesk = fleet-helpdesk',
      'oidc_role_auditor = fleet-auditors',
      'oidc_label = Test IdP',
      '',
    ].join('\n'));
    const logFile = path.join(work, 'mcpfleetd.log');
    daemon = (await serve(DAEMON, data, logFile, 0, apiPort)).proc;
    assert.match(fs.readFileSync(logFile, 'utf8'), new RegExp(`redirect URI to register there is ${redirect.replace(/[.]/g, '\\.')}`));
    pass('mcpfleetd logs the redirect URI to register');

    const offer = await (await fetch(base + '/api/v1/oidc')).json();
    assert.deepEqual(offer, { enabled: true, label: 'Test IdP', login: '/api/v1/oidc/login' });
    pass('GET /api/v1/oidc offers the provider');

    // Both CAs are the test's own: launch() ignores certificate errors.
    ctx = await launch(chromium, path.join(work, 'chromium-profile'));
    // The provider's dev pages import a web font: not on loopback.
    await ctx.route(/^https:\/\/fonts\./, (r) => r.abort());
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    const callbacks = [];
    page.on('request', (r) => { if (r.url().startsWith(redirect)) callbacks.push(r.url()); });

    // Signs in at the provider's own pages as login; returns where the
    // browser ends up.
    const signIn = async (login) => {
      await page.goto(base + '/');
      const link = page.getByRole('link', { name: 'Sign in with Test IdP' });
      await link.waitFor();
      await link.click();
      await page.waitForURL((u) => u.origin === idp.issuer);
      await page.locator('input[name=login]').fill(login);
      await page.locator('input[name=password]').fill('any password');
      await page.locator('button[type=submit]').click();
      // The consent page, the first time this person meets the client.
      const consent = page.getByRole('button', { name: 'Continue' });
      await Promise.race([
        consent.waitFor().then(() => consent.click()),
        page.waitForURL((u) => u.origin === base),
      ]);
      await page.waitForURL((u) => u.origin === base);
    };

    // -- Ada: example.com, in fleet-admins.
    await signIn('ada@example.com');
    await page.locator('#who').filter({ hasText: 'oidc:ada@example.com' }).waitFor();
    await page.locator('#role').filter({ hasText: 'admin' }).waitFor();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.screenshot({ path: path.join(OUT, 'oidc-signed-in.png'), fullPage: true });
    pass('a person in an allowed domain and a mapped group lands signed in on the console');
    const s = await page.evaluate(async () => (await fetch('/api/v1/session')).json());
    assert.equal(s.identity, 'oidc:ada@example.com');
    assert.equal(s.role, 'admin');
    assert.equal(s.admin, null);
    pass('the session names the person and the mapped role');
    // A change made in the console is audited as the person.
    const made = await page.evaluate(async (csrf) => {
      const r = await fetch('/api/v1/users', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: JSON.stringify({ name: 'grace', email: 'grace@example.com' }),
      });
      return r.status;
    }, s.csrf);
    assert.equal(made, 201);
    let audit = await adminGet(base, token, 'audit');
    const login = audit.find((a) => a.action === 'session.login' && a.actor === 'oidc:ada@example.com');
    assert.ok(login, 'session.login by oidc:ada@example.com in ' + JSON.stringify(audit.slice(-5)));
    assert.ok(audit.find((a) => a.action === 'user.add' && a.actor === 'oidc:ada@example.com (console)'),
      'user.add by the person in ' + JSON.stringify(audit.slice(-5)));
    pass('the audit log names the person for the sign-in and the change');

    // -- The callback again, replayed: the state was single-use.
    assert.equal(callbacks.length, 1);
    const replay = await page.goto(callbacks[0]);
    assert.equal(replay.status(), 400);
    await page.locator('#reason').filter({ hasText: 'no sign-in is under way' }).waitFor();
    pass('a replayed callback is refused');
    // Still signed in (the refusal touched no session).
    await page.goto(base + '/');
    await page.locator('#who').filter({ hasText: 'oidc:ada@example.com' }).waitFor();
    await page.locator('#logout').click();
    await page.locator('#login-token').waitFor();

    // The provider remembers who signed in there (its cookies, which on
    // 127.0.0.1 share the jar with mcpfleetd's): each person below starts
    // afresh.
    await ctx.clearCookies();

    // -- A state that is not this browser's: the redirect to the provider
    // is answered with its state changed (the cookie keeps the real one).
    await page.route(base + '/api/v1/oidc/login', async (r) => {
      const res = await r.fetch({ maxRedirects: 0 });
      const u = new URL(res.headers().location);
      u.searchParams.set('state', 'A'.repeat(43));
      return r.fulfill({ response: res, headers: { ...res.headers(), location: u.href } });
    });
    await signIn('ada@example.com');
    await page.locator('#reason').filter({ hasText: 'is not this browser\'s sign-in' }).waitFor();
    await page.unroute(base + '/api/v1/oidc/login');
    pass('a callback whose state is not the browser\'s is refused');
    await ctx.clearCookies();

    // -- An ID token for another client, and one that has expired: the
    // provider's own key signed them, so only the claim is wrong.
    tamper = (c) => ({ ...c, aud: 'another-client' });
    await signIn('ada@example.com');
    await page.locator('#reason').filter({ hasText: 'ID token: its audience does not hold' }).waitFor();
    pass('an ID token whose audience is another client is refused');
    await ctx.clearCookies();
    tamper = (c) => ({ ...c, iat: c.iat - 7200, exp: c.iat - 3600 });
    await signIn('ada@example.com');
    await page.locator('#reason').filter({ hasText: 'ID token: expired' }).waitFor();
    pass('an expired ID token is refused');
    tamper = null;
    await ctx.clearCookies();

    // -- A slow provider holds no one else: while it takes 4 s over the
    // code exchange, the API answers at once.
    slowToken = 4000;
    tokenAsked = false;
    const slowSignIn = signIn('ada@example.com');
    await waitFor('the token request', () => tokenAsked);
    const t0 = Date.now();
    await adminGet(base, token, 'status');
    const took = Date.now() - t0;
    assert.ok(took < 1500, `GET status took ${took} ms while the provider was answering`);
    await slowSignIn;
    await page.locator('#who').filter({ hasText: 'oidc:ada@example.com' }).waitFor();
    slowToken = 0;
    pass(`the API answers in ${took} ms while the provider takes 4 s over a sign-in's code exchange`);
    await page.locator('#logout').click();
    await page.locator('#login-token').waitFor();
    await ctx.clearCookies();

    // -- Hal, in fleet-helpdesk: users and devices, not the catalogue.
    const tryChange = (method, p, body) => page.evaluate(async ([m, u, b]) => {
      const csrf = (await (await fetch('/api/v1/session')).json()).csrf;
      const r = await fetch('/api/v1/' + u, {
        method: m,
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
        body: b ? JSON.stringify(b) : undefined,
      });
      return { status: r.status, body: await r.json() };
    }, [method, p, body]);
    await signIn('hal@example.com');
    await page.locator('#role').filter({ hasText: 'helpdesk' }).waitFor();
    assert.equal(await page.locator('.side a[href="#/servers"]').isVisible(), false);
    let got = await tryChange('POST', 'servers', { name: 'docs', command: 'docs-mcp' });
    assert.equal(got.status, 403);
    assert.match(got.body.error, /adding a server needs role admin or owner; 'oidc:hal@example.com' has role helpdesk/);
    got = await tryChange('POST', 'users', { name: 'hal-made', email: 'hm@example.com' });
    assert.equal(got.status, 201, JSON.stringify(got.body));
    pass('a helpdesk person adds users but cannot add a server, and is told which role it needs');
    await page.locator('#logout').click();
    await page.locator('#login-token').waitFor();
    await ctx.clearCookies();

    // -- Aud, in fleet-auditors: reads everything, changes nothing.
    await signIn('aud@example.com');
    await page.locator('#role').filter({ hasText: 'auditor' }).waitFor();
    for (const [m, u, b] of [['POST', 'users', { name: 'x', email: 'x@example.com' }],
      ['DELETE', 'users/grace'], ['POST', 'teams', { name: 'ops' }], ['POST', 'tokens', { user: 'grace' }]]) {
      got = await tryChange(m, u, b);
      assert.equal(got.status, 403, `${m} ${u}: ${JSON.stringify(got.body)}`);
      assert.match(got.body.error, /'oidc:aud@example.com' has role auditor/);
    }
    assert.equal((await tryChange('GET', 'audit')).status, 200);
    pass('an auditor person reads the audit log and can change nothing');
    await page.locator('#logout').click();
    await page.locator('#login-token').waitFor();
    await ctx.clearCookies();
    audit = await adminGet(base, token, 'audit');
    const denied = audit.filter((a) => a.action === 'access.refused').map((a) => a.actor);
    assert.ok(denied.includes('oidc:hal@example.com (console)'), 'access.refused for hal in ' + denied);
    assert.ok(denied.includes('oidc:aud@example.com (console)'), 'access.refused for aud in ' + denied);
    pass('the refusals are audited as the person');

    // -- Eve: a mapped group, but outside the allowed domains.
    await signIn('eve@evil.test');
    await page.locator('#reason').filter({ hasText: 'eve@evil.test is not in an allowed email domain' }).waitFor();
    await page.screenshot({ path: path.join(OUT, 'oidc-refused.png'), fullPage: true });
    pass('an address outside the allowed domains is refused with a page that says why');
    await ctx.clearCookies();

    // -- Bob: example.com, but in no group that has a role.
    await signIn('bob@example.com');
    await page.locator('#reason').filter({ hasText: 'is in no group that has a role here' }).waitFor();
    pass('a person in no mapped group is refused');
    // Neither got a session.
    await page.goto(base + '/');
    await page.locator('#login-token').waitFor();
    const after = await page.evaluate(async () => (await fetch('/api/v1/session')).status);
    assert.equal(after, 401);

    audit = await adminGet(base, token, 'audit');
    const refused = audit.filter((a) => a.action === 'session.refused').map((a) => JSON.stringify(a.details));
    for (const why of ['no sign-in is under way', 'is not this browser', 'eve@evil.test is not in an allowed',
      'bob@example.com is in no group']) {
      assert.ok(refused.some((d) => d.includes(why)), `a session.refused row says '${why}' in ${refused}`);
    }
    pass('every refusal is audited as session.refused with its reason');
    assert.deepEqual(problems, []);
  } finally {
    if (ctx) await ctx.close().catch(() => {});
    await stop(daemon);
    if (idp) idp.server.close();
    if (process.env.KEEP) log(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

run(main);
