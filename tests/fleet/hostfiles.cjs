// What a sandbox HOME's host files hold, for tests/fleet/e2e.sh.
//   node hostfiles.cjs names HOME            one line per host: "HOST name,name,..." (sorted;
//                                            "HOST !reason" when the file does not parse)
//   node hostfiles.cjs entry HOME HOST NAME  the entry as JSON (codex: its TOML table as text)
// JSONC is read by dropping whole-line // comments (all the fixtures have); the codex
// file by its [mcp_servers.NAME] table headers.
'use strict';
const fs = require('fs');
const path = require('path');

const FILES = {
  'claude-code': '.claude.json',
  'claude-desktop': '.config/Claude/claude_desktop_config.json',
  codex: '.codex/config.toml',
  droid: '.factory/mcp.json',
  cursor: '.cursor/mcp.json',
  opencode: '.config/opencode/opencode.json',
  gemini: '.gemini/settings.json',
};

function servers(home, host) {
  const text = fs.readFileSync(path.join(home, FILES[host]), 'utf8');
  if (host === 'codex') {
    const tables = {};
    let cur = null;
    for (const line of text.split('\n')) {
      const h = /^\[mcp_servers\.([A-Za-z0-9_-]+)\]\s*(#.*)?$/.exec(line);
      if (h) { cur = h[1]; tables[cur] = ''; continue; }
      if (/^\s*\[/.test(line) && !(cur && line.startsWith('[mcp_servers.' + cur + '.'))) cur = null;
      if (cur) tables[cur] += line + '\n';
    }
    return tables;
  }
  const doc = JSON.parse(text.split('\n').filter((l) => !/^\s*\/\//.test(l)).join('\n'));
  return (host === 'opencode' ? doc.mcp : doc.mcpServers) || {};
}

const [mode, home, host, name] = process.argv.slice(2);
if (mode === 'names') {
  for (const h of Object.keys(FILES)) {
    let line;
    try {
      line = Object.keys(servers(home, h)).sort().join(',');
    } catch (e) {
      line = '!' + String(e.message).split('\n')[0];
    }
    console.log(h + ' ' + line);
  }
} else if (mode === 'entry') {
  const s = servers(home, host);
  if (!(name in s)) process.exit(1);
  console.log(typeof s[name] === 'string' ? s[name] : JSON.stringify(s[name]));
} else {
  console.error('usage: hostfiles.cjs names HOME | entry HOME HOST NAME');
  process.exit(2);
}
