// SPDX-License-Identifier: MIT
// A reverse proxy on loopback that lets a request through to the upstream MCP server
// only when it carries the expected Authorization header, and counts what it saw:
// the launcher must add the fleet's header to every request, streams included.
//
//   UPSTREAM=http://127.0.0.1:PORT EXPECT='Bearer x' PORT_FILE=f node header-proxy.cjs
//
// GET /_stats answers {"ok": N, "refused": M, "methods": {...}} without the header.
'use strict';
const http = require('http');
const fs = require('fs');

const upstream = new URL(process.env.UPSTREAM);
const expect = process.env.EXPECT;
const stats = { ok: 0, refused: 0, methods: {} };

const server = http.createServer((req, res) => {
    if (req.url === '/_stats') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(stats));
        return;
    }
    if (req.headers.authorization !== expect) {
        stats.refused++;
        res.writeHead(401, { 'content-type': 'text/plain' });
        res.end('missing or wrong Authorization header\n');
        return;
    }
    stats.ok++;
    stats.methods[req.method] = (stats.methods[req.method] || 0) + 1;
    const headers = { ...req.headers, host: upstream.host };
    delete headers.authorization;
    const up = http.request({
        host: upstream.hostname, port: upstream.port, method: req.method,
        path: req.url, headers,
    }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        res.flushHeaders();
        ur.pipe(res);
    });
    up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(up);
});
server.listen(0, '127.0.0.1', () => {
    const tmp = process.env.PORT_FILE + '.tmp';
    fs.writeFileSync(tmp, String(server.address().port) + '\n');
    fs.renameSync(tmp, process.env.PORT_FILE);
});
