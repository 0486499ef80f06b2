// SPDX-License-Identifier: MIT
// An independent MCP client, the official TypeScript SDK, spawning a server command
// ("mcpfleet exec NAME") over stdio, as a host would. Prints one JSON object.
//
//   node sdk-client.mjs [--call TOOL ARGS_JSON]... [--expect-fail TOOL]... \
//        [--repeat TOOL ARGS_JSON N] [--hold] -- COMMAND [ARG]...
//
// --call: a call that must succeed (its first text content is reported);
// --expect-fail: a call whose JSON-RPC error is reported (code and message);
// --repeat: N calls of TOOL, reporting how many succeeded before the first error and
// that error; --hold: after the calls, print {"ready":true} and stay connected until
// the server side ends the session, then print {"closed_at": ...} (Unix milliseconds).
// The SDK path comes from MCP_SDK (its package directory).
import path from "node:path";
import { pathToFileURL } from "node:url";

const sdk = process.env.MCP_SDK;
if (!sdk) {
    console.error("sdk-client: set MCP_SDK to @modelcontextprotocol/sdk's directory");
    process.exit(2);
}
const imp = (p) => import(pathToFileURL(path.join(sdk, "dist/esm", p)).href);
const { Client } = await imp("client/index.js");
const { StdioClientTransport } = await imp("client/stdio.js");

const argv = process.argv.slice(2);
const calls = [], fails = [];
let repeat = null, hold = false;
while (argv.length && argv[0] !== "--") {
    const a = argv.shift();
    if (a === "--call") calls.push([argv.shift(), JSON.parse(argv.shift())]);
    else if (a === "--expect-fail") fails.push(argv.shift());
    else if (a === "--repeat") repeat = [argv.shift(), JSON.parse(argv.shift()), +argv.shift()];
    else if (a === "--hold") hold = true;
    else { console.error("sdk-client: unknown option " + a); process.exit(2); }
}
argv.shift();
const [command, ...args] = argv;
const out = { calls: {}, fails: {} };
const t = new StdioClientTransport({ command, args, env: process.env, stderr: "inherit" });
const client = new Client({ name: "mcpfleet-sdk-test", version: "1.0.0" });
let closed = null;
client.onclose = () => { closed = Date.now(); };
const timer = setTimeout(() => { console.log(JSON.stringify({ ...out, error: "timeout" })); process.exit(1); }, 60000);
try {
    await client.connect(t);
    out.server = client.getServerVersion();
    out.tools = (await client.listTools()).tools.map((x) => x.name);
    const text = (r) => (r.content && r.content[0] && r.content[0].text) || JSON.stringify(r);
    for (const [tool, a] of calls) out.calls[tool] = text(await client.callTool({ name: tool, arguments: a }));
    for (const tool of fails) {
        try {
            await client.callTool({ name: tool, arguments: {} });
            out.fails[tool] = { code: null };
        } catch (e) {
            out.fails[tool] = { code: e.code, message: e.message };
        }
    }
    if (repeat) {
        let ok = 0, err = null;
        for (let i = 0; i < repeat[2] && !err; i++) {
            try { await client.callTool({ name: repeat[0], arguments: repeat[1] }); ok++; }
            catch (e) { err = { code: e.code, message: e.message }; }
        }
        out.repeat = { ok, error: err };
    }
    if (hold) {
        console.log(JSON.stringify({ ...out, ready: true }));
        while (closed === null) await new Promise((r) => setTimeout(r, 5));
        console.log(JSON.stringify({ closed_at: closed }));
        clearTimeout(timer);
        process.exit(0);
    }
    await client.close();
    clearTimeout(timer);
    console.log(JSON.stringify(out));
} catch (e) {
    clearTimeout(timer);
    console.log(JSON.stringify({ ...out, error: String(e && e.message || e), code: e && e.code }));
    process.exit(1);
}
