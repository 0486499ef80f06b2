// SPDX-License-Identifier: MIT
// The console's live view: the daemon's event stream (GET /api/v1/events,
// server/API.md "Events") keeps the overview, the device list, a device's
// page and the header's push progress up to date without a reload. It
// needs from web/app.js only window.mcpfleet and the mcpfleet:signedin and
// mcpfleet:signedout events. Like app.js, it writes data as text only.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const REDRAW_MS = 1000; // a busy fleet redraws a view at most this often
  const RETRY_MIN_MS = 3000; // after a stream the browser gave up on
  const RETRY_MAX_MS = 30000;
  const LOST_MS = 5000; // "reconnecting" once the stream is away this long

  let source = null; // the EventSource, while signed in
  let retryTimer = null;
  let retryMs = RETRY_MIN_MS;
  let lostTimer = null;
  let redrawTimer = null;
  let redrawDue = false;
  let lastRedraw = 0;
  let deferred = false; // a redraw waits for the admin to leave a field

  const app = () => window.mcpfleet;

  // ---- The indicator and the push progress in the header ----

  function indicator(stateName, text) {
    const el = $('live');
    el.hidden = false;
    el.dataset.state = stateName;
    el.className = 'badge live ' + (stateName === 'live' ? 'ok' : stateName === 'reconnecting' ? 'warn' : '');
    el.textContent = text;
    el.title = stateName === 'live' ? 'Updates as they happen' : 'Lost the daemon: trying again by itself';
  }

  function showPush(p) {
    const box = $('live-push');
    if (!p || !p.revision) {
      box.hidden = true;
      return;
    }
    const bar = document.createElement('progress');
    bar.max = Math.max(p.devices, 1);
    bar.value = p.devices ? p.reached : 1;
    bar.setAttribute('aria-label', 'Push progress');
    const text = document.createElement('span');
    text.className = 'push-text';
    text.textContent = `revision ${p.revision}: reached ${p.reached} of ${p.devices} device${p.devices === 1 ? '' : 's'}`;
    box.replaceChildren(bar, ' ', text);
    box.dataset.revision = String(p.revision);
    box.dataset.reached = String(p.reached);
    box.dataset.devices = String(p.devices);
    box.hidden = false;
  }

  // ---- Redrawing the view the event concerns ----

  // A field with focus in the view would lose what the admin is typing:
  // the redraw waits until they leave it.
  function typing() {
    const a = document.activeElement;
    return a && $('main').contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName);
  }

  function redrawNow() {
    redrawTimer = null;
    if (!redrawDue || !app() || !app().signedIn()) return;
    if (typing()) {
      deferred = true;
      return;
    }
    redrawDue = false;
    lastRedraw = Date.now();
    app().redraw();
  }

  function redrawSoon() {
    redrawDue = true;
    if (redrawTimer !== null) return;
    const wait = Math.max(0, lastRedraw + REDRAW_MS - Date.now());
    redrawTimer = setTimeout(redrawNow, wait);
  }

  document.addEventListener('focusout', () => {
    if (!deferred) return;
    deferred = false;
    setTimeout(() => { if (!typing()) redrawSoon(); }, 0);
  });

  function onDevice(d) {
    const { view, arg } = app().current();
    if (view === 'devices' && (!arg || arg === d.id)) redrawSoon();
    else if (view === 'users' && arg === d.user) redrawSoon();
  }

  function onOverview() {
    app().refreshStatus();
    if (app().current().view === 'overview') redrawSoon();
  }

  // Something was missed: whatever is shown may be stale.
  function onReset() {
    app().refreshStatus();
    redrawSoon();
  }

  // ---- The stream ----

  function parse(ev) {
    try {
      return JSON.parse(ev.data);
    } catch (e) {
      return null;
    }
  }

  function stop() {
    if (source) source.close();
    source = null;
    clearTimeout(retryTimer);
    retryTimer = null;
    clearTimeout(lostTimer);
    lostTimer = null;
    retryMs = RETRY_MIN_MS;
    $('live').hidden = true;
    $('live-push').hidden = true;
  }

  // The browser reconnects by itself after a dropped connection (the
  // daemon ends each stream after a few minutes, or went away); it gives
  // up only on an answer that is not a stream (a 401, a 503, a proxy's
  // error page). Then: signed out, or try again a little later.
  async function gaveUp() {
    source = null;
    indicator('reconnecting', 'reconnecting');
    if (!(await app().checkSession())) return; // app.js signed out
    if (!app().signedIn()) return;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }

  function connect() {
    retryTimer = null;
    if (source || !app() || !app().signedIn()) return;
    const es = new EventSource('/api/v1/events');
    source = es;
    if ($('live').hidden) indicator('connecting', 'connecting');
    // Back after a gap, the stream replays what was missed, or says
    // "reset" when it cannot (the daemon restarted).
    es.addEventListener('open', () => {
      clearTimeout(lostTimer);
      lostTimer = null;
      indicator('live', 'live');
      retryMs = RETRY_MIN_MS;
    });
    es.addEventListener('error', () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        gaveUp();
        return;
      }
      // The daemon ends every stream after a few minutes and the
      // browser is back 3 s later: only a longer gap is worth showing.
      if (lostTimer === null) {
        lostTimer = setTimeout(() => {
          lostTimer = null;
          if (source === es && es.readyState !== EventSource.OPEN) indicator('reconnecting', 'reconnecting');
        }, LOST_MS);
      }
    });
    es.addEventListener('device', (ev) => { const d = parse(ev); if (d) onDevice(d); });
    es.addEventListener('devices', () => { if (app().current().view === 'devices') redrawSoon(); });
    es.addEventListener('overview', (ev) => { if (parse(ev)) onOverview(); });
    es.addEventListener('push', (ev) => showPush(parse(ev)));
    es.addEventListener('reset', onReset);
  }

  document.addEventListener('mcpfleet:signedin', () => { stop(); connect(); });
  document.addEventListener('mcpfleet:signedout', stop);
  // Signed in before this file ran (deferred scripts run in order, but
  // the session check may already have answered).
  if (app() && app().signedIn()) connect();
})();
