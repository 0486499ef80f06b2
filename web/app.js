// SPDX-License-Identifier: MIT
// The mcpfleet console: a client of the admin API (server/API.md) in the
// browser. No framework, no build step, nothing from another origin.
// Everything the API returns reaches the page as text (textContent,
// attribute values, input values), never as markup.
'use strict';

(() => {
  const state = {
    csrf: null,   // the session's CSRF token, sent on every change
    admin: null,  // the admin token's name, or the person ("oidc:EMAIL")
    role: null,   // its role: owner, admin, helpdesk or auditor
    seq: 0,       // render generation: a stale answer is dropped
  };

  const $ = (id) => document.getElementById(id);

  // What each role may do: the sets of the API's routes (server/API.md,
  // "Roles"). The API enforces them; the console leaves out what the API
  // would refuse this role.
  const ROLE_SETS = {
    read: ['owner', 'admin', 'helpdesk', 'auditor'],
    helpdesk: ['owner', 'admin', 'helpdesk'], // users, enrollment, revoking
    audit: ['owner', 'admin', 'auditor'],     // catalogue, audit, calls
    admin: ['owner', 'admin'],                // changing teams and the catalogue
  };
  const may = (set) => ROLE_SETS[set].includes(state.role);
  const when = (set, node) => (may(set) ? node : null);

  // ---- DOM helpers ----

  // h('a', {href: '#/x', class: 'c'}, 'text', child...) builds an element.
  // Strings become text nodes: no markup is ever parsed from data.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = String(v);
      else if (k === 'value') el.value = String(v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    add(el, children);
    return el;
  }

  function add(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  let uid = 0;
  const nextId = (p) => `${p}-${++uid}`;

  // A labelled form field; returns {wrap, input}.
  function field(label, input, opts = {}) {
    input.id = input.id || nextId('f');
    const kids = [h('label', { for: input.id }, label, opts.hint ? h('span', { class: 'hint' }, ' ', opts.hint) : null), input];
    return { wrap: h('div', { class: 'field' + (opts.cls ? ' ' + opts.cls : '') }, kids), input };
  }

  function errorBox() {
    return h('p', { class: 'error', role: 'alert', id: nextId('err') });
  }

  function showError(box, err) {
    box.textContent = err instanceof Error ? err.message : String(err);
  }

  function fmtTime(t) {
    if (t === null || t === undefined || t === 0) return '—';
    const d = new Date(t * 1000);
    return d.toLocaleString(undefined, {
      year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    });
  }

  function timeCell(t) {
    if (!t) return '—';
    return h('time', { datetime: new Date(t * 1000).toISOString(), title: new Date(t * 1000).toISOString() }, fmtTime(t));
  }

  const badge = (text, kind) => h('span', { class: 'badge' + (kind ? ' ' + kind : '') }, text);

  const link = (view, name, text) => h('a', { href: `#/${view}/${encodeURIComponent(name)}` }, text === undefined ? name : text);

  // table([{label, cell: (row) => node|string, cls}], rows, emptyText)
  function table(cols, rows, emptyText, caption) {
    if (!rows || rows.length === 0) return h('p', { class: 'empty' }, emptyText);
    return h('div', { class: 'table-wrap' },
      h('table', null,
        caption ? h('caption', { class: 'sr' }, caption) : null,
        h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: c.cls }, c.label)))),
        h('tbody', null, rows.map((r) => h('tr', null, cols.map((c) => h('td', { class: c.cls }, c.cell(r))))))));
  }

  function card(title, ...kids) {
    return h('section', { class: 'card', 'aria-label': title }, h('h2', null, title), kids);
  }

  function toast(msg) {
    const t = $('toast');
    t.textContent = msg;
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
  }

  // Runs fn with the button disabled; shows a failure in box.
  async function busy(button, box, fn) {
    if (box) box.textContent = '';
    if (button) button.disabled = true;
    try {
      return await fn();
    } catch (err) {
      if (box) showError(box, err);
      else toast(err.message);
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  const list = (s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);

  // ---- The API ----

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') headers['X-CSRF-Token'] = state.csrf || '';
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch('/api/v1/' + path, init);
    } catch (e) {
      throw new ApiError(0, 'Cannot reach mcpfleetd: ' + e.message);
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    const msg = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`;
    if (res.status === 401 && path !== 'session') {
      signedOut('Your session has ended (' + msg + '). Sign in again.');
      throw new ApiError(401, msg);
    }
    if (!res.ok) throw new ApiError(res.status, msg);
    return data;
  }

  const enc = encodeURIComponent;

  // ---- Signing in and out ----

  function signedIn(s) {
    state.csrf = s.csrf;
    // A person the identity provider signed in has an identity instead
    // of an admin token's name.
    state.admin = s.admin || s.identity;
    state.role = s.role;
    $('who').textContent = state.admin;
    $('role').textContent = s.role;
    for (const a of document.querySelectorAll('.side a[data-need]')) a.parentElement.hidden = !may(a.dataset.need);
    $('login').hidden = true;
    $('app').hidden = false;
    if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/overview'; // hashchange routes
    else route();
    document.dispatchEvent(new CustomEvent('mcpfleet:signedin', { detail: { role: s.role } }));
  }

  function signedOut(msg) {
    state.csrf = null;
    state.admin = null;
    state.role = null;
    state.seq++;
    $('main').replaceChildren();
    $('status').textContent = '';
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = msg || '';
    $('login-token').value = '';
    $('login-token').focus();
    document.dispatchEvent(new CustomEvent('mcpfleet:signedout'));
  }

  async function login(ev) {
    ev.preventDefault();
    const input = $('login-token');
    const token = input.value.trim();
    const box = $('login-error');
    if (!token) {
      box.textContent = 'Paste an admin token.';
      input.focus();
      return;
    }
    await busy($('login-submit'), box, async () => {
      const s = await api('POST', 'session', { token });
      input.value = '';
      signedIn(s);
    });
  }

  async function logout() {
    try {
      await api('DELETE', 'session');
    } catch (e) {
      // Signed out on the server or not, the console forgets it.
    }
    signedOut('Signed out.');
  }

  // ---- Routing ----

  const views = {};

  function parseHash() {
    const parts = location.hash.replace(/^#\/?/, '').split('/');
    return { view: parts[0] || 'overview', arg: parts.length > 1 ? decodeURIComponent(parts.slice(1).join('/')) : null };
  }

  // Shows the view the address names. moved: the admin went to another
  // view (focus and scroll go to its top), rather than a change redrawing
  // the same one.
  async function route(moved) {
    if (!state.csrf) return;
    const { view, arg } = parseHash();
    const fn = views[view] || views.overview;
    for (const a of document.querySelectorAll('.side a')) {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const seq = ++state.seq;
    const main = $('main');
    main.setAttribute('aria-busy', 'true');
    let content;
    try {
      content = await fn(arg);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      // A 403 here is the role (a view reached by its address): the API's
      // message says which role it needs.
      const denied = err instanceof ApiError && err.status === 403;
      content = [h('h1', { class: 'view-title' }, denied ? 'Not open to your role' : 'Something went wrong'), h('p', { class: 'note bad' }, err.message)];
    }
    if (seq !== state.seq) return; // another view was asked for meanwhile
    show(content);
    main.removeAttribute('aria-busy');
    if (moved === true) {
      window.scrollTo(0, 0);
      main.focus({ preventScroll: true });
    }
    refreshStatus();
  }

  // Puts a view's content (nodes, strings, nested arrays, nulls) in main.
  function show(content) {
    const main = $('main');
    main.replaceChildren();
    add(main, [content]);
  }

  // Renders the current view again, after a change.
  const rerender = () => route();

  async function refreshStatus() {
    try {
      const s = await api('GET', 'status');
      $('status').textContent = `revision ${s.revision} · ${s.devices.active} active device${s.devices.active === 1 ? '' : 's'}, ${s.devices.connected} connected`;
    } catch (e) {
      $('status').textContent = '';
    }
  }

  const title = (t) => h('h1', { class: 'view-title' }, t);
  const back = (view, text) => h('a', { class: 'back', href: '#/' + view }, '← ' + text);

  // A datalist of names, for inputs that take a user or a team.
  function names(id, items) {
    return h('datalist', { id }, items.map((x) => h('option', { value: x.name })));
  }

  // ---- Overview ----

  views.overview = async () => {
    // The catalogue's lists only for a role that may read them.
    const cat = may('audit');
    const [status, users, teams, servers, grants, secrets] = await Promise.all([
      api('GET', 'status'), api('GET', 'users'), api('GET', 'teams'),
      cat ? api('GET', 'servers') : null, cat ? api('GET', 'grants') : null,
      cat ? api('GET', 'secrets') : null,
    ]);
    const stat = (n, label, href) => h('section', { class: 'card stat' },
      h('a', { href }, h('span', { class: 'n' }, String(n)), ' ', label));
    const count = (l, one, many, href) => (l ? stat(l.length, l.length === 1 ? one : many, href) : null);
    return [
      title('Overview'),
      h('div', { class: 'grid' },
        count(users, 'user', 'users', '#/users'),
        count(teams, 'team', 'teams', '#/teams'),
        count(servers, 'server', 'servers', '#/servers'),
        count(grants, 'grant', 'grants', '#/grants'),
        count(secrets, 'secret', 'secrets', '#/secrets'),
        stat(status.devices.active, 'active devices', '#/devices'),
        stat(status.devices.connected, 'connected now', '#/devices'),
        stat(status.revision, 'catalogue revision', '#/audit')),
      card('Getting started',
        h('ol', { class: 'plain' },
          h('li', null, 'Add the people (', h('a', { href: '#/users' }, 'Users'), ') and group them (', h('a', { href: '#/teams' }, 'Teams'), ').'),
          h('li', null, 'Describe each MCP server once (', h('a', { href: '#/servers' }, 'Servers'), '), with ', h('code', null, '${secret:NAME}'), ' where a credential goes, and set those ', h('a', { href: '#/secrets' }, 'Secrets'), '.'),
          h('li', null, 'Say who may use what (', h('a', { href: '#/grants' }, 'Grants'), ').'),
          h('li', null, 'Give each person an enrollment link (', h('a', { href: '#/tokens' }, 'Enrollment'), '): ', h('code', null, 'mcpfleet enroll LINK'), ' on their workstation.'))),
      h('p', { class: 'muted small' }, `mcpfleetd ${status.version}`),
    ];
  };

  // ---- Users ----

  views.users = async (name) => {
    if (name) return userView(name);
    const users = await api('GET', 'users');
    const box = errorBox();
    const nameIn = field('Name', h('input', { required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': box.id }), { hint: 'e.g. new.hire' });
    const emailIn = field('Email', h('input', { type: 'email', autocomplete: 'off' }), { hint: 'optional' });
    const submit = h('button', { type: 'submit' }, 'Add user');
    const form = h('form', { class: 'inline', novalidate: true }, nameIn.wrap, emailIn.wrap, submit);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, box, async () => {
        const body = { name: nameIn.input.value.trim() };
        if (emailIn.input.value.trim()) body.email = emailIn.input.value.trim();
        const u = await api('POST', 'users', body);
        toast(`User ${u.name} added`);
        rerender();
      });
    });
    return [
      title('Users'),
      when('helpdesk', card('Add a user', form, box)),
      card('All users', table([
        { label: 'Name', cell: (u) => link('users', u.name) },
        { label: 'Email', cell: (u) => u.email || '—' },
        { label: 'Status', cell: (u) => (u.disabled ? badge('disabled', 'bad') : badge('active', 'ok')) },
        { label: 'Created', cell: (u) => timeCell(u.created_at) },
      ], users, 'No users yet.')),
    ];
  };

  async function userView(name, extra) {
    const u = await api('GET', 'users/' + enc(name));
    const reasonIn = field('Reason', h('input', { autocomplete: 'off' }), { hint: 'optional, kept in the audit log', cls: 'grow' });
    const offBox = errorBox();
    const offBtn = h('button', { type: 'submit', class: 'danger' }, `Offboard ${u.name}`);
    const offForm = h('form', { class: 'inline' }, reasonIn.wrap, offBtn);
    offForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!window.confirm(`Offboard ${u.name}? This disables the user and revokes every device and unused enrollment link at once.`)) return;
      busy(offBtn, offBox, async () => {
        const body = {};
        if (reasonIn.input.value.trim()) body.reason = reasonIn.input.value.trim();
        const res = await api('POST', `users/${enc(u.name)}/offboard`, body);
        const seq = ++state.seq;
        const content = await userView(u.name, offboardResult(res));
        if (seq === state.seq) show(content);
        refreshStatus();
      });
    });
    const rmBox = errorBox();
    const rmBtn = h('button', {
      type: 'button',
      class: 'danger',
      onclick: () => {
        if (!window.confirm(`Remove user ${u.name}? Their grants and memberships go with them.`)) return;
        busy(rmBtn, rmBox, async () => {
          await api('DELETE', 'users/' + enc(u.name));
          toast(`User ${u.name} removed`);
          location.hash = '#/users';
        });
      },
    }, `Remove ${u.name}`);
    return [
      back('users', 'Users'),
      title(u.name),
      extra || null,
      card('Details', h('dl', { class: 'facts' },
        h('dt', null, 'Email'), h('dd', null, u.email || '—'),
        h('dt', null, 'Status'), h('dd', null, u.disabled ? badge('disabled (offboarded)', 'bad') : badge('active', 'ok')),
        h('dt', null, 'Created'), h('dd', null, timeCell(u.created_at)),
        h('dt', null, 'Teams'), h('dd', null, u.teams.length ? add(h('span'), u.teams.map((t, i) => [i ? ', ' : '', link('teams', t)])) : 'none'),
        h('dt', null, 'Devices'), h('dd', null, u.devices.length ? h('ul', { class: 'plain' }, u.devices.map((d) => h('li', null, link('devices', d)))) : 'none'))),
      u.disabled || !may('helpdesk') ? null : h('section', { class: 'card danger-zone', 'aria-label': 'Offboard' },
        h('h2', null, 'Offboard'),
        h('p', { class: 'muted' }, `Disables ${u.name}, revokes every device (their managed entries are wiped at once, or when they next connect) and every unused enrollment link, and lists the credentials that reached their devices, so that you rotate exactly those.`),
        offForm, offBox),
      when('helpdesk', h('section', { class: 'card danger-zone', 'aria-label': 'Remove' },
        h('h2', null, 'Remove'),
        h('p', { class: 'muted' }, 'Deletes the user record. Refused while the user has active devices or user-scoped secrets: offboard first.'),
        h('div', { class: 'actions' }, rmBtn), rmBox)),
    ];
  }

  function offboardResult(res) {
    return h('section', { class: 'card', 'aria-label': 'Offboarding result', id: 'offboard-result' },
      h('h2', null, `${res.user} was offboarded`),
      h('p', { class: 'note ok' },
        `Devices revoked: ${res.devices_revoked.length ? res.devices_revoked.join(', ') : 'none'}. `,
        `Enrollment links revoked: ${res.tokens_revoked}.`),
      h('h3', null, 'Credentials to rotate'),
      res.deliveries.length
        ? table([
          { label: 'Secret', cell: (d) => h('code', null, d.secret) },
          { label: 'Scope', cell: (d) => d.scope + (d.scope_name ? ` ${d.scope_name}` : '') },
          { label: 'Version', cell: (d) => String(d.version), cls: 'num' },
          { label: 'Device', cell: (d) => d.device },
          { label: 'Revision', cell: (d) => String(d.revision), cls: 'num' },
          { label: 'Delivered', cell: (d) => timeCell(d.delivered_at) },
        ], res.deliveries, '')
        : h('p', { class: 'empty' }, `No credential ever reached ${res.user}'s devices: nothing to rotate.`),
      h('h3', null, 'Their last calls'),
      callTable(res.last_calls || [], `${res.user}'s devices made no call through the launcher.`));
  }

  // ---- Teams ----

  views.teams = async (name) => {
    if (name) return teamView(name);
    const teams = await api('GET', 'teams');
    const box = errorBox();
    const nameIn = field('Name', h('input', { required: true, autocomplete: 'off', spellcheck: 'false' }), { hint: 'e.g. dev' });
    const submit = h('button', { type: 'submit' }, 'Add team');
    const form = h('form', { class: 'inline', novalidate: true }, nameIn.wrap, submit);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, box, async () => {
        const t = await api('POST', 'teams', { name: nameIn.input.value.trim() });
        toast(`Team ${t.name} added`);
        rerender();
      });
    });
    return [
      title('Teams'),
      when('admin', card('Add a team', form, box)),
      card('All teams', h('p', { class: 'muted small' }, 'Everyone belongs to the implicit team ', h('code', null, 'everyone'), ', which is not listed.'),
        table([
          { label: 'Name', cell: (t) => link('teams', t.name) },
          { label: 'Created', cell: (t) => timeCell(t.created_at) },
        ], teams, 'No teams yet.')),
    ];
  };

  async function teamView(name) {
    const [t, users] = await Promise.all([api('GET', 'teams/' + enc(name)), api('GET', 'users')]);
    const box = errorBox();
    const userIn = field('User', h('input', { list: 'team-users', required: true, autocomplete: 'off' }));
    const submit = h('button', { type: 'submit' }, 'Add member');
    const form = h('form', { class: 'inline', novalidate: true }, userIn.wrap, submit, names('team-users', users.filter((u) => !t.members.includes(u.name))));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, box, async () => {
        const m = await api('POST', `teams/${enc(t.name)}/members`, { user: userIn.input.value.trim() });
        toast(`${m.user} joined ${m.team}`);
        rerender();
      });
    });
    const memberBox = errorBox();
    const removeMember = (user) => h('button', {
      type: 'button',
      class: 'link',
      'aria-label': `Remove ${user} from ${t.name}`,
      onclick: (ev) => busy(ev.currentTarget, memberBox, async () => {
        await api('DELETE', `teams/${enc(t.name)}/members/${enc(user)}`);
        toast(`${user} left ${t.name}`);
        rerender();
      }),
    }, 'Remove');
    const rmBox = errorBox();
    const rmBtn = h('button', {
      type: 'button',
      class: 'danger',
      onclick: () => {
        if (!window.confirm(`Remove team ${t.name}? Its memberships and grants go with it.`)) return;
        busy(rmBtn, rmBox, async () => {
          await api('DELETE', 'teams/' + enc(t.name));
          toast(`Team ${t.name} removed`);
          location.hash = '#/teams';
        });
      },
    }, `Remove ${t.name}`);
    return [
      back('teams', 'Teams'),
      title(t.name),
      card('Members', table([
        { label: 'User', cell: (m) => link('users', m) },
        ...(may('admin') ? [{ label: '', cell: (m) => removeMember(m) }] : []),
      ], t.members, 'No members yet.'), memberBox),
      when('admin', card('Add a member', form, box)),
      when('admin', h('section', { class: 'card danger-zone', 'aria-label': 'Remove team' },
        h('h2', null, 'Remove team'),
        h('p', { class: 'muted' }, 'Refused while team-scoped secrets exist.'),
        h('div', { class: 'actions' }, rmBtn), rmBox)),
    ];
  }

  // ---- Servers ----

  const ENTRY_EXAMPLE = '{\n  "command": "npx",\n  "args": ["-y", "@modelcontextprotocol/server-everything"],\n  "env": { "API_KEY": "${secret:EVERYTHING_KEY}" }\n}';

  // Parses the textarea: an object, or an error the admin can act on.
  function parseEntry(text) {
    let v;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new Error('The entry is not valid JSON: ' + e.message);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('The entry must be a JSON object, e.g. {"url": "https://…"}.');
    return v;
  }

  function entryEditor(initial, box) {
    const ta = h('textarea', { spellcheck: 'false', rows: 12, 'aria-describedby': box.id });
    ta.value = initial;
    return field('Entry (canonical JSON)', ta, { cls: 'full', hint: 'exactly one of "command" (stdio) or "url" (remote); ${secret:NAME} is filled in per user' });
  }

  function summary(entry) {
    if (!entry) return '—';
    if (entry.url) return h('span', null, badge(entry.type || 'http', 'info'), ' ', h('code', null, entry.url));
    if (entry.command) return h('span', null, badge('stdio'), ' ', h('code', null, [entry.command].concat(entry.args || []).join(' ')));
    return '—';
  }

  // How the hosts reach a server and its rate limits: small controls over
  // the entry's "via", "rate" and "tool_rates", kept in step with the JSON.
  // On save the controls win; editing the JSON updates them.
  const parseToolRates = (text) => {
    const out = {};
    for (const item of list(text)) {
      const eq = item.lastIndexOf('=');
      if (eq <= 0) throw new Error(`Tool rate "${item}": write it as GLOB=RATE, e.g. delete_*=5/hour.`);
      out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
    }
    return out;
  };
  const toolRatesText = (tr) => (tr && typeof tr === 'object' ? Object.entries(tr).map(([g, r]) => `${g}=${r}`).join(', ') : '');

  function launchControls(entryIn) {
    const viaSel = field('Via', h('select', null,
      h('option', { value: '' }, 'default (launcher)'),
      h('option', { value: 'launcher' }, 'launcher: mcpfleet exec'),
      h('option', { value: 'direct' }, 'direct: in the host files')), { hint: 'how the hosts run it' });
    const rateIn = field('Rate', h('input', { autocomplete: 'off', spellcheck: 'false', placeholder: '60/min' }), { hint: 'calls per user; empty: none' });
    const toolIn = field('Tool rates', h('input', { autocomplete: 'off', spellcheck: 'false', placeholder: 'delete_*=5/hour' }), { hint: 'GLOB=RATE, comma-separated', cls: 'grow' });
    const load = () => {
      let e;
      try {
        e = JSON.parse(entryIn.input.value);
      } catch (err) {
        return;
      }
      if (!e || typeof e !== 'object') return;
      viaSel.input.value = e.via === 'launcher' || e.via === 'direct' ? e.via : '';
      rateIn.input.value = typeof e.rate === 'string' ? e.rate : '';
      toolIn.input.value = toolRatesText(e.tool_rates);
    };
    entryIn.input.addEventListener('input', load);
    load();
    return {
      wrap: h('div', { class: 'inline' }, viaSel.wrap, rateIn.wrap, toolIn.wrap),
      // Writes the controls into entry (an object) and returns it.
      apply(entry) {
        if (viaSel.input.value) entry.via = viaSel.input.value;
        else delete entry.via;
        if (rateIn.input.value.trim()) entry.rate = rateIn.input.value.trim();
        else delete entry.rate;
        const tr = parseToolRates(toolIn.input.value);
        if (Object.keys(tr).length) entry.tool_rates = tr;
        else delete entry.tool_rates;
        return entry;
      },
    };
  }

  const viaText = (e) => (e && e.via ? e.via : 'launcher');
  const limitsText = (e) => {
    const parts = [];
    if (e && e.rate) parts.push(e.rate);
    if (e && e.tool_rates) parts.push(toolRatesText(e.tool_rates));
    return parts.length ? h('code', null, parts.join('; ')) : '—';
  };

  views.servers = async (name) => {
    if (name) return serverView(name);
    const servers = await api('GET', 'servers');
    const box = errorBox();
    const nameIn = field('Name', h('input', { required: true, autocomplete: 'off', spellcheck: 'false', pattern: '[A-Za-z0-9_-]{1,64}' }), { hint: 'letters, digits, _ and -' });
    const entryIn = entryEditor(ENTRY_EXAMPLE, box);
    const launch = launchControls(entryIn);
    const submit = h('button', { type: 'submit' }, 'Add server');
    const form = h('form', { novalidate: true }, h('div', { class: 'inline' }, nameIn.wrap), entryIn.wrap, launch.wrap, h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      entryIn.input.removeAttribute('aria-invalid');
      busy(submit, box, async () => {
        try {
          const entry = launch.apply(parseEntry(entryIn.input.value));
          const s = await api('POST', 'servers', { name: nameIn.input.value.trim(), entry });
          toast(`Server ${s.name} added`);
          location.hash = '#/servers/' + enc(s.name);
        } catch (e) {
          entryIn.input.setAttribute('aria-invalid', 'true');
          throw e;
        }
      });
    });
    return [
      title('Servers'),
      card('Catalogue', table([
        { label: 'Name', cell: (s) => link('servers', s.name) },
        { label: 'Runs', cell: (s) => summary(s.entry) },
        { label: 'Hosts', cell: (s) => (s.entry && s.entry.hosts ? s.entry.hosts.join(', ') : 'all') },
        { label: 'Via', cell: (s) => viaText(s.entry) },
        { label: 'Limits', cell: (s) => limitsText(s.entry) },
        { label: 'Updated', cell: (s) => timeCell(s.updated_at) },
      ], servers, may('admin') ? 'No servers yet: add the first one below.' : 'No servers yet.')),
      when('admin', card('Add a server', form, box)),
    ];
  };

  async function serverView(name) {
    const s = await api('GET', 'servers/' + enc(name));
    const box = errorBox();
    const entryIn = entryEditor(JSON.stringify(s.entry, null, 2), box);
    const launch = launchControls(entryIn);
    const save = h('button', { type: 'submit' }, 'Save');
    const form = h('form', { novalidate: true }, entryIn.wrap, launch.wrap, h('div', { class: 'actions' }, save));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      entryIn.input.removeAttribute('aria-invalid');
      busy(save, box, async () => {
        try {
          const entry = launch.apply(parseEntry(entryIn.input.value));
          await api('PUT', 'servers/' + enc(s.name), { entry });
          toast(`Server ${s.name} saved: devices get it now`);
          rerender();
        } catch (e) {
          entryIn.input.setAttribute('aria-invalid', 'true');
          throw e;
        }
      });
    });
    const rmBox = errorBox();
    const rmBtn = h('button', {
      type: 'button',
      class: 'danger',
      onclick: () => {
        if (!window.confirm(`Remove server ${s.name}? It goes from every device, and its grants go with it.`)) return;
        busy(rmBtn, rmBox, async () => {
          await api('DELETE', 'servers/' + enc(s.name));
          toast(`Server ${s.name} removed`);
          location.hash = '#/servers';
        });
      },
    }, `Remove ${s.name}`);
    const gBox = errorBox();
    return [
      back('servers', 'Servers'),
      title(s.name),
      card('Entry', h('p', { class: 'muted small' }, 'Created ', timeCell(s.created_at), ', updated ', timeCell(s.updated_at), '.'),
        may('admin') ? [form, box] : h('pre', { class: 'entry' }, JSON.stringify(s.entry, null, 2))),
      card('Grants', grantTable(s.grants, gBox, 'Nobody is granted this server yet.'), gBox,
        when('admin', h('p', null, h('a', { href: '#/grants' }, 'Grant it to someone')))),
      when('admin', h('section', { class: 'card danger-zone', 'aria-label': 'Remove server' },
        h('h2', null, 'Remove server'),
        h('div', { class: 'actions' }, rmBtn), rmBox)),
    ];
  }

  // ---- Grants ----

  function grantTable(grants, box, emptyText) {
    const target = (g) => (g.target === 'everyone' ? badge('everyone', 'info')
      : h('span', null, g.target + ' ', link(g.target === 'team' ? 'teams' : 'users', g.target_name)));
    const tools = (l) => (l && l.length ? h('code', null, l.join(', ')) : '—');
    return table([
      { label: 'Id', cell: (g) => String(g.id), cls: 'num' },
      { label: 'Server', cell: (g) => link('servers', g.server) },
      { label: 'To', cell: target },
      { label: 'Tools allowed', cell: (g) => tools(g.tools_allow) },
      { label: 'Tools denied', cell: (g) => tools(g.tools_deny) },
      { label: 'Rate', cell: (g) => (g.rate ? h('code', null, g.rate) : '—') },
      { label: 'Tool rates', cell: (g) => (g.tool_rates ? h('code', null, toolRatesText(g.tool_rates)) : '—') },
      { label: 'Created', cell: (g) => timeCell(g.created_at) },
      ...(!may('admin') ? [] : [{
        label: '',
        cell: (g) => h('button', {
          type: 'button',
          class: 'link',
          'aria-label': `Remove grant ${g.id}`,
          onclick: (ev) => {
            if (!window.confirm(`Remove grant ${g.id} of ${g.server}?`)) return;
            busy(ev.currentTarget, box, async () => {
              await api('DELETE', 'grants/' + g.id);
              toast(`Grant ${g.id} removed`);
              rerender();
            });
          },
        }, 'Remove'),
      }]),
    ], grants, emptyText);
  }

  views.grants = async () => {
    const [grants, servers, teams, users] = await Promise.all([
      api('GET', 'grants'), api('GET', 'servers'), api('GET', 'teams'), api('GET', 'users'),
    ]);
    const box = errorBox();
    const listBox = errorBox();
    const serverSel = field('Server', h('select', { required: true }, servers.map((s) => h('option', { value: s.name }, s.name))));
    const kind = (value, label, checked) => h('label', null, h('input', { type: 'radio', name: 'grant-kind', value, checked }), ' ', label);
    const kinds = h('fieldset', null, h('legend', null, 'Grant to'), kind('everyone', 'Everyone', true), kind('team', 'A team'), kind('user', 'A user'));
    const targetIn = field('Team or user', h('input', { autocomplete: 'off', disabled: true, list: 'grant-teams' }));
    const allowIn = field('Tools allowed', h('input', { autocomplete: 'off', spellcheck: 'false' }), { hint: 'comma-separated; empty: all' });
    const denyIn = field('Tools denied', h('input', { autocomplete: 'off', spellcheck: 'false' }), { hint: 'comma-separated' });
    const rateIn = field('Rate', h('input', { autocomplete: 'off', spellcheck: 'false', placeholder: '60/min' }), { hint: 'calls per user; the stricter limit wins' });
    const toolRateIn = field('Tool rates', h('input', { autocomplete: 'off', spellcheck: 'false', placeholder: 'delete_*=5/hour' }), { hint: 'GLOB=RATE, comma-separated' });
    kinds.addEventListener('change', () => {
      const k = kinds.querySelector('input:checked').value;
      targetIn.input.disabled = k === 'everyone';
      targetIn.input.setAttribute('list', k === 'team' ? 'grant-teams' : 'grant-users');
      if (k !== 'everyone') targetIn.input.focus();
    });
    const submit = h('button', { type: 'submit', disabled: servers.length === 0 }, 'Add grant');
    const form = h('form', { class: 'inline', novalidate: true }, serverSel.wrap, kinds, targetIn.wrap, allowIn.wrap, denyIn.wrap, rateIn.wrap, toolRateIn.wrap, submit,
      names('grant-teams', teams), names('grant-users', users));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, box, async () => {
        const k = kinds.querySelector('input:checked').value;
        const body = { server: serverSel.input.value };
        if (k === 'everyone') body.everyone = true;
        else body[k] = targetIn.input.value.trim();
        const allow = list(allowIn.input.value);
        const deny = list(denyIn.input.value);
        if (allow.length) body.tools_allow = allow;
        if (deny.length) body.tools_deny = deny;
        if (rateIn.input.value.trim()) body.rate = rateIn.input.value.trim();
        const tr = parseToolRates(toolRateIn.input.value);
        if (Object.keys(tr).length) body.tool_rates = tr;
        const g = await api('POST', 'grants', body);
        toast(`Grant ${g.id}: ${g.server} to ${g.target_name}`);
        rerender();
      });
    });
    return [
      title('Grants'),
      when('admin', card('Add a grant', servers.length ? null : h('p', { class: 'note warn' }, 'Add a server first.'), form, box)),
      card('All grants', grantTable(grants, listBox, 'No grants yet.'), listBox),
    ];
  };

  // ---- Secrets ----

  views.secrets = async () => {
    const [secrets, teams, users] = await Promise.all([api('GET', 'secrets'), api('GET', 'teams'), api('GET', 'users')]);
    const box = errorBox();
    const listBox = errorBox();
    const nameIn = field('Name', h('input', { required: true, autocomplete: 'off', spellcheck: 'false', pattern: '[A-Za-z_][A-Za-z0-9_]{0,127}' }), { hint: 'as in ${secret:NAME}' });
    const scopeSel = field('Scope', h('select', null,
      h('option', { value: 'org' }, 'Organisation'), h('option', { value: 'team' }, 'Team'), h('option', { value: 'user' }, 'User')));
    const scopeIn = field('Team or user', h('input', { autocomplete: 'off', disabled: true, list: 'secret-teams' }));
    const valueIn = field('Value', h('input', { type: 'password', required: true, autocomplete: 'new-password', spellcheck: 'false' }), { hint: 'sealed on the server, never shown again' });
    scopeSel.input.addEventListener('change', () => {
      const k = scopeSel.input.value;
      scopeIn.input.disabled = k === 'org';
      scopeIn.input.setAttribute('list', k === 'team' ? 'secret-teams' : 'secret-users');
    });
    const submit = h('button', { type: 'submit' }, 'Set secret');
    const form = h('form', { class: 'inline', novalidate: true, autocomplete: 'off' }, nameIn.wrap, scopeSel.wrap, scopeIn.wrap, valueIn.wrap, submit,
      names('secret-teams', teams), names('secret-users', users));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, box, async () => {
        const body = { value: valueIn.input.value };
        const k = scopeSel.input.value;
        if (k !== 'org') body[k] = scopeIn.input.value.trim();
        // The value leaves the page with this request and nowhere else.
        const s = await api('PUT', 'secrets/' + enc(nameIn.input.value.trim()), body);
        valueIn.input.value = '';
        toast(`Secret ${s.name} set (version ${s.version})`);
        rerender();
      });
    });
    const scopeText = (s) => (s.scope === 'org' ? badge('organisation') : h('span', null, s.scope + ' ', link(s.scope === 'team' ? 'teams' : 'users', s.scope_name)));
    return [
      title('Secrets'),
      when('admin', card('Set a secret', h('p', { class: 'muted small' }, 'A user\'s value wins over their team\'s, which wins over the organisation\'s. Setting a secret again makes a new version and pushes it.'), form, box)),
      card('All secrets', table([
        { label: 'Name', cell: (s) => h('code', null, s.name) },
        { label: 'Scope', cell: scopeText },
        { label: 'Version', cell: (s) => String(s.version), cls: 'num' },
        { label: 'Updated', cell: (s) => timeCell(s.updated_at) },
        ...(!may('admin') ? [] : [{
          label: '',
          cell: (s) => h('button', {
            type: 'button',
            class: 'link',
            'aria-label': `Remove secret ${s.name}` + (s.scope_name ? ` of ${s.scope} ${s.scope_name}` : ''),
            onclick: (ev) => {
              if (!window.confirm(`Remove secret ${s.name} (${s.scope}${s.scope_name ? ' ' + s.scope_name : ''})?`)) return;
              busy(ev.currentTarget, listBox, async () => {
                const q = s.scope === 'org' ? '' : `?${s.scope}=${enc(s.scope_name)}`;
                await api('DELETE', 'secrets/' + enc(s.name) + q);
                toast(`Secret ${s.name} removed`);
                rerender();
              });
            },
          }, 'Remove'),
        }]),
      ], secrets, 'No secrets yet.'), listBox),
    ];
  };

  // ---- Enrollment tokens ----

  async function copyText(input, status) {
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (e) {
      input.select();
      if (!document.execCommand || !document.execCommand('copy')) {
        status.textContent = 'Copy failed: select the link and copy it by hand.';
        return;
      }
    }
    status.textContent = 'Copied to the clipboard.';
  }

  function tokenState(t) {
    if (t.revoked) return badge('revoked', 'bad');
    if (t.uses_left <= 0) return badge('used', 'info');
    if (t.expires_at * 1000 <= Date.now()) return badge('expired', 'warn');
    return badge('active', 'ok');
  }

  views.tokens = async () => {
    const [tokens, users] = await Promise.all([api('GET', 'tokens'), api('GET', 'users')]);
    const box = errorBox();
    const listBox = errorBox();
    const shown = h('div');
    const userIn = field('User', h('input', { required: true, list: 'token-users', autocomplete: 'off' }));
    const ttlIn = field('Valid for (hours)', h('input', { type: 'number', min: 1, max: 720, value: 24 }));
    const usesIn = field('Uses', h('input', { type: 'number', min: 1, max: 1000, value: 1 }));
    const submit = h('button', { type: 'submit' }, 'Create link');
    const form = h('form', { class: 'inline', novalidate: true }, userIn.wrap, ttlIn.wrap, usesIn.wrap, submit,
      names('token-users', users.filter((u) => !u.disabled)));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, box, async () => {
        const hours = Number(ttlIn.input.value || 24);
        const uses = Number(usesIn.input.value || 1);
        if (!Number.isInteger(hours) || hours < 1 || hours > 720) throw new Error('Valid for: a whole number of hours from 1 to 720.');
        if (!Number.isInteger(uses) || uses < 1 || uses > 1000) throw new Error('Uses: a whole number from 1 to 1000.');
        const t = await api('POST', 'tokens', { user: userIn.input.value.trim(), ttl: hours * 3600, uses });
        // Shown this once: the server keeps only a hash.
        const linkIn = h('input', { readonly: true, id: 'enroll-link', 'aria-label': 'Enrollment link', spellcheck: 'false' });
        linkIn.value = t.link;
        const copyStatus = h('span', { class: 'muted small', role: 'status', 'aria-live': 'polite' });
        const copy = h('button', { type: 'button', onclick: () => copyText(linkIn, copyStatus) }, 'Copy');
        const cmd = h('pre', null, `mcpfleet enroll '${t.link}'`);
        const done = h('button', {
          type: 'button',
          class: 'secondary',
          onclick: () => { shown.replaceChildren(); rerender(); },
        }, 'Done');
        shown.replaceChildren(h('section', { class: 'card once', 'aria-label': 'New enrollment link' },
          h('h2', null, `Enrollment link for ${t.user}`),
          h('p', null, `Give it to ${t.user}. It is shown this once (the server keeps only its hash), works ${t.uses_left} time${t.uses_left === 1 ? '' : 's'}, and expires ${fmtTime(t.expires_at)}.`),
          h('div', { class: 'linkrow' }, linkIn, copy),
          copyStatus,
          h('p', { class: 'small' }, 'On their workstation:'), cmd,
          h('div', { class: 'actions' }, done)));
        linkIn.focus();
        linkIn.select();
        await refreshTokenList();
      });
    });
    const listHolder = h('div');
    async function refreshTokenList() {
      const fresh = await api('GET', 'tokens');
      listHolder.replaceChildren(tokenTable(fresh));
    }
    function tokenTable(ts) {
      return table([
        { label: 'Id', cell: (t) => String(t.id), cls: 'num' },
        { label: 'User', cell: (t) => link('users', t.user) },
        { label: 'State', cell: tokenState },
        { label: 'Uses left', cell: (t) => String(t.uses_left), cls: 'num' },
        { label: 'Expires', cell: (t) => timeCell(t.expires_at) },
        { label: 'Created by', cell: (t) => t.created_by || '—' },
        { label: 'Created', cell: (t) => timeCell(t.created_at) },
        {
          label: '',
          cell: (t) => (t.revoked || t.uses_left <= 0 || !may('helpdesk') ? '' : h('button', {
            type: 'button',
            class: 'link',
            'aria-label': `Revoke enrollment link ${t.id}`,
            onclick: (ev) => {
              if (!window.confirm(`Revoke enrollment link ${t.id} for ${t.user}?`)) return;
              busy(ev.currentTarget, listBox, async () => {
                await api('DELETE', 'tokens/' + t.id);
                toast(`Enrollment link ${t.id} revoked`);
                await refreshTokenList();
              });
            },
          }, 'Revoke')),
        },
      ], ts.slice().reverse(), 'No enrollment links yet.');
    }
    listHolder.append(tokenTable(tokens));
    return [
      title('Enrollment'),
      when('helpdesk', card('Create an enrollment link', h('p', { class: 'muted small' }, 'One link enrolls a workstation for one user: ', h('code', null, 'mcpfleet enroll LINK'), '. It carries the server address, a one-time token and the fleet CA\'s fingerprint.'), form, box)),
      shown,
      card('Enrollment links', listHolder, listBox),
    ];
  };

  // ---- Devices ----

  function deviceState(d) {
    return d.status === 'revoked' ? badge('revoked', 'bad') : badge('active', 'ok');
  }

  function connected(d) {
    if (d.connected) return h('span', null, badge('connected', 'ok'), d.connected_since ? h('span', { class: 'muted small' }, ' since ', fmtTime(d.connected_since)) : null);
    return badge('offline');
  }

  views.devices = async (id) => {
    if (id) return deviceView(id);
    const devices = await api('GET', 'devices');
    return [
      title('Devices'),
      card('All devices', table([
        { label: 'Device', cell: (d) => link('devices', d.id, h('code', null, d.id)) },
        { label: 'User', cell: (d) => link('users', d.user) },
        { label: 'Host name', cell: (d) => d.hostname },
        { label: 'OS', cell: (d) => d.os },
        { label: 'Status', cell: deviceState },
        { label: 'Connection', cell: connected },
        { label: 'Applied revision', cell: (d) => String(d.applied_revision), cls: 'num' },
        { label: 'Last seen', cell: (d) => timeCell(d.last_seen) },
      ], devices, 'No devices enrolled yet: create an enrollment link.')),
    ];
  };

  const hostStatus = (s) => badge(s, s === 'ok' ? 'ok' : s === 'blocked' ? 'bad' : s === 'skipped' ? 'warn' : '');

  async function deviceView(id) {
    const d = await api('GET', 'devices/' + enc(id));
    const rep = d.report;
    const box = errorBox();
    const reasonIn = field('Reason', h('input', { autocomplete: 'off' }), { hint: 'optional, e.g. laptop lost', cls: 'grow' });
    const revokeBtn = h('button', { type: 'submit', class: 'danger' }, 'Revoke device');
    const form = h('form', { class: 'inline' }, reasonIn.wrap, revokeBtn);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!window.confirm(`Revoke ${d.id} (${d.hostname}, ${d.user})? Its managed entries are wiped and its certificate never connects again.`)) return;
      busy(revokeBtn, box, async () => {
        const body = {};
        if (reasonIn.input.value.trim()) body.reason = reasonIn.input.value.trim();
        await api('POST', `devices/${enc(d.id)}/revoke`, body);
        toast(`Device ${d.id} revoked`);
        rerender();
      });
    });
    let report;
    if (!rep) {
      report = h('p', { class: 'empty' }, 'No sync report yet.');
    } else {
      report = [
        h('p', { class: 'muted small' }, `Revision ${rep.revision}, synced `, timeCell(rep.synced_at), '.'),
        table([
          { label: 'Host', cell: (x) => h('code', null, x.host) },
          // "ok" with warnings is not a plain ok: the host could not do
          // everything the catalogue asks (a filter, a held entry).
          { label: 'Status', cell: (x) => (x.status === 'ok' && x.warnings && x.warnings.length ? badge(`ok, ${x.warnings.length} warning${x.warnings.length === 1 ? '' : 's'}`, 'warn') : hostStatus(x.status)) },
          { label: 'Managed entries', cell: (x) => (x.managed && x.managed.length ? x.managed.join(', ') : '—') },
          { label: 'Drift', cell: (x) => (x.drift ? badge('repaired', 'warn') : '—') },
          { label: 'Message', cell: (x) => (x.warnings && x.warnings.length ? h('ul', { class: 'plain' }, ...(x.message ? [h('li', null, x.message)] : []), ...x.warnings.map((w) => h('li', null, w))) : x.message || '—') },
        ], rep.hosts || [], 'The report names no host.'),
      ];
    }
    return [
      back('devices', 'Devices'),
      title(d.hostname + ' · ' + d.id),
      card('Details', h('dl', { class: 'facts' },
        h('dt', null, 'User'), h('dd', null, link('users', d.user)),
        h('dt', null, 'Host name'), h('dd', null, d.hostname),
        h('dt', null, 'OS'), h('dd', null, d.os),
        h('dt', null, 'Status'), h('dd', null, deviceState(d), d.revoked_at ? h('span', { class: 'muted small' }, ' ', fmtTime(d.revoked_at), d.revoke_reason ? ': ' + d.revoke_reason : '') : null),
        h('dt', null, 'Connection'), h('dd', null, connected(d)),
        h('dt', null, 'Applied revision'), h('dd', null, String(d.applied_revision)),
        h('dt', null, 'Enrolled'), h('dd', null, timeCell(d.enrolled_at)),
        h('dt', null, 'Last seen'), h('dd', null, timeCell(d.last_seen)),
        h('dt', null, 'Calls dropped offline'), h('dd', null, String(d.calls_dropped || 0), may('audit') ? [' (', h('a', { href: '#/calls/' + enc(d.id) }, 'its calls'), ')'] : null),
        h('dt', null, 'Certificate'), h('dd', null, h('code', { class: 'small' }, `serial ${d.cert_serial}`), h('br'), h('code', { class: 'small' }, `sha256 ${d.cert_fingerprint}`)))),
      card('Last sync report', report),
      d.omitted && d.omitted.length ? card('Left out of its catalogue', table([
        { label: 'Server', cell: (o) => link('servers', o.server) },
        { label: 'Why', cell: (o) => o.reason },
      ], d.omitted, '')) : null,
      d.status === 'revoked' || !may('helpdesk') ? null : h('section', { class: 'card danger-zone', 'aria-label': 'Revoke device' },
        h('h2', null, 'Revoke'),
        h('p', { class: 'muted' }, 'Connected, it wipes every managed entry at once; offline, the moment it next connects. Its certificate never connects again.'),
        form, box),
    ];
  }

  // ---- Calls ----

  const fmtDuration = (us) => (us >= 1e6 ? `${(us / 1e6).toFixed(1)} s` : us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us} µs`);
  const outcomeBadge = (o) => badge(o, o === 'ok' ? 'ok' : o === 'error' ? 'bad' : 'warn');

  function callTable(rows, emptyText) {
    return table([
      { label: 'Time', cell: (c) => timeCell(c.at), cls: 'when' },
      { label: 'User', cell: (c) => link('users', c.user) },
      { label: 'Device', cell: (c) => link('devices', c.device) },
      { label: 'Server', cell: (c) => c.server },
      { label: 'Method', cell: (c) => h('code', null, c.method) },
      { label: 'Name', cell: (c) => h('code', null, c.name || '—') },
      { label: 'Outcome', cell: (c) => h('span', null, outcomeBadge(c.outcome), c.detail ? h('span', { class: 'muted small' }, ' ', c.detail) : null) },
      { label: 'Duration', cell: (c) => fmtDuration(c.duration_us), cls: 'num' },
      { label: 'Bytes in/out', cell: (c) => `${c.bytes_in} / ${c.bytes_out}`, cls: 'num' },
    ], rows, emptyText);
  }

  // #/calls/DEVICE opens the page filtered to that device.
  views.calls = async (device) => {
    const PAGE = 100;
    const box = errorBox();
    const holder = h('div');
    const text = (label, hint) => field(label, h('input', { autocomplete: 'off', spellcheck: 'false' }), { hint });
    const userIn = text('User');
    const deviceIn = text('Device', 'dev-…');
    if (device) deviceIn.input.value = device;
    const serverIn = text('Server');
    const toolIn = text('Tool', 'exact name');
    const outcomeSel = field('Outcome', h('select', null,
      h('option', { value: '' }, 'any'), h('option', { value: 'ok' }, 'ok'), h('option', { value: 'error' }, 'error'),
      h('option', { value: 'denied' }, 'denied'), h('option', { value: 'rate_limited' }, 'rate limited')));
    const sinceSel = field('Since', h('select', null,
      h('option', { value: 3600 }, 'Last hour'),
      h('option', { value: 86400 }, 'Last 24 hours'),
      h('option', { value: 7 * 86400, selected: true }, 'Last 7 days'),
      h('option', { value: 30 * 86400 }, 'Last 30 days'),
      h('option', { value: 0 }, 'Everything')));
    const apply = h('button', { type: 'submit' }, 'Filter');
    const older = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Older');
    const form = h('form', { class: 'inline', novalidate: true }, userIn.wrap, deviceIn.wrap, serverIn.wrap, toolIn.wrap, outcomeSel.wrap, sinceSel.wrap, apply);
    let rows = [];
    let before = 0;

    function query() {
      const q = new URLSearchParams();
      const put = (k, v) => { if (v.trim()) q.set(k, v.trim()); };
      put('user', userIn.input.value);
      put('device', deviceIn.input.value);
      put('server', serverIn.input.value);
      put('tool', toolIn.input.value);
      put('outcome', outcomeSel.input.value);
      const secs = Number(sinceSel.input.value);
      if (secs) q.set('since', String(Math.max(0, Math.floor(Date.now() / 1000) - secs)));
      q.set('limit', String(PAGE));
      if (before) q.set('before', String(before));
      return q.toString();
    }

    // A page of the newest calls (fresh) or the next older one.
    async function load(fresh) {
      if (fresh) {
        rows = [];
        before = 0;
      }
      const page = await api('GET', 'calls?' + query());
      rows = rows.concat(page);
      before = page.length === PAGE ? page[page.length - 1].id : 0;
      older.hidden = before === 0;
      holder.replaceChildren(
        h('p', { class: 'muted small', role: 'status' }, `${rows.length} call${rows.length === 1 ? '' : 's'} shown, newest first.`),
        callTable(rows, 'No calls match.'));
    }
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(apply, box, () => load(true));
    });
    older.addEventListener('click', () => busy(older, box, () => load(false)));
    await load(true);
    return [
      title('Calls'),
      card('Filter', h('p', { class: 'muted small' }, 'Every tools/call, resources/read and prompts/get the launchers ran, with its outcome: never the arguments or the results.'), form, box),
      card('Calls', holder, h('div', { class: 'actions' }, older)),
    ];
  };

  // ---- Audit ----

  views.audit = async () => {
    const sinceSel = field('Show', h('select', null,
      h('option', { value: 86400 }, 'Last 24 hours'),
      h('option', { value: 7 * 86400, selected: true }, 'Last 7 days'),
      h('option', { value: 30 * 86400 }, 'Last 30 days'),
      h('option', { value: 0 }, 'Everything')));
    const holder = h('div');
    const verifyOut = h('div', { role: 'status', 'aria-live': 'polite' });
    const verifyBtn = h('button', { type: 'button' }, 'Verify the chain');
    const box = errorBox();
    const PAGE = 1000;  // rows per request
    const KEEP = 2000;  // rows shown at most: the newest of the period

    // The API pages oldest first; the console shows the newest first.
    async function load() {
      const secs = Number(sinceSel.input.value);
      const since = secs ? Math.max(0, Math.floor(Date.now() / 1000) - secs) : 0;
      let rows = [];
      let after = 0;
      let dropped = false;
      for (let i = 0; i < 100; i++) {
        const page = await api('GET', `audit?since=${since}&after=${after}&limit=${PAGE}`);
        rows = rows.concat(page);
        if (rows.length > KEEP) {
          rows = rows.slice(-KEEP);
          dropped = true;
        }
        if (page.length < PAGE) break;
        after = page[page.length - 1].id;
      }
      holder.replaceChildren(
        dropped ? h('p', { class: 'note warn' }, `Showing the newest ${KEEP} rows of the period.`) : '',
        table([
          { label: 'Id', cell: (r) => String(r.id), cls: 'num' },
          { label: 'Time', cell: (r) => timeCell(r.at), cls: 'when' },
          { label: 'Actor', cell: (r) => r.actor },
          { label: 'Action', cell: (r) => h('code', null, r.action) },
          { label: 'Target', cell: (r) => r.target || '—' },
          { label: 'Details', cell: (r) => (r.details ? h('code', null, JSON.stringify(r.details)) : '—'), cls: 'details' },
        ], rows.reverse(), 'Nothing in this period.'));
    }
    sinceSel.input.addEventListener('change', () => busy(null, box, load));
    verifyBtn.addEventListener('click', () => busy(verifyBtn, box, async () => {
      try {
        const v = await api('GET', 'audit/verify');
        verifyOut.replaceChildren(h('p', { class: 'note ok' }, `The chain is intact: ${v.rows} rows, each hash chained to the one before` + (v.keyed_from > 0 ? `, keyed (HMAC-SHA-256) from row ${v.keyed_from}.` : '.')));
      } catch (e) {
        if (e.status !== 409) throw e;
        verifyOut.replaceChildren(h('p', { class: 'note bad' }, 'The chain is broken: ' + e.message));
      }
    }));
    await load();
    return [
      title('Audit log'),
      card('Integrity', h('p', { class: 'muted small' }, 'Every change is a row whose hash covers the row before it, so an edited or deleted row breaks the chain.'),
        h('div', { class: 'actions' }, verifyBtn), verifyOut),
      card('Rows', h('div', { class: 'inline' }, sinceSel.wrap), box, holder),
    ];
  };

  // ---- Start ----

  // The "Sign in with ..." link, when mcpfleetd.conf configures an
  // OpenID provider (server/API.md, "Single sign-on").
  async function oidcOffer() {
    try {
      const res = await fetch('/api/v1/oidc', { credentials: 'same-origin' });
      const o = res.ok ? await res.json() : null;
      if (!o || !o.enabled) return;
      $('login-oidc-link').textContent = `Sign in with ${o.label}`;
      $('login-oidc-link').href = o.login;
      $('login-oidc').hidden = false;
    } catch (e) {
      // No offer: the token form stays.
    }
  }

  // The colour scheme: the one chosen in the header (kept in this
  // browser), else the system's; app.css reads <html data-theme>.
  const THEME_KEY = 'mcpfleet.theme';
  function applyTheme(choice) {
    const t = choice === 'light' || choice === 'dark' ? choice : 'system';
    if (t === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = t;
    $('theme').value = t;
  }
  function themeControl() {
    let kept = null;
    try { kept = localStorage.getItem(THEME_KEY); } catch (e) { /* storage off: the system's */ }
    applyTheme(kept);
    $('theme').addEventListener('change', (e) => {
      const t = e.target.value;
      try {
        if (t === 'system') localStorage.removeItem(THEME_KEY);
        else localStorage.setItem(THEME_KEY, t);
      } catch (err) { /* not kept, applied all the same */ }
      applyTheme(t);
    });
  }

  async function start() {
    themeControl();
    $('login-form').addEventListener('submit', login);
    $('logout').addEventListener('click', logout);
    window.addEventListener('hashchange', () => route(true));
    oidcOffer();
    try {
      const s = await api('GET', 'session');
      signedIn(s);
    } catch (e) {
      signedOut(e.status === 401 ? '' : e.message);
    }
  }

  // For web/live.js, the live view: which view is shown, drawing it again
  // in place (no navigation, focus and scroll kept), the header's status,
  // and whether a console is signed in.
  window.mcpfleet = {
    current: parseHash,
    redraw: () => route(),
    refreshStatus,
    signedIn: () => state.csrf !== null,
    // Asks the API whether the session still holds (a 401 signs out).
    checkSession: () => api('GET', 'session').then(() => true, (e) => e.status !== 401),
  };

  start();
})();
