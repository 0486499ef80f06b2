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
    may: null,    // the session's "may": what that role may do
    seq: 0,       // render generation: a stale answer is dropped
  };

  const $ = (id) => document.getElementById(id);

  // What the session's role may do, as the API says in the session
  // ("may": read, helpdesk, audit, admin, owner; server/API.md, "Roles"):
  // the console leaves out what the API would refuse this role.
  const may = (set) => Boolean(state.may && state.may[set]);
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

  // A device certificate's end: the agent renews it over its connection
  // before then; one near its end that is still in use did not.
  function certExpiry(d) {
    if (!d.cert_not_after) return null;
    const left = d.cert_not_after * 1000 - Date.now();
    const live = d.status !== 'revoked';
    return h('span', { class: 'small' }, 'valid until ', timeCell(d.cert_not_after),
      live && left <= 0 ? [' ', badge('expired', 'bad')] : live && left < 7 * 86400 * 1000 ? [' ', badge('expires in under 7 days', 'warn')] : null);
  }

  const badge = (text, kind) => h('span', { class: 'badge' + (kind ? ' ' + kind : '') }, text);

  const link = (view, name, text) => h('a', { href: `#/${view}/${encodeURIComponent(name)}` }, text === undefined ? name : text);

  // table([{label, cell: (row) => node|string, cls}], rows, emptyText)
  function table(cols, rows, emptyText, caption) {
    if (!rows || rows.length === 0) return h('p', { class: 'empty' }, emptyText);
    return h('div', { class: 'table-wrap' },
      h('table', null,
        caption ? h('caption', { class: 'sr' }, caption) : null,
        h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: c.cls, 'aria-sort': c.sorted }, c.label)))),
        h('tbody', null, rows.map((r) => h('tr', null, cols.map((c) => h('td', { class: c.cls }, c.cell(r))))))));
  }

  // ---- Lists: search, filters, sort and pages, kept in the address ----

  // The query of the address (#/VIEW?QUERY).
  function hashQuery() {
    const i = location.hash.indexOf('?');
    return new URLSearchParams(i < 0 ? '' : location.hash.slice(i + 1));
  }

  // Writes q into the address without routing again. push makes a history
  // entry (back shows the list as it was); else the entry is replaced, as
  // while typing in a search box.
  function setHashQuery(q, push) {
    const text = q.toString();
    const url = (location.hash.split('?')[0] || '#/overview') + (text ? '?' + text : '');
    if (url === location.hash) return;
    history[push ? 'pushState' : 'replaceState'](null, '', url);
    routed = location.href;
  }

  const compare = (a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b
    : String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' }));

  // The one list of the console: a search box, filters, sortable column
  // headers and pages, all kept in the address (QUERY keys q, sort, dir,
  // page, from and each filter's key). spec:
  //   columns  [{label, cell, cls, key, value}]: value(row) makes the
  //            column sortable, under its key
  //   search   (row) => the text the search box looks in; none: no box
  //   filters  [{key, label, options: [[value, text]…] (a select; else a
  //            text input), initial, hint, list, test: (row, value) =>
  //            bool}]; a filter without test is applied by load
  //   server   the keys whose change calls load again
  //   load     async (get) => rows (paged here), or {rows, next}: the API
  //            pages, next is the cursor of the next page (key from); a
  //            column's sort is then the API's order, in server too
  //   shown    (get) => the order of an API-paged list, for its status
  //   page     rows per page (25); noun ['user', 'users']; empty: the
  //            text for an empty list; caption
  // Returns {wrap, ready}: ready settles when the first rows are shown,
  // rejected when they could not be read.
  function listing(spec) {
    const PAGE = spec.page || 25;
    const filters = spec.filters || [];
    const byKey = Object.fromEntries(filters.map((f) => [f.key, f]));
    const server = spec.server || [];
    const [one, many] = spec.noun;
    const box = errorBox();
    const holder = h('div', { class: 'list-body' });
    const inputs = {};
    const controls = [];
    // A key's value in the address; for a select, one of its options (a
    // pasted link naming a team since removed shows the whole list).
    const get = (q, k) => {
      const f = byKey[k];
      const v = q.get(k) ?? (f && f.initial) ?? '';
      return f && f.options && !f.options.some(([o]) => o === v) ? f.initial ?? '' : v;
    };
    let timer = null;
    let cache = null; // {key, rows, next}: what load last answered
    let seq = 0;

    function write(changes, push) {
      const q = hashQuery();
      for (const [k, v] of Object.entries(changes)) {
        if (v === '' || v === null || String(v) === String((byKey[k] && byKey[k].initial) ?? '')) q.delete(k);
        else q.set(k, String(v));
      }
      setHashQuery(q, push);
      return render(false);
    }

    // A changed filter or search starts again at the first page. Every
    // control is written, so that one typed in while another waited for
    // its pause is not lost.
    function changed(push) {
      clearTimeout(timer);
      const values = Object.fromEntries(Object.entries(inputs).map(([k, input]) => [k, input.value.trim()]));
      write({ ...values, page: '', from: '' }, push).catch(() => {});
    }

    function control(k, input) {
      inputs[k] = input;
      if (input.tagName === 'SELECT') {
        input.addEventListener('change', () => changed(true));
      } else {
        input.addEventListener('input', () => {
          clearTimeout(timer);
          timer = setTimeout(() => changed(false), 250);
        });
        input.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') changed(false); });
      }
      return input;
    }

    if (spec.search) {
      controls.push(field('Search', control('q', h('input', { type: 'search', autocomplete: 'off', spellcheck: 'false' })), { cls: 'grow' }).wrap);
    }
    for (const f of filters) {
      const input = f.options
        ? h('select', null, f.options.map(([v, t]) => h('option', { value: v }, t)))
        : h('input', { autocomplete: 'off', spellcheck: 'false', list: f.list, placeholder: f.placeholder });
      controls.push(field(f.label, control(f.key, input), { hint: f.hint }).wrap);
    }

    function sortHeader(c, on, dir) {
      return h('button', {
        type: 'button',
        class: 'sort',
        title: `Sort by ${c.label}`,
        onclick: () => write({ sort: c.key, dir: on && dir === 1 ? 'desc' : '', page: '', from: '' }, true).catch(() => {}),
      }, c.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, on ? (dir === 1 ? ' ▲' : ' ▼') : ' ↕'));
    }

    function pageButton(text, changes, disabled) {
      return h('button', { type: 'button', class: 'secondary', disabled, onclick: () => write(changes, true).catch(() => {}) }, text);
    }

    async function render(first) {
      const q = hashQuery();
      const my = ++seq;
      box.textContent = '';
      for (const [k, input] of Object.entries(inputs)) {
        if (document.activeElement !== input) input.value = get(q, k);
      }
      const key = JSON.stringify(server.map((k) => get(q, k)));
      if (!cache || cache.key !== key) {
        let got;
        try {
          got = await spec.load((k) => get(q, k));
        } catch (err) {
          if (first) throw err;
          if (my === seq) showError(box, err);
          return;
        }
        if (my !== seq) return;
        cache = Array.isArray(got) ? { key, rows: got, next: undefined } : { key, rows: got.rows, next: got.next };
      }
      let rows = cache.rows;
      const needle = get(q, 'q').trim().toLowerCase();
      if (needle && spec.search) rows = rows.filter((r) => spec.search(r).toLowerCase().includes(needle));
      for (const f of filters) {
        const v = get(q, f.key);
        if (f.test && v !== '') rows = rows.filter((r) => f.test(r, v));
      }
      const sortCol = spec.columns.find((c) => c.value && c.key === get(q, 'sort'));
      const dir = get(q, 'dir') === 'desc' ? -1 : 1;
      if (sortCol) {
        rows = rows.map((r, i) => [sortCol.value(r), i, r])
          .sort((a, b) => compare(a[0], b[0]) * dir || a[1] - b[1]).map((x) => x[2]);
      }
      const matched = rows.length;
      const noun = (n) => `${n} ${n === 1 ? one : many}`;
      let status;
      let pager;
      if (cache.next === undefined) {
        const pages = Math.max(1, Math.ceil(matched / PAGE));
        const pg = Math.min(Math.max(1, parseInt(get(q, 'page'), 10) || 1), pages);
        rows = rows.slice((pg - 1) * PAGE, pg * PAGE);
        status = (matched === cache.rows.length ? noun(matched) : `${matched} of ${noun(cache.rows.length)} match`)
          + (pages > 1 ? ` · page ${pg} of ${pages}` : '');
        pager = pages > 1 ? [pageButton('← Previous', { page: pg - 1 > 1 ? pg - 1 : '' }, pg <= 1),
          pageButton('Next →', { page: pg + 1 }, pg >= pages)] : null;
      } else {
        const later = get(q, 'from') !== '';
        status = `${noun(matched)} shown` + (spec.shown ? ', ' + spec.shown((k) => get(q, k)) : '') + (later ? ', after the first page' : '');
        pager = later || cache.next ? [pageButton('First page', { from: '' }, !later),
          pageButton('Next page →', { from: cache.next || '' }, !cache.next)] : null;
      }
      const cols = spec.columns.map((c) => {
        if (!c.value) return c;
        const on = c === sortCol;
        return { ...c, label: sortHeader(c, on, dir), sorted: on ? (dir === 1 ? 'ascending' : 'descending') : null };
      });
      holder.replaceChildren();
      add(holder, [h('p', { class: 'muted small list-status', role: 'status' }, status),
        table(cols, rows, cache.rows.length ? `No ${many} match.` : spec.empty, spec.caption),
        pager ? h('nav', { class: 'pager actions', 'aria-label': `Pages of ${many}` }, pager) : null]);
    }

    return {
      wrap: [controls.length ? h('div', { class: 'inline list-controls', role: 'search', 'aria-label': `Find ${many}` }, controls) : null, box, holder],
      ready: render(true),
    };
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

  // Asks before a destructive change, in the page: a modal <dialog> whose
  // heading and text name exactly what goes. Cancel has the focus and is
  // the default; Escape cancels. Resolves true when the admin confirms.
  function ask(heading, text, action) {
    return new Promise((resolve) => {
      const head = h('h2', { id: nextId('dlg') }, heading);
      const body = h('p', { id: nextId('dlg') }, text);
      const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
      const ok = h('button', { type: 'button', class: 'danger' }, action);
      const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': head.id, 'aria-describedby': body.id },
        head, body, h('div', { class: 'actions' }, cancel, ok));
      const done = (yes) => {
        resolve(yes);
        if (dlg.open) dlg.close();
        dlg.remove();
      };
      cancel.addEventListener('click', () => done(false));
      ok.addEventListener('click', () => done(true));
      dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); done(false); });
      dlg.addEventListener('close', () => done(false)); // settled already: no-op
      document.body.append(dlg);
      dlg.showModal();
      cancel.focus();
    });
  }

  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const joined = (l) => l.join(', ');

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
    state.may = s.may;
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
    state.may = null;
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
  let routed = null; // the address route() last showed

  // Back and forward fire popstate, and hashchange too when the part
  // before the query differs: the view is shown once per address.
  function navigated() {
    if (location.href !== routed) route(true);
  }

  // The address is #/VIEW[/ARG][?QUERY]: QUERY holds a list's search,
  // filters, sort and page (listing()), so that a reload, back and forward
  // and a pasted link show the same list.
  function parseHash() {
    const parts = location.hash.replace(/^#\/?/, '').split('?')[0].split('/');
    return { view: parts[0] || 'overview', arg: parts.length > 1 ? decodeURIComponent(parts.slice(1).join('/')) : null };
  }

  // Shows the view the address names. moved: the admin went to another
  // view (focus and scroll go to its top), rather than a change redrawing
  // the same one.
  async function route(moved) {
    if (!state.csrf) return;
    routed = location.href;
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
    const [users, teams] = await Promise.all([api('GET', 'users'), api('GET', 'teams')]);
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
    const all = listing({
      noun: ['user', 'users'],
      caption: 'Users',
      empty: 'No users yet.',
      search: (u) => `${u.name} ${u.email || ''}`,
      filters: [
        { key: 'status', label: 'Status', options: [['', 'any'], ['active', 'active'], ['disabled', 'disabled']], test: (u, v) => (v === 'disabled') === !!u.disabled },
        { key: 'team', label: 'Team', options: [['', 'any']].concat(teams.map((t) => [t.name, t.name])) },
      ],
      server: ['team'],
      // A team's members come with the team.
      load: async (get) => {
        if (!get('team')) return users;
        const t = await api('GET', 'teams/' + enc(get('team')));
        return users.filter((u) => t.members.includes(u.name));
      },
      columns: [
        { label: 'Name', key: 'name', value: (u) => u.name, cell: (u) => link('users', u.name) },
        { label: 'Email', key: 'email', value: (u) => u.email || '', cell: (u) => u.email || '—' },
        { label: 'Status', key: 'status', value: (u) => (u.disabled ? 1 : 0), cell: (u) => (u.disabled ? badge('disabled', 'bad') : badge('active', 'ok')) },
        { label: 'Created', key: 'created', value: (u) => u.created_at, cell: (u) => timeCell(u.created_at) },
      ],
    });
    await all.ready;
    return [
      title('Users'),
      when('helpdesk', card('Add a user', form, box)),
      card('All users', all.wrap),
    ];
  };

  async function userView(name, extra) {
    const u = await api('GET', 'users/' + enc(name));
    // A disabled user's page shows the stored report of their last
    // offboarding, whoever made it (console, mcpfleetctl or SCIM).
    if (!extra && u.disabled) extra = await storedOffboarding(u.name);
    const reasonIn = field('Reason', h('input', { autocomplete: 'off' }), { hint: 'optional, kept in the audit log', cls: 'grow' });
    const offBox = errorBox();
    const offBtn = h('button', { type: 'submit', class: 'danger' }, `Offboard ${u.name}`);
    const offForm = h('form', { class: 'inline' }, reasonIn.wrap, offBtn);
    offForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const devs = u.devices.length ? `, revokes ${plural(u.devices.length, 'device', 'devices')} (${joined(u.devices)}), whose fleet entries are wiped within seconds or when they next connect,` : ', who has no device,';
      if (!(await ask(`Offboard ${u.name}?`, `This disables ${u.name}${devs} and revokes every unused enrollment link of theirs.`, `Offboard ${u.name}`))) return;
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
      onclick: async () => {
        const teams = u.teams.length ? ` and their ${plural(u.teams.length, 'membership', 'memberships')} (${joined(u.teams)})` : '';
        if (!(await ask(`Remove user ${u.name}?`, `The record of ${u.name}${u.email ? ` (${u.email})` : ''} is deleted, with their grants${teams}.`, `Remove ${u.name}`))) return;
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

  // The stored report, or null when there is none (disabled, never offboarded).
  async function storedOffboarding(name) {
    try {
      return offboardResult(await api('GET', `users/${enc(name)}/offboarding`));
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  }

  function offboardResult(res) {
    return h('section', { class: 'card', 'aria-label': 'Offboarding result', id: 'offboard-result' },
      h('h2', null, `${res.user} was offboarded`),
      res.offboarded_at ? h('p', { class: 'muted' }, 'On ', timeCell(res.offboarded_at), ` by ${res.by}`, res.reason ? ` (${res.reason})` : '', '.') : null,
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
      onclick: async (ev) => {
        const btn = ev.currentTarget;
        if (!(await ask(`Remove ${user} from team ${t.name}?`, `${user} loses what the grants to ${t.name} give them; their devices update within seconds.`, 'Remove from team'))) return;
        busy(btn, memberBox, async () => {
          await api('DELETE', `teams/${enc(t.name)}/members/${enc(user)}`);
          toast(`${user} left ${t.name}`);
          rerender();
        });
      },
    }, 'Remove');
    const rmBox = errorBox();
    const rmBtn = h('button', {
      type: 'button',
      class: 'danger',
      onclick: async () => {
        const members = t.members.length ? `its ${plural(t.members.length, 'membership', 'memberships')} (${joined(t.members)})` : 'its memberships (none)';
        if (!(await ask(`Remove team ${t.name}?`, `Team ${t.name} is deleted, with ${members} and its grants.`, `Remove ${t.name}`))) return;
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

  function summary(entry) {
    if (!entry) return '—';
    if (entry.url) return h('span', null, badge(entry.type || 'http', 'info'), ' ', h('code', null, entry.url));
    if (entry.command) return h('span', null, badge('stdio'), ' ', h('code', null, [entry.command].concat(entry.args || []).join(' ')));
    return '—';
  }

  // Tool rates as the form writes them: GLOB=RATE, comma-separated.
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

  // The form of a server entry (docs/design.md, "Canonical server
  // schema"; the API checks it with common/catalogue.c): a control for each
  // field, and the canonical JSON as the "Advanced" view. The JSON is what
  // is saved; a control changed rewrites it, the JSON edited refills the
  // controls, and what no control shows (a field of a later version) stays
  // as written. save(name, entry) sends it; an error of the API that names
  // a field is shown next to that field. Returns the form.
  function serverForm(entry, withName, action, save) {
    const box = errorBox();
    const text = (label, props, o) => field(label, h('input', { autocomplete: 'off', spellcheck: 'false', ...props }), o);
    const area = (label, o) => field(label, h('textarea', { spellcheck: 'false', rows: 3, class: 'short' }), { cls: 'grow', ...o });
    const select = (label, options, o) => field(label, h('select', null, options.map(([v, t]) => h('option', { value: v }, t))), o);
    const disabledIn = h('input', { type: 'checkbox', id: nextId('f') });
    const f = {
      name: withName ? text('Name', { required: true, pattern: '[A-Za-z0-9_-]{1,64}' }, { hint: 'letters, digits, _ and -' }) : null,
      transport: select('Transport', [['stdio', 'stdio: a command on the workstation'], ['http', 'http: a remote server'], ['sse', 'sse: a remote server (server-sent events)']]),
      command: text('Command', { placeholder: 'npx' }, { cls: 'grow' }),
      args: area('Arguments', { hint: 'one per line' }),
      env: area('Environment', { hint: 'NAME=value, one per line' }),
      url: text('URL', { type: 'url', placeholder: 'https://mcp.example.com/mcp' }, { cls: 'grow' }),
      headers: area('Headers', { hint: 'Name: value, one per line' }),
      hosts: text('Hosts', { placeholder: 'cursor, claude-code' }, { hint: 'comma-separated; empty: every host' }),
      allow: text('Tools allowed', {}, { hint: 'comma-separated; empty: all' }),
      deny: text('Tools denied', {}, { hint: 'comma-separated' }),
      disabled: { wrap: h('div', { class: 'field check' }, h('label', { for: disabledIn.id }, disabledIn, ' Disabled'), h('span', { class: 'hint' }, 'kept in the catalogue, left out of the hosts')), input: disabledIn },
      via: select('Via', [['', 'default (launcher)'], ['launcher', 'launcher: mcpfleet exec'], ['direct', 'direct: in the host files']], { hint: 'how the hosts run it' }),
      rate: text('Rate', { placeholder: '60/min' }, { hint: 'calls per user; empty: none' }),
      toolRates: text('Tool rates', { placeholder: 'delete_*=5/hour' }, { hint: 'GLOB=RATE, comma-separated', cls: 'grow' }),
      json: field('Entry (canonical JSON)', h('textarea', { spellcheck: 'false', rows: 12 }), { cls: 'full', hint: 'exactly one of "command" (stdio) or "url" (remote); ${secret:NAME} is filled in per user in command, args, env, url and headers' }),
    };
    const advanced = h('details', { class: 'advanced' }, h('summary', null, 'Advanced: the canonical JSON'), f.json.wrap);
    // Each field's own error, under it, read with it.
    for (const fl of Object.values(f)) {
      if (!fl) continue;
      fl.error = h('p', { class: 'error field-error', role: 'alert', id: nextId('err') });
      fl.wrap.append(fl.error);
      fl.input.setAttribute('aria-describedby', fl.error.id);
    }
    // fromApi: the API's answer to the last save, which the next save asks
    // again; else the page's own reading of the field, which blocks a save.
    const fieldError = (fl, msg, fromApi) => {
      fl.error.textContent = msg;
      fl.fromApi = !!fromApi;
      if (msg) fl.input.setAttribute('aria-invalid', 'true');
      else fl.input.removeAttribute('aria-invalid');
    };
    const clearErrors = () => { for (const fl of Object.values(f)) if (fl) fieldError(fl, ''); };
    const stdio = h('div', { class: 'inline' }, f.command.wrap, f.args.wrap, f.env.wrap);
    const remote = h('div', { class: 'inline' }, f.url.wrap, f.headers.wrap);
    const shown = () => {
      stdio.hidden = f.transport.input.value !== 'stdio';
      remote.hidden = !stdio.hidden;
    };

    const lines = (t) => t.split('\n').map((x) => x.trim()).filter((x) => x.length > 0);
    const pairs = (fl, sep, how) => {
      const out = {};
      for (const l of lines(fl.input.value)) {
        const i = l.indexOf(sep);
        if (i <= 0) throw Object.assign(new Error(`"${l}" is not ${how}.`), { field: fl });
        out[l.slice(0, i).trim()] = l.slice(i + 1).trim();
      }
      return out;
    };
    const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
    const strs = (v) => (Array.isArray(v) ? v.map(String) : []);
    const kv = (v, sep) => (isObj(v) ? Object.entries(v).map(([k, x]) => `${k}${sep}${x}`).join('\n') : '');

    // The controls from an entry.
    function fill(e) {
      if (e.command !== undefined) f.transport.input.value = 'stdio';
      else if (e.url !== undefined) f.transport.input.value = e.type === 'sse' ? 'sse' : 'http';
      f.command.input.value = typeof e.command === 'string' ? e.command : '';
      f.args.input.value = strs(e.args).join('\n');
      f.env.input.value = kv(e.env, '=');
      f.url.input.value = typeof e.url === 'string' ? e.url : '';
      f.headers.input.value = kv(e.headers, ': ');
      f.hosts.input.value = strs(e.hosts).join(', ');
      f.allow.input.value = strs(isObj(e.tools) ? e.tools.allow : null).join(', ');
      f.deny.input.value = strs(isObj(e.tools) ? e.tools.deny : null).join(', ');
      f.disabled.input.checked = e.disabled === true;
      f.via.input.value = e.via === 'launcher' || e.via === 'direct' ? e.via : '';
      f.rate.input.value = typeof e.rate === 'string' ? e.rate : '';
      f.toolRates.input.value = toolRatesText(e.tool_rates);
      shown();
    }

    // An entry from the controls, over base (what they do not show stays);
    // a control that cannot be read throws with .field set.
    function build(base) {
      const e = { ...base };
      const put = (k, v, keep) => { if (keep) e[k] = v; else delete e[k]; };
      if (f.transport.input.value === 'stdio') {
        const args = lines(f.args.input.value);
        const env = pairs(f.env, '=', 'NAME=value');
        put('command', f.command.input.value.trim(), true);
        put('args', args, args.length);
        put('env', env, Object.keys(env).length);
        for (const k of ['url', 'headers']) delete e[k];
        if (e.type !== 'stdio') delete e.type;
      } else {
        const headers = pairs(f.headers, ':', 'Name: value');
        put('url', f.url.input.value.trim(), true);
        put('headers', headers, Object.keys(headers).length);
        for (const k of ['command', 'args', 'env']) delete e[k];
        if (f.transport.input.value === 'sse') e.type = 'sse';
        else if (e.type !== 'http') delete e.type;
      }
      const hosts = list(f.hosts.input.value);
      put('hosts', hosts, hosts.length);
      const tools = isObj(base.tools) ? { ...base.tools } : {};
      for (const [k, fl] of [['allow', f.allow], ['deny', f.deny]]) {
        const l = list(fl.input.value);
        if (l.length) tools[k] = l;
        else delete tools[k];
      }
      put('tools', tools, Object.keys(tools).length);
      put('disabled', true, f.disabled.input.checked);
      put('via', f.via.input.value, f.via.input.value);
      put('rate', f.rate.input.value.trim(), f.rate.input.value.trim());
      let tr;
      try {
        tr = parseToolRates(f.toolRates.input.value);
      } catch (err) {
        throw Object.assign(err, { field: f.toolRates });
      }
      put('tool_rates', tr, Object.keys(tr).length);
      return e;
    }

    let base = entry || {};
    const fromControls = () => {
      clearErrors();
      try {
        base = build(base);
        f.json.input.value = JSON.stringify(base, null, 2);
      } catch (err) {
        fieldError(err.field || f.json, err.message);
      }
    };
    const fromJson = () => {
      clearErrors();
      try {
        base = parseEntry(f.json.input.value);
        fill(base);
      } catch (err) {
        fieldError(f.json, err.message);
      }
    };
    fill(base);
    if (entry) f.json.input.value = JSON.stringify(entry, null, 2);
    else fromControls();
    for (const [k, fl] of Object.entries(f)) {
      if (!fl || k === 'name' || k === 'json') continue;
      fl.input.addEventListener('input', fromControls);
      fl.input.addEventListener('change', () => { shown(); fromControls(); });
    }
    f.json.input.addEventListener('input', fromJson);
    if (f.name) f.name.input.addEventListener('input', () => fieldError(f.name, ''));

    // Where the API's message puts the fault: "field 'name': …" or "field
    // 'entry': servers.NAME.FIELD[.SUB]: reason" (common/catalogue.c).
    const plain = (t) => t.charAt(0).toUpperCase() + t.slice(1);
    function apiField(msg) {
      const named = /^field 'name': (.*)$/s.exec(msg);
      if (named && f.name) return { fl: f.name, text: plain(named[1]) };
      const m = /^field 'entry': servers\.[A-Za-z0-9_-]+(?:\.([^:]*))?: (.*)$/s.exec(msg);
      if (!m) return null;
      const [top, ...rest] = (m[1] || '').split('.');
      const sub = rest.join('.');
      const at = {
        command: f.command, args: f.args, env: f.env, url: f.url, headers: f.headers, type: f.transport, hosts: f.hosts,
        tools: sub.startsWith('deny') ? f.deny : f.allow, disabled: f.disabled, via: f.via, rate: f.rate, tool_rates: f.toolRates,
      };
      let fl = top ? at[top.replace(/\[.*$/, '')] : null;
      if (!top && /exactly one of 'command'/.test(m[2])) fl = f.transport.input.value === 'stdio' ? f.command : f.url;
      const text = (sub ? sub + ': ' : '') + m[2];
      return { fl: fl || f.json, text: plain(text) };
    }

    const labelOf = (fl) => (fl === f.json ? 'the JSON' : fl === f.disabled ? 'Disabled' : fl.wrap.querySelector('label').firstChild.textContent.trim());
    const submit = h('button', { type: 'submit' }, action);
    const form = h('form', { novalidate: true, class: 'server-form' },
      f.name ? h('div', { class: 'inline' }, f.name.wrap, f.transport.wrap) : h('div', { class: 'inline' }, f.transport.wrap),
      stdio, remote,
      h('div', { class: 'inline' }, f.hosts.wrap, f.allow.wrap, f.deny.wrap, f.disabled.wrap),
      h('div', { class: 'inline' }, f.via.wrap, f.rate.wrap, f.toolRates.wrap),
      advanced, box, h('div', { class: 'actions' }, submit));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      busy(submit, box, async () => {
        const pending = Object.values(f).find((fl) => fl && fl.error.textContent && !fl.fromApi);
        if (pending) {
          if (pending === f.json) advanced.open = true;
          pending.input.focus();
          throw new Error(`Not saved: ${labelOf(pending)} needs fixing (see the message under it).`);
        }
        clearErrors();
        try {
          await save(f.name ? f.name.input.value.trim() : null, parseEntry(f.json.input.value));
        } catch (err) {
          const where = err instanceof ApiError && err.status === 400 ? apiField(err.message) : null;
          if (!where) throw err;
          fieldError(where.fl, where.text, true);
          if (where.fl === f.json) advanced.open = true;
          where.fl.input.focus();
          throw new Error(`Not saved: ${labelOf(where.fl)}: ${where.text}`);
        }
      });
    });
    return form;
  }

  // stdio for a command; else the entry's type, http when it names none.
  const transportOf = (e) => (!e ? '' : e.command ? 'stdio' : e.type || 'http');
  const viaText = (e) => (e && e.via ? e.via : 'launcher');
  const limitsText = (e) => {
    const parts = [];
    if (e && e.rate) parts.push(e.rate);
    if (e && e.tool_rates) parts.push(toolRatesText(e.tool_rates));
    return parts.length ? h('code', null, parts.join('; ')) : '—';
  };

  views.servers = async (name) => {
    if (name) return serverView(name);
    // The catalogue first: a role that may not read it is told so in the
    // catalogue's words, not in the grants'.
    const servers = await api('GET', 'servers');
    const [grants, teams] = await Promise.all([api('GET', 'grants'), api('GET', 'teams')]);
    const form = serverForm(null, true, 'Add server', async (name, entry) => {
      const s = await api('POST', 'servers', { name, entry });
      toast(`Server ${s.name} added`);
      location.hash = '#/servers/' + enc(s.name);
    });
    // A server's team: one granted to that team, or to everyone.
    const grantedTo = (srv, team) => grants.some((g) => g.server === srv.name
      && (team === 'everyone' ? g.target === 'everyone' : g.target === 'team' && g.target_name === team));
    const catalogue = listing({
      noun: ['server', 'servers'],
      caption: 'Servers',
      empty: may('admin') ? 'No servers yet: add the first one below.' : 'No servers yet.',
      search: (s) => `${s.name} ${JSON.stringify(s.entry)}`,
      filters: [
        { key: 'transport', label: 'Runs', options: [['', 'any'], ['stdio', 'stdio'], ['http', 'http'], ['sse', 'sse']], test: (s, v) => transportOf(s.entry) === v },
        { key: 'team', label: 'Granted to', options: [['', 'anyone'], ['everyone', 'everyone']].concat(teams.map((t) => [t.name, 'team ' + t.name])), test: grantedTo },
      ],
      load: async () => servers,
      columns: [
        { label: 'Name', key: 'name', value: (s) => s.name, cell: (s) => link('servers', s.name) },
        { label: 'Runs', key: 'runs', value: (s) => transportOf(s.entry), cell: (s) => summary(s.entry) },
        { label: 'Hosts', cell: (s) => (s.entry && s.entry.hosts ? s.entry.hosts.join(', ') : 'all') },
        { label: 'Via', key: 'via', value: (s) => viaText(s.entry), cell: (s) => viaText(s.entry) },
        { label: 'Limits', cell: (s) => limitsText(s.entry) },
        { label: 'Updated', key: 'updated', value: (s) => s.updated_at, cell: (s) => timeCell(s.updated_at) },
      ],
    });
    await catalogue.ready;
    return [
      title('Servers'),
      card('Catalogue', catalogue.wrap),
      when('admin', card('Add a server', form)),
    ];
  };

  async function serverView(name) {
    const s = await api('GET', 'servers/' + enc(name));
    const form = serverForm(s.entry, false, 'Save', async (unused, entry) => {
      await api('PUT', 'servers/' + enc(s.name), { entry });
      toast(`Server ${s.name} saved: devices get it now`);
      rerender();
    });
    const rmBox = errorBox();
    const rmBtn = h('button', {
      type: 'button',
      class: 'danger',
      onclick: async () => {
        const grants = s.grants.length ? `its ${plural(s.grants.length, 'grant', 'grants')}` : 'its grants (none)';
        if (!(await ask(`Remove server ${s.name}?`, `${s.name} goes from every device within seconds, and ${grants} with it.`, `Remove ${s.name}`))) return;
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
        may('admin') ? form : h('pre', { class: 'entry' }, JSON.stringify(s.entry, null, 2))),
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
          onclick: async (ev) => {
            const btn = ev.currentTarget;
            const to = g.target === 'everyone' ? 'everyone' : `${g.target} ${g.target_name}`;
            if (!(await ask(`Remove grant ${g.id}?`, `The grant of ${g.server} to ${to} goes: whoever reaches ${g.server} only through it loses it on their devices within seconds.`, 'Remove grant'))) return;
            busy(btn, box, async () => {
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
            onclick: async (ev) => {
              const btn = ev.currentTarget;
              const of = s.scope === 'org' ? 'the organisation' : `${s.scope} ${s.scope_name}`;
              if (!(await ask(`Remove secret ${s.name} of ${of}?`, `Every version of ${s.name} for ${of} is deleted; entries that use \${secret:${s.name}} no longer get this value.`, 'Remove secret'))) return;
              busy(btn, listBox, async () => {
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
            onclick: async (ev) => {
              const btn = ev.currentTarget;
              if (!(await ask(`Revoke enrollment link ${t.id} of ${t.user}?`, `Link ${t.id} (${plural(t.uses_left, 'use', 'uses')} left) can no longer enroll a workstation for ${t.user}.`, 'Revoke link'))) return;
              busy(btn, listBox, async () => {
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
    const owners = [...new Set(devices.map((d) => d.user))].sort(compare);
    const all = listing({
      noun: ['device', 'devices'],
      caption: 'Devices',
      empty: 'No devices enrolled yet: create an enrollment link.',
      search: (d) => `${d.id} ${d.user} ${d.hostname} ${d.os}`,
      filters: [
        { key: 'status', label: 'Status', options: [['', 'any'], ['active', 'active'], ['revoked', 'revoked'], ['connected', 'connected now']], test: (d, v) => (v === 'connected' ? !!d.connected : d.status === v) },
        { key: 'user', label: 'User', options: [['', 'anyone']].concat(owners.map((u) => [u, u])), test: (d, v) => d.user === v },
      ],
      load: async () => devices,
      columns: [
        { label: 'Device', key: 'id', value: (d) => d.id, cell: (d) => link('devices', d.id, h('code', null, d.id)) },
        { label: 'User', key: 'user', value: (d) => d.user, cell: (d) => link('users', d.user) },
        { label: 'Host name', key: 'host', value: (d) => d.hostname, cell: (d) => d.hostname },
        { label: 'OS', key: 'os', value: (d) => d.os, cell: (d) => d.os },
        { label: 'Status', key: 'status', value: (d) => d.status, cell: deviceState },
        { label: 'Connection', key: 'conn', value: (d) => (d.connected ? 0 : 1), cell: connected },
        { label: 'Applied revision', key: 'revision', value: (d) => d.applied_revision, cell: (d) => String(d.applied_revision), cls: 'num' },
        { label: 'Last seen', key: 'seen', value: (d) => d.last_seen || 0, cell: (d) => timeCell(d.last_seen) },
      ],
    });
    await all.ready;
    return [
      title('Devices'),
      card('All devices', all.wrap),
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
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!(await ask(`Revoke device ${d.hostname} of ${d.user}?`, `${d.hostname} (${d.id}) of ${d.user} will stop receiving updates, its fleet entries are wiped within seconds (or when it next connects), and its certificate never connects again.`, 'Revoke device'))) return;
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
        h('dt', null, 'Calls dropped offline'), h('dd', null, String(d.calls_dropped || 0), may('audit') ? [' (', h('a', { href: '#/calls?device=' + enc(d.id) }, 'its calls'), ')'] : null),
        h('dt', null, 'Certificate'), h('dd', null, h('code', { class: 'small' }, `serial ${d.cert_serial}`), h('br'), h('code', { class: 'small' }, `sha256 ${d.cert_fingerprint}`), h('br'), certExpiry(d)))),
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

  const callColumns = [
    { label: 'Time', key: 'at', value: (c) => c.id, cell: (c) => timeCell(c.at), cls: 'when' },
    { label: 'User', cell: (c) => link('users', c.user) },
    { label: 'Device', cell: (c) => link('devices', c.device) },
    { label: 'Server', cell: (c) => c.server },
    { label: 'Method', cell: (c) => h('code', null, c.method) },
    { label: 'Name', cell: (c) => h('code', null, c.name || '—') },
    { label: 'Outcome', cell: (c) => h('span', null, outcomeBadge(c.outcome), c.detail ? h('span', { class: 'muted small' }, ' ', c.detail) : null) },
    { label: 'Duration', cell: (c) => fmtDuration(c.duration_us), cls: 'num' },
    { label: 'Bytes in/out', cell: (c) => `${c.bytes_in} / ${c.bytes_out}`, cls: 'num' },
  ];

  const callTable = (rows, emptyText) => table(callColumns, rows, emptyText);

  // The periods the Calls and Audit pages offer, in seconds back from now.
  const PERIODS = [['3600', 'Last hour'], ['86400', 'Last 24 hours'], ['604800', 'Last 7 days'], ['2592000', 'Last 30 days'], ['0', 'Everything']];
  const sinceOf = (secs) => (Number(secs) ? Math.max(0, Math.floor(Date.now() / 1000) - Number(secs)) : 0);

  // The order of a list the API pages by id (the Calls and Audit pages):
  // newest first, or oldest first while one of the columns keys (Id,
  // Time) is sorted ascending; a page is one request however long the
  // list. query sets the API's order and the address's cursor (from) as
  // before or after; next is the cursor of the page after rows.
  function idOrder(keys, limit) {
    const oldest = (get) => keys.includes(get('sort')) && get('dir') !== 'desc';
    return {
      server: ['sort', 'dir', 'from'],
      shown: (get) => (oldest(get) ? 'oldest first' : 'newest first'),
      query: (q, get) => {
        q.set('order', oldest(get) ? 'oldest' : 'newest');
        if (get('from')) q.set(oldest(get) ? 'after' : 'before', get('from'));
        q.set('limit', String(limit));
      },
      next: (rows) => (rows.length === limit ? String(rows[rows.length - 1].id) : null),
    };
  }

  // The API filters and pages the calls (newest first, or oldest first
  // sorted by Time ascending): every filter here is one of its
  // parameters. #/calls/DEVICE, the address of old links, opens the page
  // filtered to that device.
  views.calls = async (device) => {
    if (device) {
      history.replaceState(null, '', '#/calls?device=' + enc(device));
      routed = location.href;
    }
    const order = idOrder(['at'], 100);
    const keys = ['user', 'device', 'server', 'tool', 'outcome'];
    const calls = listing({
      noun: ['call', 'calls'],
      caption: 'Calls',
      empty: 'No calls match.',
      filters: [
        { key: 'user', label: 'User' },
        { key: 'device', label: 'Device', hint: 'dev-…' },
        { key: 'server', label: 'Server' },
        { key: 'tool', label: 'Tool', hint: 'exact name' },
        { key: 'outcome', label: 'Outcome', options: [['', 'any'], ['ok', 'ok'], ['error', 'error'], ['denied', 'denied'], ['rate_limited', 'rate limited']] },
        { key: 'since', label: 'Since', options: PERIODS, initial: '604800' },
      ],
      server: keys.concat(['since'], order.server),
      shown: order.shown,
      load: async (get) => {
        const q = new URLSearchParams();
        for (const k of keys) if (get(k)) q.set(k, get(k));
        const since = sinceOf(get('since'));
        if (since) q.set('since', String(since));
        order.query(q, get);
        const rows = await api('GET', 'calls?' + q.toString());
        return { rows, next: order.next(rows) };
      },
      columns: callColumns,
    });
    await calls.ready;
    return [
      title('Calls'),
      card('Calls', h('p', { class: 'muted small' }, 'Every tools/call, resources/read and prompts/get the launchers ran, with its outcome: never the arguments or the results.'), calls.wrap),
    ];
  };

  // ---- Audit ----

  views.audit = async () => {
    const verifyOut = h('div', { role: 'status', 'aria-live': 'polite' });
    const verifyBtn = h('button', { type: 'button' }, 'Verify the chain');
    const box = errorBox();
    const actions = h('datalist', { id: 'audit-actions' });
    const seen = new Set(); // the actions of the rows read, offered as values
    // The API filters and pages (newest first, or oldest first sorted by
    // Id or Time ascending).
    const order = idOrder(['id', 'at'], 100);
    async function load(get) {
      const q = new URLSearchParams();
      const since = sinceOf(get('since'));
      if (since) q.set('since', String(since));
      for (const k of ['action', 'actor']) if (get(k)) q.set(k, get(k));
      order.query(q, get);
      const rows = await api('GET', 'audit?' + q.toString());
      const before = seen.size;
      for (const r of rows) seen.add(r.action);
      if (seen.size !== before) actions.replaceChildren(...[...seen].sort(compare).map((x) => h('option', { value: x })));
      return { rows, next: order.next(rows) };
    }
    const rowsList = listing({
      noun: ['row', 'rows'],
      caption: 'Audit rows',
      empty: 'Nothing in this period.',
      filters: [
        { key: 'since', label: 'Period', options: PERIODS, initial: '604800' },
        { key: 'action', label: 'Action', hint: 'or its start: user.', list: 'audit-actions' },
        { key: 'actor', label: 'Actor', hint: 'or a part of it' },
      ],
      server: ['since', 'action', 'actor'].concat(order.server),
      shown: order.shown,
      load,
      columns: [
        { label: 'Id', key: 'id', value: (r) => r.id, cell: (r) => String(r.id), cls: 'num' },
        { label: 'Time', key: 'at', value: (r) => r.id, cell: (r) => timeCell(r.at), cls: 'when' },
        { label: 'Actor', cell: (r) => r.actor },
        { label: 'Action', cell: (r) => h('code', null, r.action) },
        { label: 'Target', cell: (r) => r.target || '—' },
        { label: 'Details', cell: (r) => (r.details ? h('code', null, JSON.stringify(r.details)) : '—'), cls: 'details' },
      ],
    });
    verifyBtn.addEventListener('click', () => busy(verifyBtn, box, async () => {
      try {
        const v = await api('GET', 'audit/verify');
        verifyOut.replaceChildren(h('p', { class: 'note ok' }, `The chain is intact: ${v.rows} rows, each hash chained to the one before` + (v.keyed_from > 0 ? `, keyed (HMAC-SHA-256) from row ${v.keyed_from}.` : '.')));
      } catch (e) {
        if (e.status !== 409) throw e;
        verifyOut.replaceChildren(h('p', { class: 'note bad' }, 'The chain is broken: ' + e.message));
      }
    }));
    await rowsList.ready;
    return [
      title('Audit log'),
      card('Integrity', h('p', { class: 'muted small' }, 'Every change is a row whose hash covers the row before it, so an edited or deleted row breaks the chain.'),
        h('div', { class: 'actions' }, verifyBtn), verifyOut, box),
      card('Rows', rowsList.wrap, actions),
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
    window.addEventListener('hashchange', navigated);
    window.addEventListener('popstate', navigated);
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
