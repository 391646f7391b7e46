// The widget end to end in headless Chromium (Debian's chromium, driven by playwright-core)
// against a real parley-host on loopback, with a fake microphone playing espeak-ng speech
// made at test time. A host page on another origin embeds the widget with the loader
// (/embed.js, data attributes) under a strict CSP of its own; the widget runs under the
// host's CSP. Checked:
//   metadata from the embed URL reaches the agent (welcome and replies use {userName});
//   window.Parley.getState().sessionID on the host page; text chat; keyboard operation and
//   screen-reader announcements; reload -> history repopulated, the agent's last message
//   shown once; a short resume window -> the welcome message after expiry, earlier lines
//   marked; a voice call (onready, the session id, frames at the host); mute (silence on the
//   wire); a voice round trip (the fake microphone asks, the host's recognizer hears it, the
//   reply is spoken); a dropped socket that reconnects and continues, then a server that
//   stays away; barge-in against the real host (the user talks over the agent's long answer:
//   `clear`, the queue emptied, no more agent audio for that line) and, to the quantum,
//   against a scripted agent (playback silent after `clear`); the errors microphone denied, no microphone, bad key,
//   unknown agent, offline; an origin the agent does not allow cannot frame the widget; no
//   CSP violation anywhere. Screenshots of the widget's states go to build/browser-screenshots/.
//
//   node tests/browser/widget.test.mjs [--sdk build/wasm/sdk] [--host build/release/host/parley-host] [--only NAME]
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  check, checkEqual, fail, hostFor, log, metric, requirePackage, runSdkTest, sleep, sourceDir,
  speechWav, startProxy, tempDir, waitFor, writeHostConfig,
} from '../wasm/sdk-harness.mjs';
import { startScriptedAgent } from './scripted-agent.mjs';

const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(sourceDir, 'build', 'browser-screenshots');
const KEY = 'demo-public-key';
const BASE_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
                   '--disable-sync', '--autoplay-policy=no-user-gesture-required'];

// A host page on its own origin: the loader snippet with the data attributes given in the
// query (?src=LOADER&agent-id=..&public-key=..&user-name=..), under a strict CSP.
function startHostPages() {
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, 'http://x');
    const src = url.searchParams.get('src');
    if (url.pathname === '/frame.html' && src) {
      // A site that writes the iframe by hand, its src exactly as given (braces and all).
      response.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': `default-src 'self'; frame-src ${new URL(src).origin}`,
      });
      response.end(`<!doctype html><meta charset="utf-8"><title>hand-written iframe</title>
<iframe class="parley-widget" allow="microphone" src="${src.replace(/["<>&]/g, (c) => `&#${c.charCodeAt(0)};`)}"></iframe>`);
      return;
    }
    if (url.pathname !== '/host.html' || !src) {
      response.writeHead(404).end();
      return;
    }
    const widgetOrigin = new URL(src).origin;
    const attrs = [...url.searchParams].filter(([k]) => k !== 'src')
      .map(([k, v]) => ` data-${k}="${v.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`)}"`).join('');
    response.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': `default-src 'self'; script-src ${widgetOrigin}; frame-src ${widgetOrigin}; style-src 'self'`,
    });
    response.end(`<!doctype html><meta charset="utf-8"><title>host page</title>
<h1>A shop</h1><script src="${src}"${attrs}></script>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    origin: `http://127.0.0.1:${server.address().port}`,
    port: server.address().port,
    close: () => new Promise((r) => server.close(r)),
  })));
}

// Runs in every frame: records CSP violations, and in the widget the audio frames it sends
// (whether each is silence) through a wrapped WebSocket.send.
const INIT_SCRIPT = `
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
if (location.pathname === '/embed' || location.pathname === '/') {
  window.__frames = [];
  // What arrives: [time, method of a text frame | byte length of a binary one].
  window.__received = [];
  const onmessage = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
  Object.defineProperty(WebSocket.prototype, 'onmessage', {
    get() { return onmessage.get.call(this); },
    set(fn) {
      onmessage.set.call(this, (event) => {
        let what = typeof event.data === 'string' ? '?' : event.data.byteLength;
        if (typeof event.data === 'string') try { what = JSON.parse(event.data).method; } catch {}
        window.__received.push([performance.now(), what]);
        return fn.call(this, event);
      });
    },
  });
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (typeof data !== 'string') {
      const b = new Uint8Array(data.buffer || data, data.byteOffset || 0, data.byteLength);
      let nonzero = false;
      for (let i = 0; i < b.length; ++i) if (b[i]) { nonzero = true; break; }
      window.__frames.push([performance.now(), nonzero]);
    }
    return send.call(this, data);
  };
}`;

// The fake microphone: `lead` s of quiet room noise, the speech, `tail` s of noise. Chromium
// loops the file from the start of capture, so the user speaks `lead` s into each call: late
// enough that the agent's opening line is playing by then (the barge-in test), and the noise
// (about -50 dBFS) keeps every frame non-zero, as a real microphone's are.
// The words are the demo agent's (its "name" rule) in espeak-ng's en-us voice, which the
// recognizer's en-us model hears best.
function paddedSpeechWav(dir, text, lead, tail) {
  const speech = speechWav(dir, text, 48000, 'en-us');
  const padded = path.join(dir, 'speech-padded.wav');
  const noise = path.join(dir, 'room-noise.wav');
  const out = path.join(dir, 'microphone.wav');
  execFileSync('sox', [speech, padded, 'pad', String(lead), String(tail)]);
  const seconds = execFileSync('soxi', ['-D', padded]).toString().trim();
  execFileSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', noise, 'synth', seconds, 'whitenoise', 'vol', '0.005']);
  execFileSync('sox', ['-m', padded, noise, out]);
  return out;
}

async function widgetOf(page) {
  const handle = await page.waitForSelector('iframe.parley-widget', { timeout: 10000 });
  const frame = await handle.contentFrame();
  await frame.waitForSelector('#widget[data-ready="true"]', { timeout: 15000 });
  return frame;
}

const lines = (frame) => frame.$$eval('#transcript > li', (els) => els.map((e) => ({ text: e.textContent, cls: e.className })));
const messages = async (frame) => (await lines(frame)).filter((l) => l.cls.includes('msg'));

async function waitText(frame, text, what, ms = 8000) {
  return waitFor(async () => (await messages(frame)).some((l) => l.text.includes(text)), ms, what);
}

async function shot(frameOrPage, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  if (frameOrPage.frameElement) {
    const element = await frameOrPage.frameElement();
    await element.screenshot({ path: file });
  } else {
    await frameOrPage.screenshot({ path: file });
  }
  log(`screenshot ${path.relative(sourceDir, file)}`);
}

async function cspViolations(page) {
  const all = [];
  for (const frame of page.frames()) {
    try {
      all.push(...(await frame.evaluate(() => window.__csp || [])));
    } catch { /* detached */ }
  }
  return all;
}

// A conversation of about `lines` lines made over the Memori REST API (as a native client: no
// Origin): the welcome, then question/answer pairs; the last answer is unique.
async function seedConversation(origin, lines) {
  const post = async (route, body) => {
    const r = await fetch(`${origin}/memori/v2/${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const j = await r.json();
    check(j.resultCode === 0, `seeding ${route}: ${JSON.stringify(j).slice(0, 200)}`);
    return j;
  };
  const { sessionID } = await post('Session', { memoriID: 'demo', initialContextVars: { userName: 'Dora', plan: 'premium' } });
  const exchanges = Math.ceil(lines / 2);
  let next = 1;
  const worker = async () => {
    while (next < exchanges) {
      const n = next++;
      await post(`TextEnteredEvent/${sessionID}`, { text: `Question ${n}: could you tell me more about the product?` });
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: 8 }, worker));
  await post(`TextEnteredEvent/${sessionID}`, { text: 'what is my name' });
  log(`seeded a conversation of ${1 + 2 * exchanges} lines over the REST API in ${Date.now() - t0} ms`);
  return { sessionID, lines: 1 + 2 * exchanges, last: 'Your name is Dora, as far as I know.' };
}

// In the widget: the transcript's last item is `text` and lies inside its visible area.
function lastLineOnScreen(text) {
  const t = document.getElementById('transcript');
  const last = t && t.lastElementChild;
  if (!last || last.textContent !== text) return false;
  const box = t.getBoundingClientRect();
  const r = last.getBoundingClientRect();
  return r.height > 0 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
}

// A GET with the given headers and the raw (undecoded) answer.
function rawGet(url, headers) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

// Bytes the page received while `action` ran (Chromium's encodedDataLength: headers and
// bodies as they came over the wire), and the Content-Encoding of each response.
async function bytesOver(context, page, action) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  let total = 0;
  const encodings = [];
  cdp.on('Network.responseReceived', (e) => {
    const h = Object.fromEntries(Object.entries(e.response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    encodings.push({ url: e.response.url, encoding: h['content-encoding'] || 'identity', status: e.response.status });
  });
  cdp.on('Network.loadingFinished', (e) => { total += e.encodedDataLength; });
  await action();
  await sleep(300);
  await cdp.detach();
  return { total, encodings };
}

await runSdkTest('browser-widget', 240000, async (args, cleanup) => {
  check(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: run scripts/setup.sh, or set PARLEY_CHROMIUM`);
  const { chromium } = requirePackage('playwright-core');
  const only = args.only;
  const want = (name) => !only || only.split(',').includes(name);
  const dir = tempDir('parley-browser-');
  const wav = paddedSpeechWav(dir, 'tell me my name please', 2.5, 4);
  const config = writeHostConfig(dir, {
    sdkDir: args.sdk,
    // The 2,500-line conversation is seeded over REST faster than a person types: the rate
    // limits are off here (native.host.limits tests them).
    server: { limits: { max_requests_per_s: 0, max_sessions_per_min: 0, max_session_requests_per_s: 0 } },
    agent: { allowed_origins: ['http://127.0.0.1:*'] },
    extraAgents: [
      { id: 'brief', resume_window: 2, allowed_origins: ['http://127.0.0.1:*'] },
      // Its answer to "story" lasts ~9 s. (A call that continues the widget's chat while it is
      // going on has no greeting to talk over: DESIGN §3.)
      { id: 'talker', allowed_origins: ['http://127.0.0.1:*'],
        rules: [{ words: ['story'], reply: 'Let me tell you everything about the Parley demo ' +
          'agent: you can ask me about your name, your plan or the weather in Zurich, and I will do my very ' +
          'best to answer you quickly and clearly.' }] },
    ],
  });
  const host = await hostFor(args, cleanup, config);
  const hostOrigin = host.url.replace(/\/$/, '');
  const pages = await startHostPages();
  cleanup(() => pages.close());
  const proxy = await startProxy(Number(new URL(host.url).port));
  cleanup(() => proxy.close());

  const launch = (extra) => chromium.launch({ executablePath: CHROMIUM, timeout: 20000, args: [...BASE_ARGS, ...extra] });
  const browser = await launch(['--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${wav}`]);
  cleanup(() => browser.close());
  const newContext = async (options = {}, grant = true) => {
    const context = await browser.newContext({ viewport: { width: 420, height: 640 }, ...options });
    if (grant) await context.grantPermissions(['microphone']);
    await context.addInitScript(INIT_SCRIPT);
    return context;
  };
  const hostPage = (loaderOrigin, attrs) =>
    `${pages.origin}/host.html?${new URLSearchParams({ src: `${loaderOrigin}/embed.js`, ...attrs })}`;
  const demoAttrs = { 'agent-id': 'demo', 'public-key': KEY, 'user-name': 'Ada', plan: 'premium' };
  const errorsOnPage = [];

  // --- the CSP the widget is served with -----------------------------------------------------
  const embed = await fetch(`${hostOrigin}/embed?id=demo&k=${KEY}`);
  const csp = embed.headers.get('content-security-policy') || '';
  for (const part of ["default-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", "connect-src 'self'",
                      `ws://${new URL(host.url).host}`, 'frame-ancestors http://127.0.0.1:*'])
    check(csp.includes(part), `/embed's CSP has ${part}: ${csp}`);
  // The page's first script is in the page (no request of its own), allowed by its hash alone.
  const embedHtml = await embed.text();
  const inline = embedHtml.match(/<script>([^]*?)<\/script>/);
  check(inline && !/<script src="[^"]*early/.test(embedHtml), 'the embed page carries its first script inline');
  if (inline) {
    const hash = `'sha256-${crypto.createHash('sha256').update(inline[1]).digest('base64')}'`;
    check(csp.includes(`script-src 'self' 'wasm-unsafe-eval' ${hash};`), `/embed's CSP allows the inline script by its hash ${hash}: ${csp}`);
  }
  check(!csp.includes('unsafe-inline'), `/embed's CSP has no 'unsafe-inline': ${csp}`);

  const context = await newContext();
  const page = await context.newPage();
  page.on('pageerror', (e) => errorsOnPage.push(e.message));

  if (want('text')) {
    // --- metadata, welcome, getState on the host page, text chat, keyboard, announcements ----
    await page.goto(hostPage(hostOrigin, demoAttrs));
    const frame = await widgetOf(page);
    await waitText(frame, 'Hi Ada!', 'the welcome message with the user name from the embed URL');
    const widgetState = await frame.evaluate(() => window.parleyClient.getState());
    check(widgetState.sessionID, 'the widget has a session');
    const hostState = await waitFor(() => page.evaluate(() => window.Parley && window.Parley.getState()), 5000,
                                    'window.Parley.getState() on the host page');
    checkEqual(hostState.sessionID, widgetState.sessionID, 'window.Parley.getState().sessionID');
    checkEqual(hostState.agentID, 'demo', 'window.Parley.getState().agentID');
    await shot(frame, 'welcome');

    // Keyboard: Tab reaches the microphone button, then the text box; Enter sends.
    await frame.focus('#transcript');
    await page.keyboard.press('Tab');
    checkEqual(await frame.evaluate(() => document.activeElement.id), 'mic', 'Tab from the transcript: the microphone button');
    await page.keyboard.press('Tab');
    checkEqual(await frame.evaluate(() => document.activeElement.id), 'text', 'next Tab: the text box');
    await page.keyboard.type('what is my name');
    await page.keyboard.press('Enter');
    await waitText(frame, 'Your name is Ada, as far as I know.', 'the reply to "what is my name"');
    await waitFor(async () => (await frame.textContent('#announcer')).includes('Your name is Ada'), 3000,
                  'the reply announced to screen readers (aria-live)');
    await frame.fill('#text', 'what plan am I on');
    await frame.press('#text', 'Enter');
    await waitText(frame, 'You are on the premium plan.', 'the reply to "what plan am I on"');
    check((await frame.getAttribute('#transcript', 'aria-live')) === 'off' &&
          (await frame.getAttribute('#announcer', 'aria-live')) === 'polite', 'one polite live region');
    // Text is never HTML: markup typed by the user shows as text.
    await frame.fill('#text', '<b>bold</b> & <img src=x>');
    await frame.press('#text', 'Enter');
    await waitText(frame, '<b>bold</b> & <img src=x>', 'markup shown as text');
    checkEqual(await frame.$$eval('#transcript b, #transcript img', (e) => e.length), 0, 'no element made from typed text');
    await waitText(frame, 'I am a simple demo agent', 'the fallback reply');
    await shot(frame, 'text-chat');

    // --- reload: the history comes back, the agent's last message is shown once -------------
    const before = await messages(frame);
    await page.reload();
    const again = await widgetOf(page);
    await waitFor(async () => (await messages(again)).length === before.length, 8000,
                  `the history repopulated (${before.length} messages)`);
    const after = await messages(again);
    checkEqual(JSON.stringify(after.map((l) => l.text)), JSON.stringify(before.map((l) => l.text)), 'the same lines after the reload');
    const last = after.at(-1);
    check(last.text.includes('I am a simple demo agent') && last.cls.includes('current'),
          `the agent's last message is marked as the current one: ${JSON.stringify(last)}`);
    checkEqual(after.filter((l) => l.text.includes('I am a simple demo agent')).length, 1, 'the last agent message shown once');
    checkEqual(after.filter((l) => l.text.startsWith('Hi Ada!')).length, 1, 'no second welcome');
    checkEqual((await again.evaluate(() => window.parleyClient.getState())).sessionID, widgetState.sessionID,
               'the same session after the reload');
    checkEqual((await again.evaluate(() => window.parleyClient.getState())).resumed, true, 'getState().resumed');
    await shot(again, 'resumed');
    log('text chat, getState on the host page, keyboard, reload: ok');
  }

  if (want('voice')) {
    // --- a voice call: onready with the session id, frames at the host, mute -----------------
    await page.goto(hostPage(hostOrigin, demoAttrs));
    const frame = await widgetOf(page);
    const sessionID = (await frame.evaluate(() => window.parleyClient.getState())).sessionID;
    const earlier = (await messages(frame)).length;  // the history (it has typed questions too)
    const framesBefore = await metric(host.url, 'parley_frames_in_binary_total');
    await frame.click('#mic');
    await waitFor(async () => (await frame.textContent('#status')) === 'Listening', 8000, 'status "Listening"');
    checkEqual(await frame.getAttribute('#mic', 'aria-pressed'), 'true', 'the microphone button is pressed');
    const state = await frame.evaluate(() => window.parleyClient.getState());
    checkEqual(state.connection, 'ready', 'getState().connection during the call');
    // One call, one session id (DESIGN §3): the call is a new session continuing the chat's,
    // and getState() shows the id in use, on the widget and on the host page.
    check(state.sessionID && state.sessionID !== sessionID, 'the call has a session id of its own');
    checkEqual(state.continuedFrom, sessionID, 'getState().continuedFrom: the widget\'s session');
    await waitFor(async () => (await page.evaluate(() => window.Parley.getState())).sessionID === state.sessionID,
                  3000, 'the host page sees the call\'s session id');
    await waitFor(async () => (await metric(host.url, 'parley_frames_in_binary_total')) - framesBefore >= 25, 5000,
                  'audio frames counted by the host');
    await waitFor(async () => (await page.evaluate(() => window.Parley.getState())).connection === 'ready', 3000,
                  'the host page sees the call');
    await sleep(400);  // a level or two for the animation
    await shot(frame, 'listening');

    // The voice round trip: the fake microphone says "tell me my name please" 2.5 s into
    // the call; the host's recognizer transcribes it, a rule answers, and the answer is spoken.
    // (Which words are heard is the host's speech tests' business: they measure the WER.)
    const said = await waitFor(async () => (await messages(frame)).slice(earlier).find((l) => l.cls.includes('user') && !l.cls.includes('pending') && l.text.trim()),
                               20000, 'the user\'s speech transcribed into the transcript');
    const reply = await waitFor(async () => {
      const all = (await messages(frame)).slice(earlier);
      const at = all.findIndex((l) => l.text === said.text);
      return all.slice(at + 1).find((l) => l.cls.includes('agent') && l.text.trim());
    }, 15000, 'the agent\'s reply to the spoken words');
    const spoken = await waitFor(() => frame.evaluate(() => {
      const r = window.__received;
      const answering = r.map(([, w]) => w).lastIndexOf('start_answering');
      return answering >= 0 && r.slice(answering).filter(([, w]) => typeof w === 'number').length >= 25 ? true : undefined;
    }), 10000, 'the reply spoken: agent audio after start_answering');
    check(spoken, 'agent audio for the reply');
    log(`voice round trip: ok (heard "${said.text}", answered "${reply.text}")`);

    // Mute: frames keep flowing, every one silence; unmute: speech again.
    await frame.click('#mute');
    checkEqual(await frame.getAttribute('#mute', 'aria-pressed'), 'true', 'the mute button is pressed');
    checkEqual(await frame.textContent('#status'), 'Muted', 'status "Muted"');
    await sleep(150);
    const t0 = await frame.evaluate(() => performance.now());
    await sleep(600);
    const muted = (await frame.evaluate(() => window.__frames)).filter(([t]) => t > t0);
    check(muted.length >= 20, `frames keep flowing while muted (${muted.length})`);
    check(muted.every(([, nonzero]) => !nonzero), 'every frame sent while muted is silence');
    checkEqual((await frame.evaluate(() => window.parleyClient.getState())).muted, true, 'getState().muted');
    await shot(frame, 'muted');
    await frame.click('#mute');
    await sleep(150);
    const t1 = await frame.evaluate(() => performance.now());
    await sleep(1200);
    check((await frame.evaluate(() => window.__frames)).some(([t, nonzero]) => t > t1 && nonzero), 'speech again after unmute');
    // Typing during the call goes over the voice socket; the status comes back to listening.
    const replies = (await messages(frame)).filter((l) => l.text.includes('Your name is Ada')).length;
    await frame.fill('#text', 'what is my name');
    await frame.press('#text', 'Enter');
    await waitFor(async () => (await messages(frame)).filter((l) => l.text.includes('Your name is Ada')).length > replies,
                  5000, 'the reply to a message typed during the call');
    await waitFor(async () => (await frame.textContent('#status')) === 'Listening', 15000, 'status "Listening" after the reply (it is spoken)');
    await frame.click('#mic');
    await waitFor(async () => (await frame.textContent('#status')) === 'Ready', 5000, 'status "Ready" after stopping');
    log('voice call, mute, text during the call: ok');
  }

  if (want('reconnect')) {
    // --- a dropped socket: reconnect and continue; then a server that stays away -------------
    const proxyOrigin = `http://127.0.0.1:${proxy.port}`;
    await page.goto(hostPage(proxyOrigin, demoAttrs));
    const frame = await widgetOf(page);
    await frame.click('#mic');
    await waitFor(async () => (await frame.textContent('#status')) === 'Listening', 8000, 'listening through the proxy');
    const sessionID = (await frame.evaluate(() => window.parleyClient.getState())).sessionID;
    proxy.cut();
    await waitFor(async () => (await frame.textContent('#status')).startsWith('Reconnecting'), 3000, 'status "Reconnecting…"');
    await shot(frame, 'reconnecting');
    await waitFor(async () => (await frame.textContent('#status')) === 'Listening', 8000, 'listening again after the drop');
    checkEqual((await frame.evaluate(() => window.parleyClient.getState())).sessionID, sessionID, 'the same session after the reconnect');
    check(await frame.isHidden('#error'), 'no error shown for a drop that was repaired');
    const t0 = await frame.evaluate(() => performance.now());
    await sleep(500);
    check((await frame.evaluate(() => window.__frames)).filter(([t]) => t > t0).length >= 15, 'audio flows again');
    const stats = await frame.evaluate(() => window.parleyClient.getStats());
    log(`reconnect: ok (${stats.framesDropped} frames of 20 ms lost in the outage)`);

    // The server goes away for good (the voice call's own give-up, after its reconnect
    // attempts, is tested with a short schedule in tests/wasm/sdk-protocol.test.mjs): a typed
    // message then says so at once.
    await frame.click('#mic');
    await waitFor(async () => (await frame.textContent('#status')) === 'Ready', 5000, 'the call stopped');
    proxy.refuse(true);
    proxy.cut();
    await frame.fill('#text', 'are you there?');
    await frame.press('#text', 'Enter');
    await waitFor(async () => (await frame.getAttribute('#error', 'data-code')) === 'server_gone', 10000,
                  'the error "server_gone"');
    await shot(frame, 'error-server-gone');
    proxy.refuse(false);
  }

  if (want('expiry')) {
    // --- a short resume window: the welcome message after expiry ----------------------------
    const brief = await newContext();
    const p = await brief.newPage();
    await p.goto(hostPage(hostOrigin, { ...demoAttrs, 'agent-id': 'brief', 'user-name': 'Bea' }));
    let frame = await widgetOf(p);
    await waitText(frame, 'Hi Bea!', 'the welcome of the brief agent');
    await frame.fill('#text', 'what is my name');
    await frame.press('#text', 'Enter');
    await waitText(frame, 'Your name is Bea', 'a reply before expiry');
    const old = (await frame.evaluate(() => window.parleyClient.getState())).sessionID;
    await sleep(2300);  // the agent's resume window is 2 s
    await p.reload();
    frame = await widgetOf(p);
    // The new session's welcome: the agent's resume_message, as the host sends it for a
    // session that continues an older one (filled with the same metadata).
    await waitFor(async () => (await lines(frame)).some((l) => l.cls.includes('welcome')), 8000,
                  'a welcome message again after expiry').catch(async (e) => {
      throw new Error(`${e.message}: ${JSON.stringify(await lines(frame))} ${await frame.textContent('#error')}`);
    });
    const all = await lines(frame);
    const earlier = all.filter((l) => l.cls.includes('earlier'));
    checkEqual(earlier.length, 3, 'the old conversation shown above, marked earlier');
    check(all.some((l) => l.cls === 'divider' && l.text === 'Earlier conversation'), 'an "Earlier conversation" divider');
    const welcome = all.at(-1);
    check(welcome.cls.includes('welcome') && !welcome.cls.includes('earlier') && welcome.text.includes('Bea'),
          `the new welcome comes last, filled from the metadata: ${JSON.stringify(welcome)}`);
    const s = await frame.evaluate(() => window.parleyClient.getState());
    check(s.sessionID && s.sessionID !== old, 'a new session after expiry');
    checkEqual(s.continuedFrom, old, 'getState().continuedFrom names the expired session');
    await shot(frame, 'expired-welcome');
    await brief.close();
    log('expiry: ok');
  }

  if (want('errors')) {
    // --- errors a person can act on ------------------------------------------------------------
    const shown = async (frame, code, what) => {
      await waitFor(async () => (await frame.getAttribute('#error', 'data-code')) === code, 10000, `${what}: error ${code}`);
      const text = await frame.textContent('#error');
      check(text.length > 20 && !/undefined|\[object/.test(text), `${what}: a plain message ("${text}")`);
      return text;
    };
    // Bad key: the voice call is refused (4401).
    await page.goto(hostPage(hostOrigin, { ...demoAttrs, 'public-key': 'not-the-key' }));
    let frame = await widgetOf(page);
    await frame.click('#mic');
    await shown(frame, 'bad_key', 'a wrong public key');
    await shot(frame, 'error-bad-key');
    // Unknown agent: the resume flow is refused at once. (Loaded as a page of its own: for an
    // agent it does not know, the host's CSP lets no page frame /embed, frame-ancestors 'none'.)
    await page.goto(`${hostOrigin}/embed?id=no-such-agent&k=${KEY}`);
    await page.waitForSelector('#widget[data-ready="true"]');
    await shown(page.mainFrame(), 'unknown_agent', 'an unknown agent');
    // Microphone denied: a context without the permission.
    const denied = await newContext({}, false);
    const dp = await denied.newPage();
    await dp.goto(hostPage(hostOrigin, demoAttrs));
    frame = await widgetOf(dp);
    await frame.click('#mic');
    await shown(frame, 'microphone_denied', 'a denied microphone');
    checkEqual(await frame.textContent('#status'), 'Ready', 'denied: the widget is back to ready');
    check(await frame.isEnabled('#text'), 'denied: typing still works');
    await shot(frame, 'error-mic-denied');
    await denied.close();
    // Offline: the browser loses the network after loading.
    const off = await newContext();
    const op = await off.newPage();
    await op.goto(hostPage(hostOrigin, demoAttrs));
    frame = await widgetOf(op);
    await off.setOffline(true);
    await frame.fill('#text', 'are you there?');
    await frame.press('#text', 'Enter');
    await shown(frame, 'offline', 'offline');
    await shot(frame, 'error-offline');
    await off.close();
    // No microphone: a browser without any audio input device.
    const bare = await launch([]);
    try {
      const bc = await bare.newContext();
      await bc.grantPermissions(['microphone']);
      const bp = await bc.newPage();
      await bp.goto(hostPage(hostOrigin, demoAttrs));
      frame = await widgetOf(bp);
      await frame.click('#mic');
      await shown(frame, 'no_microphone', 'no microphone');
    } finally {
      await bare.close();
    }
    // An origin the agent does not allow cannot frame the widget (CSP frame-ancestors).
    const foreign = await newContext();
    const fp = await foreign.newPage();
    await fp.goto(hostPage(hostOrigin, demoAttrs).replace('127.0.0.1', 'localhost'));
    const handle = await fp.waitForSelector('iframe.parley-widget');
    await sleep(1500);
    const inner = await handle.contentFrame();
    const ready = inner ? await inner.$('#widget[data-ready]').catch(() => null) : null;
    check(!ready, 'a host page on a foreign origin gets no widget');
    checkEqual(await fp.evaluate(() => window.Parley.getState()), null, 'and no state');
    await foreign.close();
    log('errors: ok');
  }

  if (want('looks')) {
    // --- the widget alone: a phone, dark mode ------------------------------------------------
    const phone = await newContext({ viewport: { width: 360, height: 640 }, colorScheme: 'dark', isMobile: true, hasTouch: true });
    const pp = await phone.newPage();
    await pp.goto(`${hostOrigin}/embed?id=demo&k=${KEY}&userName=Ada`);
    await pp.waitForSelector('#widget[data-ready="true"]');
    await waitFor(async () => (await pp.$$('#transcript > li.msg')).length > 0, 5000, 'a message on the phone');
    const overflow = await pp.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    check(!overflow, 'nothing overflows a 360 px wide phone');
    const bg = await pp.evaluate(() => getComputedStyle(document.body).backgroundColor);
    checkEqual(bg, 'rgb(21, 23, 27)', 'dark mode follows prefers-color-scheme');
    await pp.screenshot({ path: path.join(SHOTS, 'phone-dark.png') });
    await phone.close();
  }

  if (want('barge-in')) {
    // --- barge-in against the real host: the user talks over the agent's long answer -------
    const tc = await newContext();
    const tp = await tc.newPage();
    tp.on('pageerror', (e) => errorsOnPage.push(e.message));
    await tp.goto(hostPage(hostOrigin, { ...demoAttrs, 'agent-id': 'talker' }));
    const tf = await widgetOf(tp);
    await tf.click('#mic');
    // As soon as the call is up, a typed question whose answer is long; the fake microphone
    // speaks 2.5 s into the call, over that answer.
    await waitFor(async () => (await tf.textContent('#status')) === 'Listening', 8000, 'the talker call up');
    await tf.fill('#text', 'tell me a story');
    await tf.press('#text', 'Enter');
    const barged = await waitFor(() => tf.evaluate(() => {
      const r = window.__received;
      const clear = r.findIndex(([, w]) => w === 'clear');
      if (clear < 0) return undefined;
      const stats = window.parleyClient.getStats();
      return { before: r.slice(0, clear).filter(([, w]) => typeof w === 'number').length,
               clearAt: r[clear][0], buffered: stats.bufferedMs, received: r.slice(clear + 1) };
    }), 20000, 'the host to clear the agent\'s line when the user talks over it');
    // 2.5 s into the call the user speaks; the answer had been playing for a second or more.
    check(barged.before >= 50, `the agent was speaking before the user barged in (${barged.before} frames)`);
    checkEqual(barged.buffered, 0, 'the playback queue empty at clear');
    await sleep(1500);
    const afterClear = await tf.evaluate((t) => window.__received.filter(([at]) => at > t), barged.clearAt);
    const nextAnswer = afterClear.findIndex(([, w]) => w === 'start_answering');
    const stray = afterClear.slice(0, nextAnswer < 0 ? afterClear.length : nextAnswer).filter(([, w]) => typeof w === 'number');
    checkEqual(stray.length, 0, 'no more agent audio for the interrupted line');
    await waitFor(async () => (await messages(tf)).some((l) => l.cls.includes('user') && l.text.trim()), 15000,
                  'the interrupting words transcribed');
    await shot(tf, 'barge-in');
    await tf.click('#mic');
    await tc.close();
    log(`barge-in against the host: ok (${barged.before} agent frames, then clear)`);

    // --- barge-in to the quantum: `clear` silences the playback at once (scripted agent) ----
    const agent = await startScriptedAgent(args.sdk, { seconds: 3, clearAfterMs: 1200 });
    cleanup(() => agent.close());
    const bc = await newContext();
    const bp = await bc.newPage();
    await bp.goto(agent.url);
    await bp.waitForFunction(() => window.pageReady === true);
    await bp.evaluate(() => window.startCall());
    const result = await waitFor(() => bp.evaluate(() => {
      const l = window.bargeLog;
      if (l.clearAt === null) return undefined;
      const after = l.samples.filter(([t]) => t > l.clearAt + 30);
      if (after.length < 20) return undefined;
      const loud = l.samples.filter(([t, p]) => t < l.clearAt && p > 0.1).length;
      const firstSilent = l.samples.find(([t, p]) => t > l.clearAt && p < 0.001);
      return { loud, silentAfterMs: firstSilent ? firstSilent[0] - l.clearAt : null,
               maxAfter: Math.max(...after.map(([, p]) => p)), buffered: window.client.getStats().bufferedMs };
    }), 10000, 'playback, then clear');
    check(result.loud > 50, `the agent's audio was playing before clear (${result.loud} loud readings)`);
    // The worklet drops its ring when the message arrives, so the next 128-frame quantum is
    // silence; what is measured here adds the hop to the audio thread, the analyser's 5.3 ms
    // window and the page's polling (2 ms timers, slower on a loaded machine).
    check(result.silentAfterMs !== null && result.silentAfterMs < 50,
          `silence within 50 ms of clear arriving (measured ${result.silentAfterMs && result.silentAfterMs.toFixed(1)} ms)`);
    check(result.maxAfter < 0.001, `and silence after it (peak ${result.maxAfter})`);
    checkEqual(result.buffered, 0, 'nothing left queued in the core after clear');
    log(`barge-in: ok (silent ${result.silentAfterMs.toFixed(1)} ms after clear arrived)`);
    await bc.close();
  }

  if (want('scale')) {
    // --- a 2,500-line conversation opened by a sessionID link ----------------------------------
    // Ada has a conversation of her own in this browser; a link names another session, which
    // shows for that load only: the latest lines at once, earlier ones page by page.
    const seeded = await seedConversation(hostOrigin, 2500);
    const sc = await newContext();
    const sp = await sc.newPage();
    sp.on('pageerror', (e) => errorsOnPage.push(e.message));
    await sp.goto(hostPage(hostOrigin, demoAttrs));
    let frame = await widgetOf(sp);
    await waitText(frame, 'Hi Ada!', 'Ada\'s own conversation');
    const own = (await frame.evaluate(() => window.parleyClient.getState())).sessionID;
    const t0 = Date.now();
    await sp.goto(hostPage(hostOrigin, { ...demoAttrs, 'session-id': seeded.sessionID }));
    frame = await widgetOf(sp);
    await waitFor(() => frame.evaluate(lastLineOnScreen, seeded.last), 10000, 'the last line of 2,501 on screen');
    const ms = Date.now() - t0;
    check(ms < 3000, `the last line of 2,501 on screen within 3 s of navigation (took ${ms} ms; it was 9-10 s when every line was laid out on its own)`);
    const count = () => frame.$$eval('#transcript > li.msg', (els) => els.length);
    checkEqual(await count(), 100, 'the latest 100 lines are on the page');
    checkEqual(await frame.textContent('#transcript .more button'), `Show earlier (${seeded.lines - 100})`, 'the "Show earlier" button');
    checkEqual((await frame.evaluate(() => window.parleyClient.getState())).sessionID, seeded.sessionID, 'getState().sessionID is the link\'s session');
    // Only what is shown was fetched (SessionChatLogs?lastLines=100), not the whole history.
    const historyFetches = () => frame.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => e.name.includes('/SessionChatLogs/')).map((e) => ({ url: e.name, bytes: e.encodedBodySize })));
    const first = await historyFetches();
    checkEqual(first.length, 1, 'one history fetch at load');
    check(first[0].url.endsWith('?chain=true&lastLines=100') && first[0].bytes < 40000,
          `the load fetched the latest 100 lines only (${first[0].bytes} B; the whole history is ~470 KB)`);
    // The visitor scrolls up to the button (as the click would), then presses it.
    await frame.$eval('#transcript', (t) => { t.scrollTop = 0; });
    await shot(frame, 'long-history');
    // The first line on screen, marked: the seeded lines repeat their texts, so a text does not
    // name one line (the first match after paging back was often one of the lines just added).
    const anchorBefore = await frame.$eval('#transcript > li.msg', (li) => {
      li.dataset.anchor = 'before';
      return { top: li.getBoundingClientRect().top };
    });
    await frame.$eval('#transcript .more button', (b) => b.click());  // (no scrolling by the driver)
    await waitFor(async () => (await count()) === 200, 10000, '"Show earlier" fetches the older lines and adds the 100 before');
    checkEqual((await historyFetches()).length, 2, 'the older lines fetched once, when asked for');
    const anchorAfter = await frame.evaluate(() => {
      const li = document.querySelector('#transcript > li.msg[data-anchor="before"]');
      return li ? li.getBoundingClientRect().top : undefined;
    });
    check(anchorAfter !== undefined && Math.abs(anchorAfter - anchorBefore.top) < 2,
          `what was on screen stays where it was (${anchorBefore.top} -> ${anchorAfter})`);
    await frame.evaluate(() => {  // the rest of the way back, as fast as a visitor can press
      for (let b, i = 0; i < 100 && (b = document.querySelector('#transcript .more button')); ++i) b.click();
    });
    checkEqual(await count(), seeded.lines, 'every line after paging back to the start');
    checkEqual(await frame.$('#transcript .more'), null, 'no "Show earlier" at the start');
    // The link held for that load only: Ada's own conversation comes back, not the link's.
    await sp.goto(hostPage(hostOrigin, demoAttrs));
    frame = await widgetOf(sp);
    checkEqual((await frame.evaluate(() => window.parleyClient.getState())).sessionID, own,
               'after the link, the remembered session is still Ada\'s own');
    await sc.close();
    log(`a 2,501-line conversation: last line on screen ${ms} ms after navigation (busy machine), paging back works, the link is not remembered`);
  }

  if (want('identity')) {
    // --- one person per conversation: Bob, then Carol, in the same browser ----------------------
    const ic = await newContext();
    const ip = await ic.newPage();
    ip.on('pageerror', (e) => errorsOnPage.push(e.message));
    const as = (name, extra = {}) => hostPage(hostOrigin, { ...demoAttrs, 'user-name': name, ...extra });
    const ask = async (frame, text, reply) => {
      await frame.fill('#text', text);
      await frame.press('#text', 'Enter');
      await waitText(frame, reply, `the reply to "${text}"`);
    };
    const sessionOf = async (frame) => (await frame.evaluate(() => window.parleyClient.getState())).sessionID;
    await ip.goto(as('Bob'));
    let frame = await widgetOf(ip);
    await waitText(frame, 'Hi Bob!', 'Bob\'s welcome');
    await ask(frame, 'what is my name', 'Your name is Bob');
    const bob = await sessionOf(frame);
    await ip.goto(as('Carol'));
    frame = await widgetOf(ip);
    await waitText(frame, 'Hi Carol!', 'Carol gets a welcome of her own');
    const seen = (await messages(frame)).map((l) => l.text).join(' | ');
    check(!seen.includes('Bob'), `Carol sees none of Bob's lines: ${seen}`);
    const carol = await sessionOf(frame);
    check(carol && carol !== bob, 'Carol has a session of her own');
    await ask(frame, 'what is my name', 'Your name is Carol');
    await shot(frame, 'identity-carol');
    // Carol again, on another page of the site (non-identity metadata differs): her own
    // conversation goes on, and the session takes the page's metadata.
    await ip.goto(as('Carol', { plan: 'basic' }));
    frame = await widgetOf(ip);
    checkEqual(await sessionOf(frame), carol, 'Carol\'s conversation resumes on another page');
    await waitText(frame, 'Your name is Carol', 'her earlier lines');
    await ask(frame, 'what plan am I on', 'You are on the basic plan.');
    // The site's logout: window.Parley.logout() on the page, then data-logout.
    await ip.evaluate(() => window.Parley.logout());
    await waitFor(async () => (await sessionOf(frame)) !== carol && (await messages(frame)).some((l) => l.text.startsWith('Hi Carol!')),
                  8000, 'a new conversation after window.Parley.logout()');
    check(!(await messages(frame)).some((l) => l.text.includes('Your name is Carol')), 'no earlier lines after the logout');
    const afterLogout = await sessionOf(frame);
    await ip.goto(as('Carol', { logout: '' }));
    frame = await widgetOf(ip);
    check((await sessionOf(frame)) !== afterLogout, 'data-logout: the remembered session is forgotten on load');
    await ic.close();
    log('Bob then Carol: separate conversations; non-identity metadata follows the page; logout forgets');
  }

  if (want('early')) {
    // --- the resume's requests sent while the SDK loads (web/embed-early.js, resumeRequests) ---
    // What a load sent to the API and whether before the SDK was ready, and how many of the
    // early replies the core used.
    const facts = (frame) => frame.evaluate(() => {
      const ready = performance.getEntriesByName('parley:sdk-ready')[0].startTime;
      const api = performance.getEntriesByType('resource').filter((e) => e.name.includes('/memori/'))
        .map((e) => ({ path: new URL(e.name).pathname, early: e.startTime < ready }));
      return { api, used: Number(document.getElementById('widget').dataset.earlyUsed) };
    });
    const ec = await newContext();
    const ep = await ec.newPage();
    ep.on('pageerror', (e) => errorsOnPage.push(e.message));
    const requested = [];
    ep.on('request', (r) => requested.push(r.url()));
    const as = (name, extra = {}) => hostPage(hostOrigin, { ...demoAttrs, 'user-name': name, ...extra });
    const sessionOf = async (frame) => (await frame.evaluate(() => window.parleyClient.getState())).sessionID;
    await ep.goto(as('Dana'));
    let frame = await widgetOf(ep);
    await waitText(frame, 'Hi Dana!', 'Dana\'s welcome');
    let f = await facts(frame);
    checkEqual(f.used, 0, 'a first visit: nothing sent early');
    check(f.api.every((r) => !r.early), `a first visit: no API request before the SDK (${JSON.stringify(f.api)})`);
    await frame.fill('#text', 'what is my name');
    await frame.press('#text', 'Enter');
    await waitText(frame, 'Your name is Dana', 'Dana\'s reply');
    const dana = await sessionOf(frame);
    // The same page again: the check and the history go out before the SDK has loaded, and
    // they are the requests the core asks for (both used, none sent twice).
    await ep.reload();
    frame = await widgetOf(ep);
    await waitText(frame, 'Your name is Dana', 'Dana\'s lines after the reload');
    f = await facts(frame);
    checkEqual(f.used, 2, `a reload: the session check and the history fetch sent early are used (${JSON.stringify(f.api)})`);
    checkEqual(JSON.stringify(f.api.map((r) => [r.path.split('/')[3], r.early])),
               JSON.stringify([['Session', true], ['SessionChatLogs', true]]), 'a reload: two API requests, both sent before the SDK was ready');
    checkEqual(await sessionOf(frame), dana, 'a reload: Dana\'s session goes on');
    // Another page parameter (a different address): nothing sent early, the page's own resume.
    await ep.goto(as('Dana', { plan: 'basic' }));
    frame = await widgetOf(ep);
    f = await facts(frame);
    check(f.api.every((r) => !r.early) && f.used === 0, `another address: nothing sent early (${JSON.stringify(f.api)})`);
    checkEqual(await sessionOf(frame), dana, 'another page of the site: Dana\'s conversation still resumes');
    // Erin in the same browser: nothing of Dana's is asked for, let alone shown.
    const danaPlan = await frame.evaluate(() => localStorage.getItem('parley.early'));
    check(danaPlan && danaPlan.includes(dana), 'the stored plan names Dana\'s session');
    requested.length = 0;
    await ep.goto(as('Erin'));
    frame = await widgetOf(ep);
    await waitText(frame, 'Hi Erin!', 'Erin gets a welcome of her own');
    check(!requested.some((u) => u.includes(dana)), `Erin's page asks for nothing of Dana's session: ${requested.filter((u) => u.includes('/memori/'))}`);
    const erin = await sessionOf(frame);
    check(erin && erin !== dana, 'Erin has a session of her own');
    // A wrong guess is never used: a plan for Erin's very address that asks for Dana's session
    // (as no page writes it) makes the page fetch Dana's session early, and the core still
    // resumes Erin's own conversation and shows none of Dana's lines.
    await frame.evaluate(([plan]) => {
      const p = JSON.parse(plan);
      p.page = location.href.split('#')[0];
      localStorage.setItem('parley.early', JSON.stringify(p));
    }, [danaPlan]);
    requested.length = 0;
    await ep.reload();
    frame = await widgetOf(ep);
    await waitText(frame, 'Hi Erin!', 'Erin\'s own lines after the forged plan');
    check(requested.some((u) => u.includes(dana)), 'the forged plan was sent (the test tests something)');
    f = await facts(frame);
    checkEqual(f.used, 0, `the forged plan's replies are not used (${JSON.stringify(f.api)})`);
    checkEqual(await sessionOf(frame), erin, 'Erin\'s session, not Dana\'s');
    const seen = (await messages(frame)).map((l) => l.text).join(' | ');
    check(!seen.includes('Dana'), `Erin sees none of Dana's lines: ${seen}`);
    // The logout forgets the plan with the session: the next load sends nothing early.
    await ep.evaluate(() => window.Parley.logout());
    await waitFor(async () => (await sessionOf(frame)) !== erin, 8000, 'a new conversation after the logout');
    check(!(await frame.evaluate(() => localStorage.getItem('parley.early') || '')).includes(erin),
          'after the logout, no stored plan names the forgotten session');
    await ec.close();
    log('early requests: sent while the SDK loads, used when the core asks for them; another address, another person or a forged plan: not used');
  }

  if (want('delivery')) {
    // --- compressed, content-hashed, cached: what goes over the wire ---------------------------
    const embedHtml = await (await fetch(`${hostOrigin}/embed?id=demo&k=${KEY}`)).text();
    const sdkName = (/"\/sdk\/(parley\.[0-9a-f]{10}\.mjs)"/.exec(embedHtml) || [])[1];
    check(sdkName, `the embed page names the SDK by its hashed name: ${embedHtml.slice(0, 400)}`);
    const plain = await rawGet(`${hostOrigin}/sdk/${sdkName}`, {});
    for (const [coding, decode] of [['br', zlib.brotliDecompressSync], ['gzip', zlib.gunzipSync]]) {
      const r = await rawGet(`${hostOrigin}/sdk/${sdkName}`, { 'Accept-Encoding': `${coding}` });
      checkEqual(r.headers['content-encoding'], coding, `${sdkName} for Accept-Encoding: ${coding}`);
      checkEqual(r.headers.vary, 'Accept-Encoding', 'Vary: Accept-Encoding');
      checkEqual(r.headers['cache-control'], 'public, max-age=31536000, immutable', 'a hashed SDK file is immutable');
      check(decode(r.body).equals(plain.body), `the ${coding} copy is the file`);
      check(r.body.length < plain.body.length / 2, `${coding} is smaller (${r.body.length} of ${plain.body.length} B)`);
    }
    checkEqual((await rawGet(`${hostOrigin}/embed?id=demo&k=${KEY}`, { 'Accept-Encoding': 'br' })).headers['cache-control'], 'no-cache',
               'the embed page is revalidated');
    // In Chromium: the cold load within 100 KB over the wire, the warm reload within 5 KB, the
    // wasm fetched once (streamed into the compiler, no second fetch for a fallback).
    const dc = await newContext();
    const dp = await dc.newPage();
    const wasmFetches = [];
    dp.on('request', (r) => { if (r.url().endsWith('.wasm')) wasmFetches.push(r.url()); });
    const embedUrl = `${hostOrigin}/embed?id=demo&k=${KEY}&userName=Ada`;
    const cold = await bytesOver(dc, dp, async () => {
      await dp.goto(embedUrl);
      await dp.waitForSelector('#widget[data-ready="true"]');
    });
    check(cold.total <= 100 * 1024, `a cold load of the embed page is ${cold.total} B over the wire (budget 100 KB)`);
    check(cold.encodings.some((e) => e.url.includes('/sdk/parley-core.') && (e.encoding === 'gzip' || e.encoding === 'br')),
          `the wasm comes compressed: ${JSON.stringify(cold.encodings)}`);
    checkEqual(wasmFetches.length, 1, 'the wasm is fetched once');
    const warm = await bytesOver(dc, dp, async () => {
      await dp.reload();
      await dp.waitForSelector('#widget[data-ready="true"]');
    });
    check(warm.total <= 5 * 1024, `a warm reload is ${warm.total} B over the wire (budget 5 KB): ${JSON.stringify(warm.encodings)}`);
    await dc.close();
    log(`delivery: cold load ${cold.total} B, warm reload ${warm.total} B over the wire (Chromium chose ${[...new Set(cold.encodings.map((e) => e.encoding))].join(', ')})`);
  }

  if (want('url')) {
    // --- a hand-written iframe with braces in its query ------------------------------------------
    const src = `${hostOrigin}/embed?id=demo&k=${KEY}&userName=Ada&filter={a|b}&exp=2^10`;
    const up = await context.newPage();
    await up.goto(`${pages.origin}/frame.html?${new URLSearchParams({ src })}`);
    const frame = await widgetOf(up);
    const href = await frame.evaluate(() => location.href);
    check(href.includes('filter={a|b}&exp=2^10'), `the browser leaves the braces raw in location.href: ${href}`);
    check(await frame.isHidden('#error'), `no error for the raw braces: ${await frame.textContent('#error')}`);
    const config = await frame.evaluate(() => import('/sdk/parley.mjs').then((m) => m.default.parseWidgetUrl(location.href)));
    checkEqual(config.metadata.filter, '{a|b}', 'the metadata read from the raw braces');
    await waitText(frame, 'Hi Ada!', 'the widget works');
    await up.close();
    log('a hand-written iframe src with { | } ^: ok');
  }

  if (want('jank')) {
    // --- the page's main thread stalls during a call: no microphone audio lost silently ---------
    const jc = await newContext();
    const jp = await jc.newPage();
    await jp.goto(hostPage(hostOrigin, demoAttrs));
    const frame = await widgetOf(jp);
    await frame.click('#mic');
    await waitFor(async () => (await frame.textContent('#status')) === 'Listening', 8000, 'listening');
    await frame.evaluate(() => {
      window.__warnings = [];
      window.parleyClient.on('onwarning', (w) => window.__warnings.push(w));
    });
    await sleep(500);
    const stall = (ms) => frame.evaluate((n) => { const t = performance.now(); while (performance.now() - t < n); }, ms);
    const before = await frame.evaluate(() => window.parleyClient.getStats());
    const t0 = Date.now();
    await stall(300);
    await sleep(1000);
    const after = await frame.evaluate(() => window.parleyClient.getStats());
    const elapsed = Date.now() - t0;
    checkEqual(after.captureLostMs, 0, 'a 300 ms stall loses no microphone audio (buffered)');
    checkEqual((await frame.evaluate(() => window.__warnings)).length, 0, 'and raises no warning');
    const frames = after.framesSent - before.framesSent;
    check(frames >= (elapsed / 20) * 0.85, `the frames of the stall are sent after it (${frames} frames in ${elapsed} ms)`);
    await stall(1600);  // longer than the ~1 s the capture buffers hold
    await waitFor(() => frame.evaluate(() => window.__warnings.find((w) => w.code === 'audio_lost')), 5000, 'a warning for audio lost in a long stall');
    const lost = (await frame.evaluate(() => window.parleyClient.getStats())).captureLostMs;
    check(lost > 200 && lost < 1600, `the loss is counted (${lost.toFixed(0)} ms of a 1,600 ms stall)`);
    await frame.click('#mic');
    await jc.close();
    log(`a stalled main thread: 300 ms buffered, a 1,600 ms stall counted (${lost.toFixed(0)} ms lost) and warned`);
  }

  const violations = await cspViolations(page);
  checkEqual(violations.length, 0, `CSP violations: ${violations.join('; ')}`);
  checkEqual(errorsOnPage.length, 0, `uncaught errors in the pages: ${errorsOnPage.join('; ')}`);
  void fail;
});
