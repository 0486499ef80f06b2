// SPDX-License-Identifier: MIT
// A stdio MCP server that records how it was started: appends one JSON line
// {"argv": [...], "env": {...}} to the file named by its first argument
// (argv from the second on, and the REC_* variables of its environment),
// then answers initialize and tools/list like any server, so that a host
// shows it connected. For tests/hosts/literal.sh.
'use strict';
const fs = require('node:fs');
const readline = require('node:readline');

const [out, ...args] = process.argv.slice(2);
const env = {};
for (const [k, v] of Object.entries(process.env)) if (k.startsWith('REC_')) env[k] = v;
fs.appendFileSync(out, JSON.stringify({ argv: args, env }) + '\n');

const send = (m) => process.stdout.write(JSON.stringify(m) + '\n');
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  if (m.id === undefined) return;
  if (m.method === 'initialize') {
    send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: (m.params && m.params.protocolVersion) || '2025-06-18',
      capabilities: { tools: {} }, serverInfo: { name: 'recorder', version: '1' } } });
  } else if (m.method === 'tools/list') {
    send({ jsonrpc: '2.0', id: m.id, result: { tools: [{ name: 'noop', description: 'does nothing', inputSchema: { type: 'object', properties: {} } }] } });
  } else {
    send({ jsonrpc: '2.0', id: m.id, result: {} });
  }
});
