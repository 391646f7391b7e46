// The widget as a visitor meets it (DESIGN §14), in headless Chromium against the real
// parley-host on loopback, today's build beside the widget before issue 13 (a checkout of
// 4b2b9f3 built in its own worktree), measured in the same run:
//   - navigation -> the last line on screen, for a resumed conversation of 2,501 lines (the
//     welcome and 1,250 exchanges, resumed by its sessionID) and for a fresh conversation
//     (the welcome message), each with a cold and a warm HTTP cache (median of --rounds);
//   - bytes over the wire (Chromium's encodedDataLength: headers and bodies, as received)
//     for a cold load of the embed page and for a warm reload;
//   - the parse of the 2,501-line history alone: client.resume() over canned replies (the
//     real SessionChatLogs text), the first call on a freshly loaded module (cold) and the
//     median of the calls after it (warm).
// Not a test: it prints figures (and the budgets beside them) and exits 0 unless something
// failed to run.
//
//   node bench/widget/run.mjs [--rounds 7] [--old /work/wt/widget-old] [--lines 2500]
//
// The old checkout needs its own builds: cmake --preset release && cmake --build --preset
// release --target parley-host; cmake --preset wasm && cmake --build --preset wasm --target
// parley-sdk (in that worktree). Without them the old column says why it is empty.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requirePackage, startHost, sleep } from '../../tests/clients/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(here, '..', '..');
const args = { rounds: 7, old: '/work/wt/widget-old', lines: 2500 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args) || process.argv[i + 1] === undefined) {
    console.error('usage: node bench/widget/run.mjs [--rounds N] [--old DIR] [--lines N]');
    process.exit(64);
  }
  args[key] = typeof args[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const KEY = 'demo-public-key';
const LAST_QUESTION = 'what is my name';
const LAST_ANSWER = 'Your name is Ada, as far as I know.';
const WELCOME = 'Hi Ada! I am the Parley demo agent. Ask me about your name, your plan or the weather.';

const variants = [
  { name: 'old', label: 'before (4b2b9f3)', dir: args.old, web: path.join(args.old, 'web'),
    sdk: path.join(args.old, 'build', 'wasm', 'sdk'), host: path.join(args.old, 'build', 'release', 'host', 'parley-host') },
  { name: 'new', label: 'now', dir: sourceDir, web: path.join(sourceDir, 'build', 'wasm', 'web'),
    sdk: path.join(sourceDir, 'build', 'wasm', 'sdk'), host: path.join(sourceDir, 'build', 'release', 'host', 'parley-host') },
];
const missing = (v) => [v.host, v.sdk, v.web].filter((p) => !fs.existsSync(p));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

// The page side of the parse benchmark: loads the SDK by its plain name (both builds have
// /sdk/parley.mjs), fetches the real history once, then times client.resume() over canned
// replies. Served from the variant's own web root (a copy with this file added).
const PARSE_PAGE = `<!doctype html><meta charset="utf-8"><title>parse</title><script type="module" src="/bench-parse.js"></script>`;
const PARSE_SCRIPT = `
import Parley from '/sdk/parley.mjs';
const q = new URLSearchParams(location.search);
const id = q.get('s');
const history = await (await fetch('/memori/v2/SessionChatLogs/' + id + '/' + id)).text();
const session = JSON.stringify({ resultCode: 0, resultMessage: 'Ok', currentState: { state: 'R1', emission: 'x' } });
const canned = async (url) => ({ status: 200, text: async () => (url.includes('SessionChatLogs') ? history : session) });
const times = [];
for (let i = 0; i < Number(q.get('n')); ++i) {
  const storage = new Map();
  const client = Parley.createClient({ publicKey: 'k', endPoint: 'ws://127.0.0.1:1/v1/voice', agentId: 'demo', fetch: canned,
    storage: { get: (k) => storage.get(k) ?? null, set: (k, v) => storage.set(k, v), remove: (k) => storage.delete(k) } });
  const t0 = performance.now();
  const r = await client.resume({ sessionId: id });
  times.push(performance.now() - t0);
  if (!r.resumed || r.history.length < 100) throw new Error('resume: ' + JSON.stringify(r).slice(0, 200));
}
window.parseTimes = times;
`;

// Runs in the embed page: the first animation frame at which the transcript's last item is
// the expected line, fully inside the transcript's visible area, is "the last line on screen".
function onScreenProbe(lastText, beforeText) {
  return `
window.__onScreen = null;
(function probe() {
  const t = document.getElementById('transcript');
  const last = t && t.lastElementChild;
  if (last && last.textContent === ${JSON.stringify(lastText)} &&
      (${JSON.stringify(beforeText)} === null || (last.previousElementSibling && last.previousElementSibling.textContent === ${JSON.stringify(beforeText)}))) {
    const box = t.getBoundingClientRect();
    const r = last.getBoundingClientRect();
    if (r.height > 0 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1) {
      window.__onScreen = performance.now();
      return;
    }
  }
  requestAnimationFrame(probe);
})();`;
}

// Where the time of one load went, from the page's own timings: the HTML received, the page's
// first script run (embed-early.js: the resume's requests sent early when this address kept a
// plan, the wasm's compile started), the SDK loaded (its module evaluated and the wasm
// instantiated: embed-app.js's first mark), the resume (waiting for its replies, or sending its
// requests, and the core's work on them), and the transcript built and on screen; and how many
// early replies the resume used. The old widget has no marks: only its HTML figure is known.
async function breakdown(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const mark = (name) => {
      const m = performance.getEntriesByName(name, 'mark')[0];
      return m ? m.startTime : null;
    };
    const used = document.getElementById('widget').dataset.earlyUsed;
    return { html: nav.responseEnd, early: mark('parley:early-sent'), sdk: mark('parley:sdk-ready'),
             resumeStart: mark('parley:resume-start'), resumeEnd: mark('parley:resume-end'), onScreen: window.__onScreen,
             earlyUsed: used === undefined ? null : Number(used) };
  });
}

async function seed(base, lines) {
  const post = async (route, body) => {
    const r = await fetch(`${base}memori/v2/${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const j = await r.json();
    if (j.resultCode !== 0) throw new Error(`${route}: ${JSON.stringify(j).slice(0, 200)}`);
    return j;
  };
  const { sessionID } = await post('Session', { memoriID: 'demo', initialContextVars: { userName: 'Ada', plan: 'premium' } });
  const exchanges = Math.ceil(lines / 2);
  let next = 1;
  const worker = async () => {
    while (next < exchanges) {
      const n = next++;
      await post(`TextEnteredEvent/${sessionID}`, { text: `Question ${n}: could you tell me more about the product and how it works for my team?` });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  await post(`TextEnteredEvent/${sessionID}`, { text: LAST_QUESTION });
  return { sessionID, lines: 1 + 2 * exchanges };
}

// Bytes received for everything the page loaded (CDP Network events of the page's target,
// the iframe-less embed page): total, and the part that was the widget's API.
async function countBytes(context, page, action) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const urls = new Map();
  let total = 0;
  let api = 0;
  const encodings = {};
  cdp.on('Network.responseReceived', (e) => {
    urls.set(e.requestId, e.response.url);
    const enc = (e.response.headers['content-encoding'] || e.response.headers['Content-Encoding'] || 'identity');
    encodings[enc] = (encodings[enc] || 0) + 1;
  });
  cdp.on('Network.loadingFinished', (e) => {
    total += e.encodedDataLength;
    if ((urls.get(e.requestId) || '').includes('/memori/')) api += e.encodedDataLength;
  });
  await action();
  await sleep(300);  // late responses
  await cdp.detach();
  return { total, api, encodings };
}

async function measureVariant(v, browser) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `parley-bench-widget-${v.name}-`));
  const web = path.join(tmp, 'web');
  // Timestamps kept: the host sends a .br/.gz copy only when it is not older than its file.
  fs.cpSync(v.web, web, { recursive: true, preserveTimestamps: true, dereference: true });
  fs.writeFileSync(path.join(web, 'bench-parse.html'), PARSE_PAGE);
  fs.writeFileSync(path.join(web, 'bench-parse.js'), PARSE_SCRIPT);
  const demo = JSON.parse(fs.readFileSync(path.join(v.dir, 'host', 'demo', 'config.json'), 'utf8'));
  demo.server.web_root = web;
  demo.server.wasm_root = v.sdk;
  demo.server.log_level = 'warn';
  if (demo.server.speech) demo.server.speech.enabled = false;
  // The conversation is seeded over REST faster than a person types: a host with rate limits
  // (issue 14; the old widget's host has none) has them off here.
  if (demo.server.limits) demo.server.limits = { max_requests_per_s: 0, max_sessions_per_min: 0, max_session_requests_per_s: 0 };
  demo.agents[0].allowed_origins = ['http://127.0.0.1:*'];
  const configFile = path.join(tmp, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(demo, null, 2));
  const host = await startHost({ host: v.host, config: configFile });
  const out = { splitCold: [], splitWarm: [], resumeCold: [], resumeWarm: [], freshCold: [], freshWarm: [], parseCold: [], parseWarm: [] };
  try {
    const base = host.url;
    const t0 = Date.now();
    const { sessionID, lines } = await seed(base, args.lines);
    console.log(`  ${v.name}: seeded a conversation of ${lines} lines in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const resumeUrl = `${base}embed?id=demo&k=${KEY}&sessionID=${sessionID}`;
    const freshUrl = `${base}embed?id=demo&k=${KEY}&userName=Ada&plan=premium`;

    for (let round = 0; round < args.rounds; ++round) {
      // The long conversation: cold cache, then a reload (warm).
      let context = await browser.newContext({ viewport: { width: 380, height: 560 } });
      await context.addInitScript(onScreenProbe(LAST_ANSWER, LAST_QUESTION));
      let page = await context.newPage();
      await page.goto(resumeUrl);
      out.resumeCold.push(await page.waitForFunction(() => window.__onScreen, null, { timeout: 240000 }).then((h) => h.jsonValue()));
      out.splitCold.push(await breakdown(page));
      await page.reload();
      out.resumeWarm.push(await page.waitForFunction(() => window.__onScreen, null, { timeout: 240000 }).then((h) => h.jsonValue()));
      out.splitWarm.push(await breakdown(page));
      await context.close();

      // A fresh conversation: cold cache; then warm cache with nothing remembered.
      context = await browser.newContext({ viewport: { width: 380, height: 560 } });
      await context.addInitScript(onScreenProbe(WELCOME, null));
      page = await context.newPage();
      let bytes = null;
      if (round === 0) {
        bytes = await countBytes(context, page, async () => {
          await page.goto(freshUrl);
          await page.waitForFunction(() => window.__onScreen, null, { timeout: 240000 });
        });
        out.coldBytes = bytes;
      } else {
        await page.goto(freshUrl);
        await page.waitForFunction(() => window.__onScreen, null, { timeout: 240000 });
      }
      out.freshCold.push(await page.evaluate(() => window.__onScreen));
      if (round === 0) {
        // A warm reload: the same page again (the conversation is resumed: two lines).
        await context.clearCookies();
        out.warmBytes = await countBytes(context, page, async () => {
          await page.reload();
          await page.waitForSelector('#widget[data-ready="true"]', { timeout: 240000 });
        });
      }
      await page.evaluate(() => localStorage.clear());
      await page.reload();
      out.freshWarm.push(await page.waitForFunction(() => window.__onScreen, null, { timeout: 240000 }).then((h) => h.jsonValue()));
      await context.close();

      // The parse alone: a fresh page (a freshly compiled module) per round.
      context = await browser.newContext();
      page = await context.newPage();
      await page.goto(`${base}bench-parse.html?s=${sessionID}&n=11`);
      const times = await page.waitForFunction(() => window.parseTimes, null, { timeout: 240000 }).then((h) => h.jsonValue());
      out.parseCold.push(times[0]);
      out.parseWarm.push(median(times.slice(1)));
      await context.close();
    }
    // The long conversation's warm reload in bytes, for the record (its history is the bulk).
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(resumeUrl);
    await page.waitForSelector('#widget[data-ready="true"]', { timeout: 240000 });
    out.resumeReloadBytes = await countBytes(context, page, async () => {
      await page.reload();
      await page.waitForSelector('#widget[data-ready="true"]', { timeout: 240000 });
    });
    await context.close();
  } finally {
    await host.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

const { chromium } = requirePackage('playwright-core');
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
         '--disable-sync', '--no-first-run'],
});
const results = {};
try {
  for (const v of variants) {
    const gone = missing(v);
    if (gone.length) {
      results[v.name] = { why: `not built: ${gone.join(', ')} missing` };
      console.log(`  ${v.name}: ${results[v.name].why}`);
      continue;
    }
    console.log(`measuring ${v.label} (${args.rounds} rounds)...`);
    results[v.name] = await measureVariant(v, browser);
  }
} finally {
  await browser.close();
}

const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : '-');
const kb = (b) => (b ? `${(b.total / 1024).toFixed(1)} KB${b.api ? ` (API ${(b.api / 1024).toFixed(1)} KB)` : ''}` : '-');
const cell = (name, f) => (results[name] && !results[name].why ? f(results[name]) : (results[name] ? 'n/a' : '-'));
const rows = [
  ['navigation -> last line, 2,501-line resume, cold cache (median)', (r) => ms(median(r.resumeCold)), '150 ms'],
  ['navigation -> last line, 2,501-line resume, warm cache (median)', (r) => ms(median(r.resumeWarm)), '150 ms'],
  ['navigation -> welcome, fresh conversation, cold cache (median)', (r) => ms(median(r.freshCold)), ''],
  ['navigation -> welcome, fresh conversation, warm cache (median)', (r) => ms(median(r.freshWarm)), ''],
  ['bytes over the wire, cold load of the embed page', (r) => kb(r.coldBytes), '100 KB'],
  ['bytes over the wire, warm reload', (r) => kb(r.warmBytes), '5 KB'],
  ['bytes over the wire, warm reload of the 2,501-line conversation', (r) => kb(r.resumeReloadBytes), ''],
  ['parse of the 2,501-line history, cold module (median of first calls)', (r) => ms(median(r.parseCold)), ''],
  ['parse of the 2,501-line history, warm (median)', (r) => ms(median(r.parseWarm)), ''],
];
console.log(`\nParley widget benchmark (headless Chromium, parley-host on loopback, ${args.rounds} rounds, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)})`);
console.log(`| measure | ${variants.map((v) => v.label).join(' | ')} | budget |`);
console.log(`|---|${variants.map(() => '---:').join('|')}|---:|`);
for (const [label, f, budget] of rows) console.log(`| ${label} | ${variants.map((v) => cell(v.name, f)).join(' | ')} | ${budget} |`);
for (const v of variants) {
  const r = results[v.name];
  if (!r || r.why) continue;
  console.log(`${v.label}: cold load encodings ${JSON.stringify(r.coldBytes.encodings)}; all rounds (ms): resume cold ${r.resumeCold.map((x) => x.toFixed(0)).join(' ')}, warm ${r.resumeWarm.map((x) => x.toFixed(0)).join(' ')}; parse cold ${r.parseCold.map((x) => x.toFixed(1)).join(' ')}`);
}
for (const v of variants) if (results[v.name] && results[v.name].why) console.log(`${v.label}: no figures: ${results[v.name].why}`);

// Where the resume's time went (medians of each step's length, the steps as breakdown() reads them).
for (const v of variants) {
  const r = results[v.name];
  if (!r || r.why) continue;
  for (const [kind, splits] of [['cold', r.splitCold], ['warm', r.splitWarm]]) {
    if (!splits.length || splits.some((s) => s.sdk === null || s.resumeEnd === null)) continue;
    const step = (f) => ms(median(splits.map(f)));
    const first = splits.every((s) => s.early !== null)
      ? `-> first script run ${step((s) => s.early - s.html)}; -> SDK loaded (module and wasm) ${step((s) => s.sdk - s.early)}`
      : `-> SDK loaded (module and wasm) ${step((s) => s.sdk - s.html)}`;
    const used = splits.every((s) => s.earlyUsed !== null) ? `; early replies used: ${splits.map((s) => s.earlyUsed).join(' ')}` : '';
    console.log(`${v.label}, 2,501-line resume, ${kind} (medians): navigation -> HTML received ${step((s) => s.html)}; ` +
                `${first}; -> resume asked ${step((s) => s.resumeStart - s.sdk)}; ` +
                `resume (its 2 replies and the core) ${step((s) => s.resumeEnd - s.resumeStart)}; -> last line on screen ${step((s) => s.onScreen - s.resumeEnd)}${used}`);
  }
}
