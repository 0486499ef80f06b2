// SPDX-License-Identifier: MIT
// The MCP tools a host offered its model, from the requests the fake model
// recorded (tests/exec/fake-model.cjs): one "SERVER TOOL" line each, sorted,
// '_' read as '-' in both (codex spells server-everything's get-env as
// get_env). Each host names them its own way:
//   claude  mcp__SERVER__TOOL, as tools or in its list of deferred tools
//   codex   a tool namespace mcp__SERVER holding the tools
//   gemini  function declarations mcp_SERVER_TOOL
//   qwen    mcp__SERVER__TOOL, as claude (deferred tools in its prompt)
//   copilot tools SERVER-TOOL (SERVER without '-', as the callers name them)
//   opencode Chat Completions functions SERVER_TOOL (SERVER without '_')
//
//   node tests/exec/offered.cjs claude|codex|gemini|qwen|copilot|opencode LOG
'use strict';
const fs = require('node:fs');

const [host, logFile] = process.argv.slice(2);
const out = new Set();
const norm = (s) => s.replace(/_/g, '-');
const add = (server, tool) => out.add(`${norm(server)} ${norm(tool)}`);

for (const line of fs.readFileSync(logFile, 'utf8').split('\n')) {
  if (!line) continue;
  const body = JSON.parse(line).body;
  if (!body || typeof body !== 'object') continue;
  if (host === 'claude' || host === 'qwen') {
    for (const m of JSON.stringify(body).matchAll(/mcp__([A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*?)__([A-Za-z0-9_-]+)/g)) add(m[1], m[2]);
  } else if (host === 'codex') {
    for (const t of body.tools || []) {
      if (t.type !== 'namespace' || typeof t.name !== 'string' || !t.name.startsWith('mcp__')) continue;
      for (const f of t.tools || []) add(t.name.slice(5).replace(/__$/, ''), f.name);
    }
  } else if (host === 'gemini') {
    for (const t of body.tools || []) {
      for (const f of t.functionDeclarations || []) {
        const m = /^mcp_([^_]+)_(.+)$/.exec(f.name || '');
        if (m) add(m[1], m[2]);
      }
    }
  } else if (host === 'opencode') {
    for (const t of body.tools || []) {
      const m = /^([A-Za-z0-9-]+)_(.+)$/.exec((t.function && t.function.name) || '');
      if (m) add(m[1], m[2]);
    }
  } else if (host === 'copilot') {
    for (const t of body.tools || []) {
      const m = /^([A-Za-z0-9]+)-(.+)$/.exec(t.name || '');
      if (m) add(m[1], m[2]);
    }
  } else {
    process.stderr.write(`offered.cjs: unknown host '${host}'\n`);
    process.exit(2);
  }
}
process.stdout.write([...out].sort().map((l) => l + '\n').join(''));
