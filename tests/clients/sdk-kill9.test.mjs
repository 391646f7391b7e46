// kill -9 of the host holding a live call, with our browser SDK in headless Chromium (issue 17,
// DESIGN §12): three parley-host processes on one PostgreSQL 15 behind HAProxy, as an operator
// runs them; the page knows only HAProxy's address. The SDK (createClient(...).start(...))
// holds a voice call and types a few turns; the test finds the host holding the call by its
// lease (call_leases names the host's pid) and kills it with SIGKILL. Checked:
//   the SDK reconnects by itself (onreconnecting, then onready: the same session, "resumed")
//   through HAProxy to a surviving host, which now holds the lease;
//   the conversation goes on: a turn after the reconnect is answered, with no greeting again;
//   every line the page saw acknowledged before the kill (the greeting, each typed line whose
//   reply came, each reply) is in the session's lines read back over REST, in order, once;
//   the call's end-of-call report reaches a counting receiver exactly once, after stop().
// Then the official Millis web SDK (@millisai/web-sdk, unchanged) through the same HAProxy on
// the two hosts left: it has no reconnect of its own. Checked: its host killed, it raises
// onclose and opens no socket again; the page's own start() with session_continuation of
// that session goes on with the same session (the server's reconnect grace), and its report
// too is delivered once.
//
//   bench/scale/with_postgres.sh node tests/clients/sdk-kill9.test.mjs \
//     [--sdk build/wasm/sdk] [--host build/release/host/parley-host]
//
// with_postgres.sh gives the PostgreSQL (PARLEY_PG_URI); the hosts, HAProxy, the receiver, the
// page server and Chromium are the test's own, on loopback ports, stopped however it ends.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  check, checkEqual, fail, log, requirePackage, runSdkTest, sleep, sourceDir, startHost, tempDir,
  waitFor, writeHostConfig,
} from '../wasm/sdk-harness.mjs';

const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const KEY = 'demo-public-key';
const AGENT = 'demo';
const HOSTS = 3;
// The demo agent's words (host/demo/config.json) for a user called Ada on the free plan.
const GREETING = 'Hi Ada! I am the Parley demo agent. Ask me about your name, your plan or the weather.';
const TURNS_BEFORE = [['hello', 'Hello Ada! How can I help you today?'],
                      ['what is my plan', 'You are on the free plan.']];
const TURN_AFTER = ['what is my name', 'Your name is Ada, as far as I know.'];

// Every process the test starts and that still runs is killed when the test exits, however
// it ends (the overall deadline exits at once, without the cleanup steps). Each is
// {pid, running()}: a process that ended is never signalled (its pid may be another's now).
const children = new Set();
let testDir = null;
process.on('exit', () => {
  for (const c of children) if (c.running()) try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  if (testDir) fs.rmSync(testDir, { recursive: true, force: true });
});

function freePort() {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The receiver of end-of-call reports: counts every POST to /ended and keeps its body.
function startReceiver() {
  const reports = [];
  const server = http.createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      if (request.method === 'POST' && request.url === '/ended') reports.push({ at: Date.now(), body });
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end('{}');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/ended`,
    reports,
    close: () => new Promise((r) => server.close(r)),
  })));
}

// HAProxy in front of the hosts, the config the README shows (a health check every 300 ms;
// a connection refused by a dead host is dispatched to another).
async function startHaproxy(dir, hostUrls) {
  const port = await freePort();
  const servers = hostUrls.map((u, i) => `  server h${i + 1} ${new URL(u).host} check inter 300ms fall 2 rise 1`);
  const cfg = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(cfg, ['global', '  maxconn 4000', 'defaults', '  mode http', '  timeout connect 1s',
    '  timeout client 60s', '  timeout server 60s', '  timeout tunnel 1h', '  retries 3',
    '  option redispatch 1', '  option forwardfor', 'frontend parley', `  bind 127.0.0.1:${port}`,
    '  default_backend hosts', 'backend hosts', '  balance roundrobin', '  option httpchk GET /healthz',
    '  http-check expect status 200', ...servers, ''].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add({ pid: child.pid, running: () => child.exitCode === null && child.signalCode === null });
  let output = '';
  child.stderr.on('data', (c) => { output += c; });
  const url = `http://127.0.0.1:${port}/`;
  await waitFor(async () => {
    if (child.exitCode !== null) fail(`haproxy exited: ${output}`);
    try {
      return (await fetch(`${url}healthz`)).status === 200 || undefined;
    } catch {
      return undefined;
    }
  }, 10000, 'haproxy answering /healthz');
  // Every server checked up, so the rotation covers all of them from the first request.
  await sleep(700);
  return { url, stop: () => { child.kill('SIGKILL'); } };
}

// The page and the SDK's files, from an origin of their own (the demo agent allows
// http://127.0.0.1:*); the page's voice socket goes to HAProxy.
function startPageServer(sdkDir, millisBundle) {
  const types = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://x');
    if (url.pathname === '/') {
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      response.end(PAGE);
      return;
    }
    if (url.pathname === '/millis-sdk.js') {
      response.writeHead(200, { 'Content-Type': 'text/javascript' });
      response.end(millisBundle);
      return;
    }
    const name = url.pathname.replace(/^\/sdk\//, '');
    const file = path.join(sdkDir, name);
    if (!url.pathname.startsWith('/sdk/') || name.includes('/') || !fs.existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'Content-Type': types[path.extname(name)] || 'application/octet-stream' });
    response.end(fs.readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((r) => server.close(r)),
  })));
}

// The page: every event each client raised, with the page's clock, and every WebSocket the
// page opened (to tell a reconnect from none).
const PAGE = `<!doctype html><meta charset="utf-8"><title>kill -9 through HAProxy</title>
<script>
window.sockets = [];
const Native = WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) { super(...args); window.sockets.push({ url: String(args[0]), t: Date.now() }); }
};
</script>
<script type="module">
import Parley from '/sdk/parley.mjs';
import Millis from '/millis-sdk.js';
const EVENTS = ['onopen', 'onready', 'onclose', 'onerror', 'onresponsetext', 'ontranscript',
                'onreconnecting', 'onsessionended'];
function plain(v) {
  if (typeof CloseEvent !== 'undefined' && v instanceof CloseEvent) return { code: v.code, reason: v.reason };
  if (v instanceof Error) return { code: v.code, message: v.message };
  if (typeof Event !== 'undefined' && v instanceof Event) return { type: v.type };
  return v === undefined ? null : JSON.parse(JSON.stringify(v));
}
window.events = [];
window.clients = [];
window.startCall = (sdk, endPoint, payload) => {
  const client = (sdk === 'parley' ? Parley : Millis).createClient({ publicKey: ${JSON.stringify(KEY)}, endPoint });
  const index = window.clients.push(client) - 1;
  for (const name of EVENTS)
    client.on(name, (a, b) => window.events.push({ call: index, name, a: plain(a), b: plain(b), t: Date.now() }));
  client.start(payload).catch((e) => window.events.push({ call: index, name: 'start_failed', a: String(e), t: Date.now() }));
  return index;
};
window.say = async (index, text) => {
  const t = Date.now();
  const client = window.clients[index];
  if (client.sendText) await client.sendText(text);
  else client.send(JSON.stringify({ method: 'text', data: text }));
  return t;
};
window.loaded = true;
</script>`;

// A quiet microphone (white noise at about -50 dBFS, as a real one's floor): frames flow, and
// nothing in it is speech, so the only user lines are the typed ones.
function quietWav(dir) {
  const rate = 48000;
  const n = rate * 2;
  const b = Buffer.alloc(44 + 2 * n);
  b.write('RIFF', 0); b.writeUInt32LE(36 + 2 * n, 4); b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(2 * rate, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34);
  b.write('data', 36); b.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; ++i) b.writeInt16LE(Math.round((Math.random() * 2 - 1) * 100), 44 + 2 * i);
  const file = path.join(dir, 'quiet.wav');
  fs.writeFileSync(file, b);
  return file;
}

// The official Millis SDK's ESM build imports bare package names: one bundled module.
async function bundleMillis() {
  const esbuild = requirePackage('esbuild');
  const entry = path.join(sourceDir, 'node_modules', '@millisai', 'web-sdk', 'dist', 'index.mjs');
  check(fs.existsSync(entry), `${entry} missing: run "npm install" in ${sourceDir}`);
  const result = await esbuild.build({ entryPoints: [entry], bundle: true, format: 'esm',
                                       platform: 'browser', write: false, logLevel: 'silent' });
  return result.outputFiles[0].contents;
}

// The host holding a session's live call: its lease names the host's pid (host:PID:random).
function leaseHolder(uri, sessionId) {
  check(/^[0-9a-f-]{36}$/.test(sessionId), `not a session id: ${sessionId}`);
  return execFileSync('psql', [uri, '-Atc', `SELECT host_id FROM call_leases WHERE session_id = '${sessionId}'`],
                      { encoding: 'utf8', timeout: 5000 }).trim();
}

class Page {
  constructor(page) {
    this.page = page;
  }
  events(call) {
    return this.page.evaluate((i) => window.events.filter((e) => e.call === i), call);
  }
  // The first event `name` of `call` matching `where`, within `ms`.
  async waitEvent(call, name, ms, where = () => true, what = name) {
    const end = Date.now() + ms;
    for (;;) {
      const events = await this.events(call);
      const found = events.find((e) => e.name === name && where(e));
      if (found) return found;
      const failed = events.find((e) => e.name === 'start_failed');
      if (failed || Date.now() > end)
        fail(`call ${call}: no ${what} ${failed ? `(start failed: ${failed.a})` : `within ${ms} ms`}; ` +
             `events: ${JSON.stringify(events.map((e) => [e.name, e.a, e.b && e.b.is_final]))}`);
      await sleep(50);
    }
  }
  // A Millis SDK call, once the server's onready reached it: {call, ready: {a: payload, t}}.
  // The server's onready is what the SDK keeps as readyPayload; the SDK raises its own onready
  // only once its worklet sent a microphone frame too, which headless Chromium now and then
  // never does for a new AudioContext (tests/clients/millis-sdk.test.mjs). What is tested here
  // is the server and the SDK's socket, so the server's word is waited for.
  async startMillis(endPoint, payload) {
    const call = await this.page.evaluate(([e, p]) => window.startCall('millis', e, p), [endPoint, payload]);
    const ready = await waitFor(() => this.page.evaluate((i) => {
      const p = window.clients[i].readyPayload;
      return p ? { a: p, t: Date.now() } : undefined;
    }, call), 15000, 'the server\'s onready in the Millis SDK (its readyPayload)');
    return { call, ready };
  }

  // Types `text` and waits for the final reply raised after it: [sent at, the reply].
  async turn(call, text, reply) {
    const t = await this.page.evaluate(([i, s]) => window.say(i, s), [call, text]);
    const answer = await this.waitEvent(call, 'onresponsetext', 10000,
                                        (e) => e.t >= t && e.b && e.b.is_final === true,
                                        `final reply to "${text}"`);
    checkEqual(answer.a, reply, `the reply to "${text}"`);
    return answer;
  }
}

// The session's lines over the Memori REST API, through HAProxy (any host answers).
async function linesOf(proxyUrl, sessionId) {
  const r = await fetch(`${proxyUrl}memori/v2/SessionChatLogs/${sessionId}/${sessionId}`,
                        { headers: { 'X-Parley-Public-Key': KEY } });
  const body = await r.json();
  checkEqual(body.resultCode, 0, `SessionChatLogs of the call: ${JSON.stringify(body).slice(0, 300)}`);
  check(Array.isArray(body.chatLogs) && body.chatLogs.length === 1, `SessionChatLogs: one chat log expected, got ${JSON.stringify(body.chatLogs).slice(0, 300)}`);
  return body.chatLogs[0].lines.map((l) => [l.inbound ? 'user' : 'agent', l.text]);
}

// The reports the receiver got for `sessionId`.
function reportsOf(receiver, sessionId) {
  return receiver.reports.filter((r) => JSON.parse(r.body).session_id === sessionId);
}

// The end-of-call report of `sessionId`, once it came (a second one is looked for at the end).
async function reportOf(receiver, sessionId, what) {
  await waitFor(() => reportsOf(receiver, sessionId).length >= 1 || undefined, 15000, `${what}: its end-of-call report`);
  return JSON.parse(reportsOf(receiver, sessionId)[0].body);
}

runSdkTest('wasm.clients.sdk.kill9', 150000, async (args, cleanup) => {
  const uri = process.env.PARLEY_PG_URI;
  check(uri, 'PARLEY_PG_URI is not set: run this test under bench/scale/with_postgres.sh');
  check(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: run scripts/setup.sh`);
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
  } catch {
    fail('haproxy is not installed (scripts/setup.sh installs it)');
  }
  const t0 = Date.now();
  const dir = testDir = tempDir('parley-kill9-');
  cleanup(() => fs.rmSync(dir, { recursive: true, force: true }));
  const receiver = await startReceiver();
  cleanup(() => receiver.close());
  const config = writeHostConfig(dir, {
    sdkDir: args.sdk,
    agent: { session_data_webhook: { url: receiver.url } },
  });
  // The first host creates the schema; the others start together once it is there.
  const startOne = async () => {
    const host = await startHost({ host: args.host, config, db: uri });
    children.add(host);
    cleanup(() => host.stop());
    return host;
  };
  const hosts = [await startOne()];
  hosts.push(...await Promise.all(Array.from({ length: HOSTS - 1 }, startOne)));
  log(`${HOSTS} hosts up in ${Date.now() - t0} ms`);
  const proxy = await startHaproxy(dir, hosts.map((h) => h.url));
  cleanup(() => proxy.stop());
  const pages = await startPageServer(args.sdk, await bundleMillis());
  log(`HAProxy up, the Millis SDK bundled at ${Date.now() - t0} ms`);
  cleanup(() => pages.close());
  const { chromium } = requirePackage('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM, timeout: 20000,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
           `--use-file-for-fake-audio-capture=${quietWav(dir)}`, '--autoplay-policy=no-user-gesture-required'],
  });
  cleanup(() => browser.close());
  const context = await browser.newContext();
  await context.grantPermissions(['microphone']);
  const tab = await context.newPage();
  tab.setDefaultTimeout(10000);
  tab.on('pageerror', (e) => log(`page error: ${e.message}`));
  await tab.goto(pages.url);
  await tab.waitForFunction(() => window.loaded === true, null, { timeout: 10000 });
  const page = new Page(tab);
  const wsBase = proxy.url.replace(/^http/, 'ws');
  log(`Chromium up, the page loaded at ${Date.now() - t0} ms`);
  const alive = new Set(hosts);

  // Kills the host holding `sessionId`'s call; answers it (and when).
  const killHolder = async (sessionId) => {
    const holder = await waitFor(() => leaseHolder(uri, sessionId) || undefined, 5000, 'the call\'s lease');
    const host = hosts.find((h) => holder.includes(`:${h.pid}:`));
    check(host, `the lease names ${holder}, none of the hosts (pids ${hosts.map((h) => h.pid)})`);
    process.kill(host.pid, 'SIGKILL');
    alive.delete(host);
    log(`kill -9 of host ${hosts.indexOf(host) + 1} (pid ${host.pid}), which held the call`);
    return { host, at: Date.now() };
  };
  // The host taking a call writes its lease beside the call (not before onready): polled.
  const checkHeldBySurvivor = async (sessionId, dead) => {
    let holder = '';
    const now = await waitFor(() => {
      holder = leaseHolder(uri, sessionId);
      return [...alive].find((h) => holder.includes(`:${h.pid}:`));
    }, 5000, 'the lease to name a surviving host').catch(() => null);
    check(now, `after the reconnect the lease names ${holder}: not a surviving host (dead: pid ${dead.pid})`);
    return now;
  };

  // --- our SDK: a live call, killed mid-conversation, reconnects by itself -------------------
  const call = await page.page.evaluate(([e, p]) => window.startCall('parley', e, p),
    [`${wsBase}v1/voice`, { agent: { agent_id: AGENT }, metadata: { userName: 'Ada' } }]);
  const ready = await page.waitEvent(call, 'onready', 20000);
  const sessionId = ready.a.session_id;
  const greeting = await page.waitEvent(call, 'onresponsetext', 10000, (e) => e.b && e.b.is_final === true, 'greeting');
  checkEqual(greeting.a, GREETING, 'the greeting');
  // What the page saw acknowledged: a typed line is stored before its reply is said.
  const acknowledged = [['agent', GREETING]];
  for (const [text, reply] of TURNS_BEFORE) {
    await page.turn(call, text, reply);
    acknowledged.push(['user', text], ['agent', reply]);
  }
  const socketsBefore = await tab.evaluate(() => window.sockets.length);
  const killed = await killHolder(sessionId);
  const lost = await page.waitEvent(call, 'onreconnecting', 5000);
  log(`the SDK: onreconnecting ${JSON.stringify(lost.a)}`);
  const again = await page.waitEvent(call, 'onready', 15000, (e) => e.t > killed.at, 'onready after the kill');
  checkEqual(again.a.session_id, sessionId, 'onready after the reconnect: the same session');
  checkEqual(again.a.continuation, 'resumed', 'onready after the reconnect: continuation');
  const sockets = await tab.evaluate(() => window.sockets.length);
  log(`the SDK was ready again ${again.t - killed.at} ms after the kill, on its ${sockets - socketsBefore}` +
      ` new socket(s) through HAProxy`);
  const survivor = await checkHeldBySurvivor(sessionId, killed.host);
  log(`the call is now held by host ${hosts.indexOf(survivor) + 1} (pid ${survivor.pid})`);
  const answered = await page.turn(call, ...TURN_AFTER);
  // The same call going on: nothing said between the reconnect and the reply (no greeting,
  // no "welcome back").
  const said = (await page.events(call)).filter((e) => e.name === 'onresponsetext' && e.b && e.b.is_final &&
                                                       e.t > killed.at && e.t < answered.t);
  check(said.length === 0, `said after the reconnect before the reply: ${JSON.stringify(said.map((e) => e.a))}`);
  checkEqual(receiver.reports.length, 0, 'end-of-call reports before the call ended');
  await tab.evaluate((i) => window.clients[i].stop(), call);
  await page.waitEvent(call, 'onclose', 5000);

  const lines = await linesOf(proxy.url, sessionId);
  const expected = [...acknowledged, ['user', TURN_AFTER[0]], ['agent', TURN_AFTER[1]]];
  checkEqual(JSON.stringify(lines), JSON.stringify(expected), 'the session\'s lines over REST after the kill');
  const report = await reportOf(receiver, sessionId, 'the SDK\'s call');
  checkEqual(report.call_status, 'user-ended', 'the report\'s call_status');
  const chat = JSON.parse(report.chat).map((m) => m.content);
  checkEqual(JSON.stringify(chat), JSON.stringify(expected.map(([, text]) => text)), 'the report\'s chat');
  log(`our SDK: ${lines.length} lines in order over REST, one report (${Date.now() - t0} ms so far)`);

  // --- the official Millis SDK: no reconnect of its own; the page starts the call again -------
  const millisPayload = { agent: { agent_id: AGENT }, metadata: { userName: 'Ada' } };
  const { call: millis, ready: mReady } = await page.startMillis(`${wsBase}millis`, millisPayload);
  const mSession = mReady.a.session_id;
  await page.waitEvent(millis, 'onresponsetext', 10000, (e) => e.b && e.b.is_final === true, 'greeting');
  await page.turn(millis, ...TURNS_BEFORE[0]);
  const mSockets = await tab.evaluate(() => window.sockets.length);
  const mKilled = await killHolder(mSession);
  const closed = await page.waitEvent(millis, 'onclose', 5000);
  await sleep(2000);  // longer than our SDK's first reconnect delay (250 ms, +-20 %)
  log(`the Millis SDK: onclose ${JSON.stringify(closed.a)}, then nothing for 2 s`);
  checkEqual(await tab.evaluate(() => window.sockets.length), mSockets, 'sockets the Millis SDK opened by itself after the kill');
  check(!(await page.events(millis)).some((e) => e.name === 'onready' && e.t > mKilled.at), 'the Millis SDK got onready after the kill');
  // What a Millis page does instead: a new client, start() continuing the session.
  const restartedAt = Date.now();
  const { call: restart, ready: mAgain } = await page.startMillis(`${wsBase}millis`,
    { ...millisPayload, session_continuation: { session_id: mSession } });
  checkEqual(mAgain.a.session_id, mSession, 'the Millis page\'s own restart: the same session');
  checkEqual(mAgain.a.continuation, 'resumed', 'the Millis page\'s own restart: continuation');
  log(`the Millis page's own restart had the server's onready in ${mAgain.t - restartedAt} ms`);
  await checkHeldBySurvivor(mSession, mKilled.host);
  await page.turn(restart, ...TURN_AFTER);
  await tab.evaluate((i) => window.clients[i].stop(), restart);
  await page.waitEvent(restart, 'onclose', 5000);
  const mLines = await linesOf(proxy.url, mSession);
  const mExpected = [['agent', GREETING], ['user', TURNS_BEFORE[0][0]], ['agent', TURNS_BEFORE[0][1]],
                     ['user', TURN_AFTER[0]], ['agent', TURN_AFTER[1]]];
  checkEqual(JSON.stringify(mLines), JSON.stringify(mExpected), 'the Millis call\'s lines over REST after the kill');
  await reportOf(receiver, mSession, 'the Millis SDK\'s call');
  // A second report of either call would have come by now: the shared outbox is polled every
  // second, and the first call's report came some 10 s ago.
  await sleep(3000);
  checkEqual(reportsOf(receiver, sessionId).length, 1, 'end-of-call reports of our SDK\'s call');
  checkEqual(reportsOf(receiver, mSession).length, 1, 'end-of-call reports of the Millis SDK\'s call');
  const sessions = new Set(receiver.reports.map((r) => JSON.parse(r.body).session_id));
  checkEqual(receiver.reports.length, sessions.size, 'end-of-call reports in all (one per session)');
  log(`done in ${Date.now() - t0} ms`);
});
