// The browser SDK's module under node against a real parley-host on loopback: the resume
// flow over /memori/v2 (welcome from the metadata, history and the agent's last message after
// a "reload"), typed messages over REST and over the voice socket, a call with a microphone
// that plays espeak-ng speech through the SDK's real capture path, mute (silence on the wire),
// the Millis start forms as they appear on the wire, a dropped socket that reconnects and
// continues the session, and each refusal as its error code: bad key, unknown agent, origin
// not allowed, server gone.
//
//   node tests/wasm/sdk-protocol.test.mjs [--sdk build/wasm/sdk] [--host build/release/host/parley-host]
import {
  check, checkEqual, fakeAudio, hostFor, loadSdk, log, memoryStorage, metric, readWav, requirePackage,
  runSdkTest, sleep, speechWav, startProxy, tempDir, waitFor, writeHostConfig,
} from './sdk-harness.mjs';

const KEY = 'demo-public-key';

// A ws WebSocket that sends an Origin and records every frame the SDK sends.
function recordingSocket(origin, log) {
  const WebSocket = requirePackage('ws');
  return class extends WebSocket {
    constructor(url) {
      super(url, { origin });
      this.sentFrames = [];
      log.push(this);
    }
    send(data) {
      this.sentFrames.push(typeof data === 'string' ? data : Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
      super.send(data);
    }
  };
}

// Every event a client raises, in order, with a wait helper.
function watch(client) {
  const events = [];
  for (const name of ['onopen', 'onready', 'onresponsetext', 'onclose', 'onerror', 'onreconnecting', 'onagentstate', 'onsessionended'])
    client.on(name, (...a) => events.push({ name, a }));
  const find = (name, pred = () => true, from = 0) => events.slice(from).find((e) => e.name === name && pred(e));
  return {
    events,
    find,
    wait: (name, pred, ms = 5000, from = 0) => waitFor(() => find(name, pred, from), ms, `event ${name}`),
    names: () => events.map((e) => e.name).join(','),
  };
}

const finalText = (want) => (e) => e.a[1] && e.a[1].is_final && e.a[0].includes(want);

await runSdkTest('sdk-protocol', 120000, async (args, cleanup) => {
  const Parley = await loadSdk(args.sdk);
  const dir = tempDir('parley-sdk-protocol-');
  // The early-request cases below read one session a dozen times within a second: the
  // per-session rate limit is off here (native.host.limits tests it), the others stay.
  const config = writeHostConfig(dir, { sdkDir: args.sdk, server: { limits: { max_requests_per_s: 200, max_sessions_per_min: 120, max_session_requests_per_s: 0 } } });
  const host = await hostFor(args, cleanup, config);
  const origin = host.url.replace(/\/$/, '');
  const endPoint = `${origin.replace('http', 'ws')}/v1/voice`;
  const speech = readWav(speechWav(dir, 'Hello, my name is Ada. What is my name?', 48000));
  const sockets = [];
  const make = (extra = {}) => Parley.createClient({
    publicKey: KEY, endPoint, agentId: 'demo', WebSocket: recordingSocket(origin, sockets),
    audio: fakeAudio({ rate: 48000, samples: speech.samples }), ...extra,
  });

  // --- resume: a new session, the welcome message filled from the metadata --------------------
  const storage = memoryStorage();
  const a = make({ storage });
  const first = await a.resume({ metadata: { userName: 'Ada', plan: 'premium' } });
  checkEqual(first.resumed, false, 'first resume: a new session');
  check(first.welcome.startsWith('Hi Ada!'), `first resume: the welcome uses {userName}: "${first.welcome}"`);
  check(storage.map.get('parley.session').includes(first.sessionID), 'the session is stored for the integration');
  const aw = watch(a);
  await a.sendText('what is my name');
  await aw.wait('onresponsetext', finalText('Your name is Ada'));
  await a.sendText('what plan am I on');
  await aw.wait('onresponsetext', finalText('premium plan'));
  log('resume, welcome and REST text: ok');

  // --- a reload: the same storage, a new client: resumed with the history --------------------
  const b = make({ storage });
  const again = await b.resume({ metadata: { userName: 'Ada', plan: 'premium' } });
  checkEqual(again.resumed, true, 'second resume: resumed');
  checkEqual(again.sessionID, first.sessionID, 'second resume: the same session');
  const texts = again.history.map((l) => `${l.inbound ? 'U' : 'A'}:${l.text}`);
  checkEqual(again.history.length, 5, `second resume: welcome + 2 exchanges in the history (${texts})`);
  checkEqual(again.lastAgentIndex, 4, 'second resume: the agent\'s last message is the last line');
  check(again.history[4].text.includes('premium plan'), 'second resume: the last agent message');
  checkEqual(again.welcome, null, 'second resume: no welcome (the last message is shown instead)');
  checkEqual(b.getState().sessionID, first.sessionID, 'getState().sessionID after resume');
  checkEqual(b.getState().resumed, true, 'getState().resumed after resume');
  checkEqual(again.omittedLines, 0, 'the whole history: nothing omitted');
  // Only the newest lines (what a widget shows), then the rest when asked for.
  const paged = await make({ storage }).resume({ metadata: { userName: 'Ada', plan: 'premium' }, historyLines: 2 });
  checkEqual(JSON.stringify(paged.history.map((l) => l.text)), JSON.stringify(again.history.slice(3).map((l) => l.text)), 'historyLines 2: the newest two lines');
  checkEqual(paged.omittedLines, 3, 'historyLines 2: the three older ones counted');
  // The history fetch goes out beside the session check, not after its reply (one round trip).
  const events = [];
  const recordingFetch = async (url, init) => {
    const what = `${init.method} ${new URL(url).pathname.split('/')[3]}`;
    events.push(`start ${what}`);
    const response = await fetch(url, init);
    events.push(`end ${what}`);
    return response;
  };
  const overlapped = await make({ storage, fetch: recordingFetch }).resume({ metadata: { userName: 'Ada', plan: 'premium' }, historyLines: 2 });
  checkEqual(overlapped.sessionID, first.sessionID, 'resume with the early history fetch: the same session');
  checkEqual(JSON.stringify(overlapped.history.map((l) => l.text)), JSON.stringify(paged.history.map((l) => l.text)), 'resume with the early history fetch: the same lines');
  checkEqual(JSON.stringify(events.slice(0, 2)), JSON.stringify(['start GET Session', 'start GET SessionChatLogs']), 'both requests start before either reply');
  checkEqual(events.length, 4, `two requests in all (${events})`);
  checkEqual(paged.lastAgentIndex, 1, 'historyLines 2: the agent\'s last message among them');
  // Sent before the client exists (a page whose SDK is still loading): resumeRequests() are
  // the requests the core starts this resume with, and resume({early}) uses their replies,
  // only for the very request the core asks for, sent as the client sends it.
  const ada = { metadata: { userName: 'Ada', plan: 'premium' }, historyLines: 2 };
  const plan = make({ storage }).resumeRequests(ada);
  checkEqual(JSON.stringify(plan.map((r) => JSON.parse(r.key))), JSON.stringify([
    { method: 'GET', path: `/memori/v2/Session/${first.sessionID}` },
    { method: 'GET', path: `/memori/v2/SessionChatLogs/${first.sessionID}/${first.sessionID}?chain=true&lastLines=2` },
  ]), 'resumeRequests(): the session check and the history fetch, as the core asks for them');
  checkEqual(plan[0].url, `${origin}${JSON.parse(plan[0].key).path}`, 'resumeRequests(): the URL');
  checkEqual(JSON.stringify(plan[0].init), JSON.stringify({ method: 'GET', credentials: 'omit', headers: { 'X-Parley-Public-Key': KEY } }),
             'resumeRequests(): fetch()\'s options, the public key with them');
  const send = (requests, change = (r) => r) => requests.map(change).map((r) => {
    const response = fetch(r.url, r.init);
    response.catch(() => {});  // an unused one may fail unobserved, as in the embed page
    return { ...r, response };
  });
  const resumeWith = async (options, early) => {
    events.length = 0;
    const r = await make({ storage, fetch: recordingFetch }).resume({ ...options, early });
    return { r, sent: events.filter((e) => e.startsWith('start')) };
  };
  let got = await resumeWith(ada, send(plan));
  checkEqual(got.r.earlyUsed, 2, 'the early replies of the same resume: both used');
  checkEqual(got.sent.length, 0, `and nothing sent again (${got.sent})`);
  checkEqual(JSON.stringify(got.r.history.map((l) => l.text)), JSON.stringify(paged.history.map((l) => l.text)), 'the early replies: the same lines');
  checkEqual(got.r.sessionID, first.sessionID, 'the early replies: the same session');
  // A changed page parameter (more lines): the check is the same request, the history is not.
  got = await resumeWith({ ...ada, historyLines: 3 }, send(plan));
  checkEqual(got.r.earlyUsed, 1, 'historyLines 3 with a plan for 2: only the session check used');
  checkEqual(JSON.stringify(got.sent), JSON.stringify(['start GET SessionChatLogs']), 'historyLines 3: the history fetched anew');
  checkEqual(got.r.history.length, 3, 'historyLines 3: three lines');
  // The same request sent otherwise (another public key, another host) is not used.
  got = await resumeWith(ada, send(plan, (r) => ({ ...r, init: { ...r.init, headers: { 'X-Parley-Public-Key': 'other-key' } } })));
  checkEqual(got.r.earlyUsed, 0, 'early requests sent with another public key: not used');
  checkEqual(got.sent.length, 2, 'the client sends its own');
  got = await resumeWith(ada, send(plan, (r) => ({ ...r, url: r.url.replace('127.0.0.1', 'localhost') })));
  checkEqual(got.r.earlyUsed, 0, 'early requests to another origin: not used');
  // Another session's requests (a wrong guess) are never used: the stored session is resumed.
  const other = await make({ storage: memoryStorage() }).resume({ metadata: { userName: 'Bob' } });
  const otherPlan = make({ storage }).resumeRequests({ ...ada, sessionId: other.sessionID });
  check(otherPlan.length === 2 && otherPlan[0].key.includes(other.sessionID), 'a plan for another session');
  got = await resumeWith(ada, send(otherPlan));
  checkEqual(got.r.earlyUsed, 0, 'another session\'s early replies: not used');
  checkEqual(got.r.sessionID, first.sessionID, 'another session\'s early replies: the stored session resumed');
  checkEqual(JSON.stringify(got.r.history.map((l) => l.text)), JSON.stringify(paged.history.map((l) => l.text)), 'another session\'s early replies: the stored session\'s lines');
  // Bob then Carol: Bob's stored session, Carol's page with Bob's early replies: a new
  // session of Carol's own, none of Bob's lines; and nothing to send early for her (she
  // starts by opening a session, which is never sent ahead).
  const shared = memoryStorage();
  const bob = await make({ storage: shared }).resume({ metadata: { userName: 'Bob' } });
  check(bob.welcome.includes('Bob'), 'Bob\'s welcome names him');
  const bobPlan = make({ storage: shared }).resumeRequests({ metadata: { userName: 'Bob' }, historyLines: 100 });
  check(bobPlan.length === 2 && bobPlan[0].key.includes(bob.sessionID), 'Bob\'s plan asks for his session');
  checkEqual(make({ storage: shared }).resumeRequests({ metadata: { userName: 'Carol' }, historyLines: 100 }).length, 0,
             'Carol: nothing to send early (her resume opens a session)');
  const carol = await make({ storage: shared }).resume({ metadata: { userName: 'Carol' }, historyLines: 100, early: send(bobPlan) });
  checkEqual(carol.earlyUsed, 0, 'Carol with Bob\'s early replies: none used');
  checkEqual(carol.resumed, false, 'Carol: a new session');
  check(carol.sessionID !== bob.sessionID, 'Carol: not Bob\'s session');
  check(!carol.history.some((l) => l.text.includes('Bob')) && carol.welcome.includes('Carol'), `Carol sees none of Bob's lines: ${JSON.stringify(carol.history)} ${carol.welcome}`);
  checkEqual(JSON.stringify((await b.history()).map((l) => l.text)), JSON.stringify(again.history.map((l) => l.text)), 'history(): the whole history');

  // --- a call continuing that session, speech from the "microphone" ----------------------------
  const framesBefore = await metric(host.url, 'parley_frames_in_binary_total');
  const bw = watch(b);
  await b.start({ agent: { agent_id: 'demo' }, metadata: { userName: 'Ada' },
                  session_continuation: { session_id: again.sessionID } });
  const ready = await bw.wait('onready');
  // One call, one session id (DESIGN §3): a new session that continues the text chat.
  const callId = ready.a[0].session_id;
  check(callId !== first.sessionID, 'onready: the call is a session of its own');
  checkEqual(ready.a[0].continuation, 'continued', 'onready: continuation');
  checkEqual(ready.a[0].continued_from, first.sessionID, 'onready: continued_from');
  checkEqual(b.getState().sessionID, callId, 'getState().sessionID: the call\'s id, in use now');
  checkEqual(b.getState().continuedFrom, first.sessionID, 'getState().continuedFrom');
  check(bw.names().startsWith('onopen,'), `onopen comes first (${bw.names()})`);
  await waitFor(async () => (await metric(host.url, 'parley_frames_in_binary_total')) - framesBefore >= 25,
                5000, '25 audio frames counted by the host');
  const ws = sockets.at(-1);
  const initiate = JSON.parse(ws.sentFrames[0]);
  checkEqual(initiate.method, 'initiate', 'first frame');
  checkEqual(JSON.stringify(initiate.data), JSON.stringify({
    public_key: KEY, agent: { agent_id: 'demo' }, metadata: { userName: 'Ada' },
    session_continuation: { session_id: first.sessionID },
  }), 'the initiate frame, in the Millis SDK\'s key order');
  const binary = ws.sentFrames.filter((f) => typeof f !== 'string');
  check(binary.every((f) => f.length === 640), 'every audio frame is 20 ms of PCM16 at 16 kHz (640 bytes)');
  check(binary.some((f) => f.some((x) => x !== 0)), 'the speech reaches the wire');
  checkEqual(b.getState().connection, 'ready', 'getState().connection in a call');

  // Text over the socket while the call is open.
  const mark = bw.events.length;
  await b.sendText('what is my name');
  await bw.wait('onresponsetext', finalText('Your name is Ada'), 5000, mark);
  check(ws.sentFrames.some((f) => typeof f === 'string' && JSON.parse(f).method === 'text'), 'the text went over the socket');

  // Mute: the frames keep flowing, all silence; unmute: speech again.
  b.mute();
  checkEqual(b.getState().muted, true, 'getState().muted');
  await sleep(100);
  const mutedFrom = ws.sentFrames.length;
  await sleep(400);
  const muted = ws.sentFrames.slice(mutedFrom).filter((f) => typeof f !== 'string');
  check(muted.length >= 10, `frames keep flowing while muted (${muted.length})`);
  check(muted.every((f) => f.every((x) => x === 0)), 'every frame sent while muted is silence');
  b.unmute();
  await sleep(150);
  const unmutedFrom = ws.sentFrames.length;
  await sleep(600);
  check(ws.sentFrames.slice(unmutedFrom).some((f) => typeof f !== 'string' && f.some((x) => x !== 0)),
        'speech again after unmute');
  await b.stop();
  const closed = await bw.wait('onclose');
  checkEqual(closed.a[0].code, 1000, 'stop(): onclose 1000');
  checkEqual(b.getState().sessionID, callId, 'getState().sessionID after the call: still the call\'s');
  check(fakeAudioClosed(b), 'stop() released the microphone');
  log('call, speech frames, text over the socket, mute: ok');

  // --- the Millis positional form: start(agentId, metadata) -------------------------------------
  const c = make({ storage: memoryStorage() });
  const cw = watch(c);
  await c.start('demo', { userName: 'Bo' });
  // Typed at once, before the server's onready: the SDK waits for it (the server refuses
  // text before onready with 4400).
  await c.sendText('what is my name');
  await cw.wait('onresponsetext', finalText('Your name is Bo'));
  check(!cw.find('onerror') && !cw.find('onclose'), `text sent before onready: no refusal (${cw.names()})`);
  await cw.wait('onready');
  checkEqual(JSON.stringify(JSON.parse(sockets.at(-1).sentFrames[0]).data),
             JSON.stringify({ public_key: KEY, agent: { agent_id: 'demo' }, metadata: { userName: 'Bo' } }),
             'start(agentId, metadata) on the wire');
  await cw.wait('onresponsetext', finalText('Hi Bo!'));
  await c.stop();
  await cw.wait('onclose');
  // start() at once after stop() is a new call on a new socket (no "call_busy", and the old
  // socket's late close does not end the new call).
  const firstReady = cw.find('onready');
  await c.start('demo', { userName: 'Bo' });
  await cw.wait('onready', (e) => e !== firstReady);
  await sleep(300);
  checkEqual(c.getState().connection, 'ready', 'the second call is still up after the first socket closed');
  await c.stop();

  // --- a dropped socket: reconnect and continue -------------------------------------------------
  const proxy = await startProxy(Number(new URL(host.url).port));
  cleanup(() => proxy.close());
  const d = make({
    storage: memoryStorage(), endPoint: `ws://127.0.0.1:${proxy.port}/v1/voice`,
    reconnect: { initialDelayMs: 100, maxDelayMs: 400, maxAttempts: 4, maxOutageMs: 5000 },
  });
  const dw = watch(d);
  await d.start('demo', { userName: 'Cy' });
  const r1 = await dw.wait('onready');
  const sid = r1.a[0].session_id;
  await sleep(300);
  const sentBefore = d.getStats().framesSent;
  proxy.cut();
  const rec = await dw.wait('onreconnecting');
  checkEqual(rec.a[0].attempt, 1, 'onreconnecting: first attempt');
  const r2 = await dw.wait('onready', (e) => e !== r1, 5000);
  checkEqual(r2.a[0].session_id, sid, 'after the drop: the same session goes on');
  checkEqual(r2.a[0].continuation, 'resumed', 'after the drop: continuation resumed');
  check(!dw.find('onclose'), `no onclose for a drop that was repaired (${dw.names()})`);
  check(!dw.find('onerror'), 'no onerror for a drop that was repaired');
  await sleep(400);
  const stats = d.getStats();
  check(stats.framesSent > sentBefore + 10, `frames flow again after the reconnect (${sentBefore} -> ${stats.framesSent})`);
  check(stats.framesDropped <= 30, `only the outage's frames were lost (${stats.framesDropped} dropped)`);
  check(JSON.parse(sockets.at(-1).sentFrames[0]).data.session_continuation.session_id === sid,
        'the reconnect continued the session by session_continuation');
  log(`reconnect: ok (${stats.framesDropped} frames of 20 ms dropped during the outage)`);

  // --- the server goes away for good: server_gone after the attempts ---------------------------
  proxy.refuse(true);
  proxy.cut();
  const gone = await dw.wait('onerror', () => true, 8000);
  checkEqual(gone.a[0].code, 'server_gone', `a server that stays away: ${gone.a[0].message}`);
  await dw.wait('onclose');
  check(dw.events.filter((e) => e.name === 'onreconnecting').length >= 3, 'it tried several times first');
  proxy.refuse(false);

  // --- refusals, each with its own code ---------------------------------------------------------
  const refused = async (what, client, start, code, closeCode) => {
    const w = watch(client);
    await start(client).catch(() => {});
    const error = await w.wait('onerror');
    checkEqual(error.a[0].code, code, `${what}: error code (${error.a[0].message})`);
    check(error.a[0].message.length > 20, `${what}: a plain message`);
    const close = await w.wait('onclose');
    if (closeCode) checkEqual(close.a[0].code, closeCode, `${what}: close code`);
  };
  await refused('bad key', make({ publicKey: 'wrong-key', storage: memoryStorage() }), (x) => x.start('demo'), 'bad_key', 4401);
  await refused('unknown agent', make({ storage: memoryStorage() }), (x) => x.start('no-such-agent'), 'unknown_agent', 4404);
  await refused('origin not allowed', make({ storage: memoryStorage(), WebSocket: recordingSocket('http://evil.test', []) }),
                (x) => x.start('demo'), 'origin_not_allowed', 4403);
  await refused('nothing listening', make({ storage: memoryStorage(), endPoint: `ws://127.0.0.1:${await closedPort()}/v1/voice` }),
                (x) => x.start('demo'), 'server_gone', null);
  const resumeError = async (what, client, options, code) => {
    let error = null;
    try {
      await client.resume(options);
    } catch (e) {
      error = e;
    }
    check(error, `${what}: resume() should fail`);
    checkEqual(error.code, code, `${what}: resume() error code (${error.message})`);
  };
  await resumeError('REST unknown agent', make({ storage: memoryStorage() }), { agentId: 'no-such-agent' }, 'unknown_agent');
  const evilFetch = (url, init) => fetch(url, { ...init, headers: { ...(init.headers || {}), Origin: 'http://evil.test' } });
  await resumeError('REST origin not allowed', make({ storage: memoryStorage(), fetch: evilFetch }), {}, 'origin_not_allowed');
  await resumeError('REST nothing listening', make({ storage: memoryStorage(), apiBase: `http://127.0.0.1:${await closedPort()}` }),
                    {}, 'server_gone');
  log('refusals: ok');
});

function fakeAudioClosed(client) {
  return client._audio === null;
}

// A loopback port with nothing listening on it (bound, then released).
async function closedPort() {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}
