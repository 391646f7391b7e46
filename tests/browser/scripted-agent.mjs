// A scripted voice server for the one browser test parley-host cannot serve yet: barge-in
// needs an agent that speaks (binary audio) and then sends `clear`, and the host speaks only
// once the speech engines (issue 5) are in. It serves the built SDK and a bare test page on
// 127.0.0.1:0 and answers /v1/voice with the DESIGN §3 protocol: onready for the initiate,
// then, for the typed message "speak", start_answering, `seconds` of a 440 Hz tone (PCM16
// 16 kHz, in 20 ms frames sent at twice real time) and, after `clearAfterMs`, `clear`.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { requirePackage } from '../wasm/sdk-harness.mjs';

const TYPES = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

export const PAGE = `<!doctype html><meta charset="utf-8"><title>barge-in</title>
<script type="module" src="/page.js"></script>`;

// The page: an SDK client, an AnalyserNode on the worklet's output, and a log of when the
// output was loud / silent and when `clear` arrived (the page's own clock).
export const PAGE_JS = `
import Parley from '/sdk/parley.mjs';
const log = window.bargeLog = { clearAt: null, samples: [] };
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(url) {
    super(url);
    this.addEventListener('message', (e) => {
      if (typeof e.data === 'string' && JSON.parse(e.data).method === 'clear') log.clearAt = performance.now();
    });
  }
};
window.startCall = async () => {
  const client = Parley.createClient({ publicKey: 'k', endPoint: 'ws://' + location.host + '/v1/voice' });
  window.client = client;
  const ready = new Promise((resolve) => client.on('onready', resolve));
  await client.start('agent');
  await ready;
  const audio = client._audio;
  const analyser = audio.context.createAnalyser();
  analyser.fftSize = 256;
  audio.node.connect(analyser);
  const buf = new Float32Array(analyser.fftSize);
  setInterval(() => {
    analyser.getFloatTimeDomainData(buf);
    let peak = 0;
    for (const v of buf) peak = Math.max(peak, Math.abs(v));
    log.samples.push([performance.now(), peak]);
  }, 2);
  await client.sendText('speak');
};
window.pageReady = true;
`;

export async function startScriptedAgent(sdkDir, { seconds = 3, clearAfterMs = 1200 } = {}) {
  const { WebSocketServer } = requirePackage('ws');
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://x');
    let body = null;
    let type = 'text/html';
    if (url.pathname === '/') body = PAGE;
    else if (url.pathname === '/page.js') { body = PAGE_JS; type = 'text/javascript'; }
    else if (url.pathname.startsWith('/sdk/')) {
      const file = path.join(sdkDir, path.basename(url.pathname));
      if (fs.existsSync(file)) {
        body = fs.readFileSync(file);
        type = TYPES[path.extname(file)] || 'application/octet-stream';
      }
    }
    if (body === null) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, {
      'Content-Type': type,
      'Content-Security-Policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' ws://" + request.headers.host,
    });
    response.end(body);
  });
  const wss = new WebSocketServer({ server, path: '/v1/voice' });
  const stats = { framesIn: 0, clearsSent: 0 };
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ++stats.framesIn;
        return;
      }
      const m = JSON.parse(String(data));
      if (m.method === 'initiate') ws.send(JSON.stringify({ method: 'onready', payload: { session_id: 'scripted-1' } }));
      if (m.method === 'text' && m.data === 'speak') speak(ws);
    });
  });
  function speak(ws) {
    ws.send(JSON.stringify({ method: 'start_answering' }));
    const frames = Math.round(seconds * 50);
    let sent = 0;
    let phase = 0;
    const timer = setInterval(() => {
      for (let k = 0; k < 2 && sent < frames; ++k, ++sent) {
        const frame = Buffer.alloc(640);
        for (let i = 0; i < 320; ++i) frame.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * 440 * phase++) / 16000)), 2 * i);
        if (ws.readyState === 1) ws.send(frame);
      }
      if (sent >= frames) clearInterval(timer);
    }, 20);
    setTimeout(() => {
      clearInterval(timer);
      if (ws.readyState === 1) ws.send(JSON.stringify({ method: 'clear' }));
      ++stats.clearsSent;
    }, clearAfterMs);
  }
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    stats,
    close: () => new Promise((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(resolve); }),
  };
}
