// SPDX-License-Identifier: MIT
// A remote MCP server (streamable HTTP, JSON answers) on 127.0.0.1 that
// records what a host sends it: appends one JSON line {"headers": {...}}
// with the X-Rec-* request headers (names in lower case) of every POST to
// the file named by its second argument, and answers initialize and
// tools/list like any server, so that a host shows it connected. Writes the
// port it bound to the file named by its first argument. For
// tests/hosts/literal.sh.
//   node recorder-http.cjs PORT_FILE OUT_FILE
'use strict';
const fs = require('node:fs');
const http = require('node:http');

const [portFile, out] = process.argv.slice(2);

function answer(m) {
  if (m.method === 'initialize')
    return { jsonrpc: '2.0', id: m.id, result: { protocolVersion: (m.params && m.params.protocolVersion) || '2025-06-18',
      capabilities: { tools: {} }, serverInfo: { name: 'recorder-http', version: '1' } } };
  if (m.method === 'tools/list')
    return { jsonrpc: '2.0', id: m.id, result: { tools: [{ name: 'noop', description: 'does nothing',
      inputSchema: { type: 'object', properties: {} } }] } };
  return { jsonrpc: '2.0', id: m.id, result: {} };
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST' }).end();
    return;
  }
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-rec-')) headers[k] = v;
  fs.appendFileSync(out, JSON.stringify({ headers }) + '\n');
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { body += c; if (body.length > 1 << 20) req.destroy(); });
  req.on('end', () => {
    let m;
    try { m = JSON.parse(body); } catch { res.writeHead(400).end(); return; }
    const msgs = Array.isArray(m) ? m : [m];
    const replies = msgs.filter((x) => x && x.id !== undefined).map(answer);
    if (replies.length === 0) { res.writeHead(202).end(); return; }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': 'rec' });
    res.end(JSON.stringify(Array.isArray(m) ? replies : replies[0]));
  });
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port) + '\n');
  fs.renameSync(portFile + '.tmp', portFile);
});
