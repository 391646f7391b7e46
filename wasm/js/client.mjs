// The SDK client: the Millis web SDK's API (createClient, start, stop, mute, unmute, on/off,
// the same event names and arguments) over the wasm core, plus ours: sendText, getState,
// resume. The core decides everything (protocol, call state, errors, reconnects, sessions);
// this file owns what only a browser has: the WebSocket, fetch, timers, the microphone.
import * as M from './core.mjs';
import { openBrowserAudio } from './audio.mjs';
import { ParleyError, clientError, isOnline } from './errors.mjs';
import { browserStorage } from './storage.mjs';
import { WORKLET_FILE } from './files.mjs';

const OUT_TEXT = 0;
const OUT_CLOSE = 2;
const REST_TIMEOUT_MS = 15000;
const CONNECT_TIMEOUT_MS = 10000;  // the WebSocket handshake (the core's Call has no clock)

function fail(errorJson) {
  const e = JSON.parse(errorJson).error;
  return new ParleyError(e.code, e.message);
}

function argJson(value) {
  return value === undefined || value === null ? '' : JSON.stringify(value);
}

// ws(s)://host/v1/voice -> http(s)://host (the Memori API lives at the root of that origin).
function apiBaseFrom(endPoint) {
  const u = new URL(endPoint);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  return u.origin;
}

function defaultEndPoint() {
  if (typeof location === 'undefined' || !/^https?:$/.test(location.protocol)) return null;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/voice`;
}

// The wasm side of a client is freed when the client is garbage-collected (the Millis API has
// no destroy()).
const finalizer = typeof FinalizationRegistry !== 'undefined'
  ? new FinalizationRegistry((core) => { try { core.delete(); } catch { /* already freed */ } })
  : null;

export class Client {
  constructor(config = {}) {
    if (!config || typeof config !== 'object') throw new ParleyError('config_invalid', 'createClient needs a config object');
    const endPoint = config.endPoint || defaultEndPoint();
    if (!endPoint || !/^wss?:\/\//i.test(endPoint))
      throw new ParleyError('config_invalid', 'endPoint must be a ws:// or wss:// URL, e.g. wss://host/v1/voice');
    this._config = config;
    this._endPoint = endPoint;
    this._apiBase = (config.apiBase || apiBaseFrom(endPoint)).replace(/\/+$/, '');
    this._integrationId = config.integrationId || '';
    this._debug = !!config.debug;
    this._WebSocket = config.WebSocket || globalThis.WebSocket;
    this._fetch = config.fetch || globalThis.fetch.bind(globalThis);
    this._workletUrl = config.workletUrl || new URL(WORKLET_FILE, import.meta.url).href;
    this._openAudio = config.audio || ((client) => openBrowserAudio(client, this._workletUrl));
    this._store = config.storage || browserStorage();
    this._core = new M.ClientCore(this._store, JSON.stringify({
      publicKey: config.publicKey,
      integrationId: this._integrationId,
      pingIntervalMs: config.pingIntervalMs,
      reconnect: config.reconnect,
    }));
    const problem = this._core.configError();
    if (problem) {
      this._core.delete();
      throw fail(problem);
    }
    if (finalizer) finalizer.register(this, this._core);
    this._h = this._core.h;
    this._capturePtr = M.raw.captureBuffer(this._h);
    this._renderPtr = M.raw.renderBuffer(this._h);
    this._incomingPtr = M.raw.incomingBuffer(this._h);
    this._metersPtr = M.raw.meters(this._h);
    this._listeners = new Map();
    this._ws = null;
    this._audio = null;
    this._ticker = null;
    this._reconnectTimer = null;
    this._session = null;  // {id, agentId}: the session in use (resume() or the last onready)
    this._agentId = config.agentId || null;
    this._captureLostMs = 0;
  }

  // ---- events (eventemitter3's on / off / once / removeAllListeners) ----
  on(event, fn) {
    if (!this._listeners.has(event)) this._listeners.set(event, []);
    this._listeners.get(event).push({ fn, once: false });
    return this;
  }
  once(event, fn) {
    this.on(event, fn);
    this._listeners.get(event).at(-1).once = true;
    return this;
  }
  off(event, fn) {
    const list = this._listeners.get(event);
    if (!list) return this;
    const kept = fn ? list.filter(l => l.fn !== fn) : [];
    if (kept.length) this._listeners.set(event, kept);
    else this._listeners.delete(event);
    return this;
  }
  removeAllListeners(event) {
    if (event === undefined) this._listeners.clear();
    else this._listeners.delete(event);
    return this;
  }
  emit(event, ...args) {
    const list = this._listeners.get(event);
    if (!list) return false;
    for (const l of [...list]) {
      if (l.once) this.off(event, l.fn);
      try {
        l.fn(...args);
      } catch (error) {
        // A listener's bug must not break the call; report it where a developer looks.
        console.error(`Parley: a listener of ${event} threw`, error);
      }
    }
    return true;
  }
  _log(...parts) {
    if (this._debug) console.log('[parley]', ...parts);
  }

  // ---- the call ----

  // start(agentId | agentConfig | {agent, metadata, include_metadata_in_prompt,
  // session_continuation}, metadata?, includeMetadataInPrompt?), as the Millis SDK takes it:
  // the microphone first, then the socket. Resolves once the socket is being opened;
  // onready follows (or onerror + onclose).
  async start(payload, metadata, includeMetadataInPrompt) {
    if (this._audio || this._ws || this._reconnectTimer || this._opening)
      throw new ParleyError('call_busy', 'a call is already running: stop() it first');
    const args = [argJson(payload), argJson(metadata), argJson(includeMetadataInPrompt)];
    const bad = M.checkStart(...args);
    if (bad) throw fail(bad);
    this._opening = true;
    try {
      this._audio = await this._openAudio(this);
    } catch (error) {
      const e = error instanceof ParleyError ? error : clientError('unsupported', '', error && error.message);
      this.emit('onerror', e);
      throw e;
    } finally {
      this._opening = false;
    }
    const started = this._core.start(...args, Date.now());
    if (started) {
      this._audio.close();
      this._audio = null;
      throw fail(started);
    }
    const audioOk = this._core.audioStart(this._audio.sampleRate);
    if (audioOk) {
      this._audio.close();
      this._audio = null;
      this._core.stop(Date.now());
      this._pump();
      throw fail(audioOk);
    }
    if (typeof payload === 'string') this._agentId = payload;
    else if (payload && payload.agent && payload.agent.agent_id) this._agentId = payload.agent.agent_id;
    this._ticker = setInterval(() => { this._core.tick(Date.now()); this._pump(); }, 1000);
    this._openSocket();
  }

  async stop() {
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    const ws = this._ws;
    this._core.stop(Date.now());
    this._pump();  // sends the close frame
    if (ws && this._ws === ws) {
      // The call is over now, not when the server's close frame comes back: a start() right
      // after stop() gets a new socket (the old one's late onclose is ignored).
      this._ws = null;
      this._core.onClose(1000, 'client stopped the call', Date.now(), 0.5, true);
      this._pump();
    }
    this._endAudio();
  }

  mute() {
    this._core.setMuted(true);
  }
  unmute() {
    this._core.setMuted(false);
  }

  // A typed message. With a call open it goes over the voice socket (the `text` extension) and
  // the answer comes as onresponsetext; otherwise over the Memori REST API in the session in
  // use (from resume() or the last call), and the answer is emitted as onresponsetext too.
  async sendText(text) {
    if (typeof text !== 'string' || !text.trim()) throw new ParleyError('bad_value', 'text must be a non-empty string');
    let connection = JSON.parse(this._core.snapshot()).connection;
    if (connection === 'connecting' || connection === 'open' || connection === 'reconnecting') {
      // A call on its way: the server takes typed text only after its onready.
      await new Promise((resolve) => {
        const done = () => { clearTimeout(timer); this.off('onready', done); this.off('onclose', done); resolve(); };
        const timer = setTimeout(done, 10000);
        this.on('onready', done);
        this.on('onclose', done);
      });
      connection = JSON.parse(this._core.snapshot()).connection;
    }
    if (connection === 'ready') {
      const sent = this._core.sendText(text, Date.now());
      this._pump();
      if (sent) throw fail(sent);
      return;
    }
    if (!this._session) await this.resume();
    let reply = await this._textOverRest(text);
    if (reply.expired) {  // the session went meanwhile: the resume flow opens a new one
      await this.resume();
      reply = await this._textOverRest(text);
    }
    if (reply.error) throw ParleyError.from(reply.error);
    this._touch();
    this.emit('onresponsetext', reply.text, { is_final: true });
  }

  async _textOverRest(text) {
    const request = JSON.parse(M.textRequest(this._session.id, text));
    if (request.error) throw ParleyError.from(request.error);
    const response = await this._http(request);
    if (response.transportError) throw this._unreachable(response.transportError);
    return JSON.parse(M.textReply(response.status, response.body));
  }

  // ---- sessions (DESIGN §5) ----

  // resume(integrationId?) or resume({integrationId, agentId, sessionId, metadata, windowMs,
  // historyLines}) (historyLines: fetch only the newest lines of the history; `omittedLines`
  // in the result counts the older ones, which history() fetches):
  // finds the session to go on with (the URL's, else the stored one), checks it with the
  // server, and returns {sessionID, resumed, history, lastAgentIndex, welcome, continuedFrom}.
  // A session that is no longer valid is replaced by a new one (continuing the old where it
  // is retained), whose welcome message comes back in `welcome`.
  //
  // options.early: replies to requests sent before this client existed (a page that sends
  // them while the SDK loads: resumeRequests()), [{key, url, init, response: Promise<Response>}].
  // One is used only for the request the core asks for now, sent as this client would send it
  // (the same request text, URL and fetch options); the rest are dropped unread. `earlyUsed`
  // in the result counts the ones used.
  async resume(options = {}) {
    if (typeof options === 'string') options = { integrationId: options };
    const { integrationId, agentId, input } = this._resumeInput(options);
    this._agentId = agentId;
    const flow = new M.ResumeFlow(this._store, input);
    try {
      const earlyUsed = await this._drive(flow, options.early);
      const outcome = JSON.parse(flow.outcome());
      const lines = outcome.kind === 'failed' ? [] : flow.lines();
      for (const warning of JSON.parse(flow.warnings())) this._log('resume:', warning.code, warning.message);
      if (outcome.kind === 'failed') {
        if (outcome.transport) throw this._unreachable(outcome.error.message);
        throw ParleyError.from(outcome.clientError || outcome.error);
      }
      const result = outcome.kind === 'resumed'
        ? { sessionID: outcome.sessionID, resumed: true, history: lines,
            lastAgentIndex: outcome.lastAgentIndex, welcome: null, continuedFrom: null }
        : { sessionID: outcome.sessionID, resumed: false, history: lines,
            lastAgentIndex: null, welcome: outcome.welcome, continuedFrom: outcome.continuedFrom,
            reason: outcome.reason };
      if (outcome.historyError) result.historyError = outcome.historyError;
      result.omittedLines = outcome.omittedLines || 0;
      result.earlyUsed = earlyUsed;
      this._session = { id: result.sessionID, agentId };
      if (integrationId === this._integrationId)
        this._core.setOrigin(result.resumed, outcome.stored, result.continuedFrom || '', result.sessionID, outcome.identity);
      return result;
    } finally {
      flow.delete();
    }
  }

  // The resume flow's input (the core's ResumeBridge reads it) for resume(options).
  _resumeInput(options) {
    const integrationId = options.integrationId ?? this._integrationId;
    const stored = JSON.parse(M.stateOf(this._store, integrationId));
    const agentId = options.agentId || this._agentId || stored.agentID;
    if (!agentId) throw new ParleyError('config_invalid', 'resume() needs an agentId (in createClient or in its options)');
    return {
      integrationId,
      agentId,
      input: JSON.stringify({
        integrationId,
        agentId,
        sessionId: options.sessionId || null,
        metadata: options.metadata || null,
        identityKeys: options.identityKeys ?? null,
        additionalInfo: options.additionalInfo || null,
        windowMs: options.windowMs || null,
        historyLines: options.historyLines || null,
      }),
    };
  }

  // The requests resume(options) would start with if it ran now, as the core decides them
  // (its ResumeFlow: the session check, and the history fetch it sends beside it), each as
  // {key, url, init}: the core's request text, and what fetch() is given for it. Only reads:
  // [] when the flow would start by opening a session (a POST is never sent ahead). For a page
  // that sends them on its next load while the SDK is still loading, and hands the replies to
  // resume() as `early`.
  resumeRequests(options = {}) {
    if (typeof options === 'string') options = { integrationId: options };
    const flow = new M.ResumeFlow(this._store, this._resumeInput(options).input);
    try {
      const first = flow.start(Date.now());
      const keys = first ? [first, flow.likelyNext()].filter(Boolean) : [];
      if (!keys.every((key) => JSON.parse(key).method === 'GET')) return [];
      return keys.map((key) => ({ key, ...this._fetchArgs(JSON.parse(key)) }));
    } finally {
      flow.delete();
    }
  }

  // Runs a ResumeFlow to its end: each request it asks for, sent, and its reply handed back.
  // The history fetch that a valid session leads to goes out beside the session check (a read
  // with no effect on the server): one round trip instead of two on a resumed page. Its reply
  // is used only if the flow asks for exactly that request, and is fed in the flow's order.
  // `early` (resume()'s option): replies to requests sent before the flow existed, used the
  // same way, and only if they were sent exactly as this client sends that request. Returns
  // how many early replies were used.
  async _drive(flow, early = []) {
    const sentEarly = new Map();
    for (const e of Array.isArray(early) ? early : []) {
      if (!e || typeof e.key !== 'string' || !e.response || typeof e.response.then !== 'function') continue;
      let request;
      try {
        request = JSON.parse(e.key);
      } catch {
        continue;
      }
      // Sent as this client would send that request, or not used.
      const own = this._fetchArgs(request);
      if (e.url !== own.url || JSON.stringify(e.init) !== JSON.stringify(own.init)) continue;
      sentEarly.set(e.key, e.response);
    }
    let used = 0;
    const takeEarly = (request) => {
      const response = sentEarly.get(request);
      if (!response) return null;
      sentEarly.delete(request);
      ++used;
      return this._settle(response, null);
    };
    let next = flow.start(Date.now());
    let pending = next ? (takeEarly(next) || this._http(JSON.parse(next))) : null;  // sent first, the check
    const likely = next ? flow.likelyNext() : '';
    let beside = likely ? { request: likely, reply: takeEarly(likely) || this._http(JSON.parse(likely)) } : null;
    while (next) {
      let response;
      if (pending) {
        response = await pending;
        pending = null;
      } else if (beside && beside.request === next) {
        response = await beside.reply;
        beside = null;
      } else {
        response = await (takeEarly(next) || this._http(JSON.parse(next)));
      }
      next = response.transportError
        ? flow.onTransportError(response.transportError, Date.now())
        : flow.onResponse(response.status, response.body, Date.now());
    }
    return used;
  }

  // The whole history of the session in use, [{text, inbound, timestamp, earlier, emitter?}]
  // oldest first: for a page that resumed with `historyLines` and is asked for the older
  // lines (`omittedLines` of them come first).
  async history() {
    if (!this._session) throw new ParleyError('no_session', 'history() needs a session: call resume() first');
    const flow = new M.ResumeFlow(this._store, JSON.stringify({ historyOf: this._session.id }));
    try {
      await this._drive(flow);
      const outcome = JSON.parse(flow.outcome());
      if (outcome.kind === 'failed') {
        if (outcome.transport) throw this._unreachable(outcome.error.message);
        throw ParleyError.from(outcome.error);
      }
      return flow.lines();
    } finally {
      flow.delete();
    }
  }

  // A site's logout (DESIGN §5 step 6): ends the call, forgets the session stored for this
  // client's integration and the session in use; the next resume() starts a new one.
  async logout() {
    await this.stop();
    M.forget(this._store, this._integrationId);
    this._session = null;
    this._core.setOrigin(false, true, '', '', '');
  }

  // getState(integrationId?): {integrationID, sessionID, agentID, connection, agentState,
  // muted, resumed, continuedFrom, lastActivity}.
  getState(integrationId) {
    return JSON.parse(this._core.state(integrationId ?? this._integrationId));
  }

  // Frame counters and levels, for tests and diagnostics.
  getStats() {
    const m = M.heapF32().subarray(this._metersPtr >> 2, (this._metersPtr >> 2) + 9);
    const snap = JSON.parse(this._core.snapshot());
    return {
      ...snap,
      inputRmsDbfs: m[0], inputPeakDbfs: m[1], outputRmsDbfs: m[2], outputPeakDbfs: m[3],
      speaking: m[4] > 0,
      bufferedMs: this._audio ? (1000 * M.raw.queued(this._h)) / this._audio.sampleRate : 0, underruns: m[6], framesSent: m[7], framesDropped: m[8],
      sampleRate: this._audio ? this._audio.sampleRate : null,
      captureLostMs: this._captureLostMs,
    };
  }

  // ---- the socket ----

  _openSocket() {
    let ws;
    try {
      ws = new this._WebSocket(this._endPoint);
    } catch (error) {
      this._core.onClose(1006, String(error && error.message), Date.now(), Math.random(), isOnline());
      this._pump();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this._ws = ws;
    // A handshake that hangs is a failed attempt: closing a CONNECTING socket fires its
    // onclose with 1006, which the core reads as "could not connect" (or the next retry).
    const timer = setTimeout(() => { if (ws.readyState === 0) ws.close(); }, CONNECT_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(timer);
      if (this._ws !== ws) return;
      this._core.onOpen(Date.now());
      this._pump();
    };
    ws.onmessage = (event) => {
      if (this._ws !== ws) return;
      const now = Date.now();
      if (typeof event.data === 'string') {
        this._core.onText(event.data, now);
      } else {
        const bytes = new Uint8Array(event.data);
        if (this._listeners.has('onaudio')) this.emit('onaudio', bytes);
        if (bytes.length <= 65536) M.heapU8().set(bytes, this._incomingPtr);
        this._core.onBinary(bytes.length, now);
      }
      this._pump();
    };
    ws.onerror = () => {
      if (this._ws !== ws) return;
      this._core.onSocketError(Date.now());
      this._pump();
    };
    ws.onclose = (event) => {
      clearTimeout(timer);
      if (this._ws !== ws) return;
      this._ws = null;
      this._core.onClose(event.code, event.reason || '', Date.now(), Math.random(), isOnline());
      this._pump();
    };
  }

  // Sends what the core queued, then emits what it has to say.
  _pump() {
    for (const { kind, text: frameText, bytes, code } of this._core.takeOutgoing()) {
      const ws = this._ws;
      if (kind === OUT_CLOSE) {
        if (ws) {
          ws.close(code, frameText);
        } else {
          // No socket yet (stopped while connecting): the close is immediate.
          queueMicrotask(() => { this._core.onClose(1000, 'client stopped the call', Date.now(), 0.5, true); this._pump(); });
        }
      } else if (ws && ws.readyState === 1) {
        ws.send(kind === OUT_TEXT ? frameText : bytes);
      }
    }
    const text = this._core.takeEvents();
    if (text === '[]') return;
    for (const { type, args } of JSON.parse(text)) this._handle(type, args);
  }

  _handle(type, args) {
    this._log(type, ...args);
    switch (type) {
      case 'playback':
        if (this._audio && this._audio.command) this._audio.command(args[0]);
        return;
      case 'onready':
        if (this._agentId) this._session = { id: args[0].session_id, agentId: this._agentId };
        break;
      case 'onreconnecting':
        clearTimeout(this._reconnectTimer);
        this._reconnectTimer = setTimeout(() => {
          this._reconnectTimer = null;
          if (this._core.reconnect(Date.now())) this._openSocket();
        }, args[0].delay_ms);
        break;
      case 'onclose':
        this._endAudio();
        break;
      case 'onerror':
        this.emit('onerror', ParleyError.from(args[0]));
        return;
      default:
        break;
    }
    this.emit(type, ...args);
  }

  _endAudio() {
    clearInterval(this._ticker);
    this._ticker = null;
    if (this._audio) {
      this._audio.close();
      this._audio = null;
      this._core.audioStop();
    }
  }

  // ---- audio (called by the audio device) ----

  // `block` holds `count` microphone samples at the context rate.
  _capture(block, count) {
    M.heapF32().set(block, this._capturePtr >> 2);
    M.raw.capture(this._h, count, Date.now());
    this._pump();
    if (this._listeners.has('onlevel')) {
      const m = M.heapF32().subarray(this._metersPtr >> 2, (this._metersPtr >> 2) + 5);
      const level = (db) => Math.max(0, Math.min(1, (db + 60) / 60));
      this.emit('onlevel', { input: level(m[0]), output: level(m[2]), speaking: m[4] > 0 });
    }
  }

  // The audio thread could not keep `ms` of microphone audio (the page's main thread held on to
  // every capture buffer): said, never silent.
  _captureLost(ms) {
    this._captureLostMs += ms;
    this.emit('onwarning', {
      code: 'audio_lost',
      message: `${Math.round(ms)} ms of microphone audio were lost: the page was too busy to take them`,
    });
  }

  _playbackDrained() {
    this._core.playbackDrained(Date.now());
    this._pump();
  }

  _touch() {
    this._core.noteActivity(Date.now());  // a REST exchange is activity too
  }

  // ---- REST ----

  _unreachable(detail) {
    return clientError('unreachable', isOnline() ? 'online' : 'offline', detail);
  }

  // What fetch() is given for a request of the core's, {method, path, body?}: {url, init}.
  _fetchArgs(request) {
    // The public key binds the sessions this client opens and reaches them (README, Security).
    const init = { method: request.method, credentials: 'omit', headers: { 'X-Parley-Public-Key': this._config.publicKey } };
    if (request.body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    return { url: this._apiBase + request.path, init };
  }

  // {method, path, body?} -> {status, body} or {transportError}.
  _http(request) {
    const controller = typeof AbortController !== 'undefined' ? new AbortController() : null;
    const { url, init } = this._fetchArgs(request);
    if (controller) init.signal = controller.signal;
    let response;
    try {
      response = this._fetch(url, init);
    } catch (error) {
      response = Promise.reject(error);
    }
    return this._settle(response, controller);
  }

  // A fetch's Response (a promise of one) -> {status, body} or {transportError}, given up on
  // (and aborted, with a controller) after REST_TIMEOUT_MS.
  async _settle(pending, controller) {
    let timer;
    const timedOut = new Promise((resolve, reject) => {
      timer = setTimeout(() => {
        if (controller) controller.abort();
        reject(new Error(`no reply in ${REST_TIMEOUT_MS / 1000} s`));
      }, REST_TIMEOUT_MS);
    });
    try {
      const response = await Promise.race([pending, timedOut]);
      return { status: response.status, body: await Promise.race([response.text(), timedOut]) };
    } catch (error) {
      return { transportError: (error && error.message) || String(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}
