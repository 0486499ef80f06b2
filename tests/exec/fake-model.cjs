// SPDX-License-Identifier: MIT
// A fake model API on 127.0.0.1 for the host CLIs: it records every request
// (one JSON line each: method, url, body) and ends each turn with the text
// "ok", in the streaming shape of the API asked for: Anthropic Messages
// (claude -p), OpenAI Responses (codex exec, copilot -p), Gemini
// generateContent (gemini -p), OpenAI Chat Completions (qwen -p); Anthropic's
// count_tokens gets a count. Anything else gets an empty JSON object.
//
//   node tests/exec/fake-model.cjs PORTFILE LOG
//
// Writes the port it listens on (picked by the kernel) to PORTFILE.
'use strict';
const http = require('node:http');
const fs = require('node:fs');

const [portFile, logFile] = process.argv.slice(2);
if (!portFile || !logFile) {
  process.stderr.write('usage: fake-model.cjs PORTFILE LOG\n');
  process.exit(2);
}

const sse = (res, events) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [name, data] of events) res.write((name ? `event: ${name}\n` : '') + `data: ${JSON.stringify(data)}\n\n`);
  res.end();
};

function anthropic(res, body) {
  const msg = { id: 'msg_fake', type: 'message', role: 'assistant', model: body.model || 'fake', content: [],
    stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...msg, content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn' }));
    return;
  }
  sse(res, [
    ['message_start', { type: 'message_start', message: msg }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1 } }],
    ['message_stop', { type: 'message_stop' }],
  ]);
}

function responses(res) {
  const item = { type: 'message', id: 'msg_fake', role: 'assistant', status: 'completed',
    content: [{ type: 'output_text', text: 'ok', annotations: [] }] };
  sse(res, [
    ['response.created', { type: 'response.created', response: { id: 'resp_fake', status: 'in_progress' } }],
    ['response.output_item.done', { type: 'response.output_item.done', output_index: 0, item }],
    ['response.completed', { type: 'response.completed', response: { id: 'resp_fake', status: 'completed', output: [item],
      usage: { input_tokens: 1, input_tokens_details: { cached_tokens: 0 }, output_tokens: 1,
        output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 2 } } }],
  ]);
}

function chat(res, body) {
  const base = { id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model: body.model || 'fake' };
  const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
  if (!body.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...base, usage,
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }));
    return;
  }
  const chunk = (delta, finish) => ({ ...base, object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finish }] });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(`data: ${JSON.stringify(chunk({ role: 'assistant', content: 'ok' }, null))}\n\n`);
  res.write(`data: ${JSON.stringify({ ...chunk({}, 'stop'), usage })}\n\n`);
  res.end('data: [DONE]\n\n');
}

// A value that satisfies a (Gemini or JSON) schema, for the hosts' own
// structured calls (gemini's model router, say).
function sample(schema) {
  if (!schema || typeof schema !== 'object') return 'ok';
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  switch (String(schema.type || '').toLowerCase()) {
    case 'object': {
      const o = {};
      for (const [k, v] of Object.entries(schema.properties || {})) o[k] = sample(v);
      return o;
    }
    case 'array': return [];
    case 'integer': case 'number': return 1;
    case 'boolean': return false;
    default: return 'ok';
  }
}

function gemini(res, url, body) {
  const cfg = (body && body.generationConfig) || {};
  const schema = cfg.responseJsonSchema || cfg.responseSchema;
  const text = schema ? JSON.stringify(sample(schema)) : 'ok';
  const chunk = { candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 } };
  if (url.includes(':streamGenerateContent')) return sse(res, [[null, chunk]]);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(url.includes(':countTokens') ? { totalTokens: 1 } : chunk));
}

const srv = http.createServer((req, res) => {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    const text = Buffer.concat(parts).toString('utf8');
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = null; }
    fs.appendFileSync(logFile, JSON.stringify({ method: req.method, url: req.url, body }) + '\n');
    const path = req.url.split('?')[0];
    if (req.method === 'POST' && path.endsWith('/v1/messages')) return anthropic(res, body || {});
    if (req.method === 'POST' && path.endsWith('/v1/messages/count_tokens')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ input_tokens: 1 }));
    }
    if (req.method === 'POST' && path.endsWith('/responses')) return responses(res);
    if (req.method === 'POST' && path.endsWith('/chat/completions')) return chat(res, body || {});
    if (req.method === 'POST' && /\/models\/[^/]+:(streamGenerateContent|generateContent|countTokens)$/.test(path)) return gemini(res, path, body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
srv.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(srv.address().port)));
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => srv.close(() => process.exit(0)));
