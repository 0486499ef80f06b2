// Preload for server-everything's streamableHttp mode (node --require ./loopback.cjs).
// The server calls app.listen(PORT) with no host, i.e. every interface. This forces
// 127.0.0.1 and, when MCP_PORT_FILE is set, writes the port actually bound there
// (so PORT=0 picks a free port without a race).
'use strict';
const net = require('net');
const fs = require('fs');
const orig = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const port = Number(args[0]);
    const cb = args.find((a) => typeof a === 'function');
    args = [port, '127.0.0.1'];
    if (cb) args.push(cb);
  } else if (args[0] && typeof args[0] === 'object' && !args[0].path) {
    args[0] = Object.assign({}, args[0], { host: '127.0.0.1' });
  }
  this.once('listening', () => {
    const a = this.address();
    if (process.env.MCP_PORT_FILE && a && typeof a === 'object') {
      const tmp = process.env.MCP_PORT_FILE + '.tmp';
      fs.writeFileSync(tmp, String(a.port) + '\n');
      fs.renameSync(tmp, process.env.MCP_PORT_FILE);
    }
  });
  return orig.apply(this, args);
};
