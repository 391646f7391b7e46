// The embed page (/embed?id=AGENT&k=KEY&...): reads its own URL through the core into
// metadata, runs the resume flow (DESIGN §5), and offers voice (microphone button, mute,
// level animation), a text box and the transcript. Everything it does goes through the SDK;
// text is only ever set as textContent, never as HTML.
//
// The host page (the loader, /embed.js) learns the widget's state by postMessage, sent only
// to the origin the loader put in this page's fragment (#origin=...): a page that frames the
// widget without being that origin receives nothing (and /embed's CSP frame-ancestors keeps
// out pages the agent does not allow at all).
import Parley from '/sdk/parley.mjs';

// Where a page load's time goes, for bench/widget (User Timing marks; nothing else reads them).
performance.mark('parley:sdk-ready');

// What embed-early.js (the page's first script) sent while the SDK loaded: replies the resume
// may use. The plan it sent them by is kept under EARLY_KEY, for this address only.
const EARLY_KEY = 'parley.early';
const pageAddress = location.href.split('#')[0];
const early = Array.isArray(self.parleyEarly) ? self.parleyEarly : [];

// What this page's next load sends early: the requests the core would start the same resume
// with now. Not kept for a page that logs out (its next load forgets what is stored first).
function keepEarlyPlan(options) {
  try {
    if (config.logout) return;
    localStorage.setItem(EARLY_KEY, JSON.stringify({ v: 1, page: pageAddress, requests: client.resumeRequests(options) }));
  } catch { /* no localStorage: the next load just waits for the SDK */ }
}

function forgetEarlyPlan() {
  try {
    localStorage.removeItem(EARLY_KEY);
  } catch { /* nothing kept */ }
}

const $ = (id) => document.getElementById(id);
const ui = {
  widget: $('widget'), title: $('title'), status: $('status'), transcript: $('transcript'),
  error: $('error'), announcer: $('announcer'), form: $('composer'), mic: $('mic'),
  micLabel: $('mic-label'), mute: $('mute'), text: $('text'), send: $('send'),
};

const parentOrigin = (() => {
  const m = /(?:^#|&)origin=([^&]*)/.exec(location.hash);
  if (!m || window.parent === window) return null;
  try {
    return new URL(decodeURIComponent(m[1])).origin;
  } catch {
    return null;
  }
})();

let config = null;
let client = null;
let sessionId = null;
let voice = 'idle';      // idle | connecting | live | reconnecting
let agentState = 'idle';
let pendingAgent = null; // the agent bubble being streamed
let pendingUser = null;  // the user's speech being transcribed
let typing = null;       // the "agent is thinking" dots
let lastPosted = '';

function setStatus(text) {
  if (ui.status.textContent !== text) ui.status.textContent = text;
}

function showError(error) {
  ui.error.textContent = error && error.message ? error.message : String(error);
  ui.error.hidden = false;
  ui.error.dataset.code = (error && error.code) || 'error';
  scrollDown();  // the transcript just got shorter: keep its last line in view
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = '';
  delete ui.error.dataset.code;
}

function scrollDown() {
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

function lineElement(text, who, extra) {
  const li = document.createElement('li');
  li.className = ['msg', who, ...extra].join(' ');
  li.textContent = text;
  return li;
}

let current = null;      // the resumed conversation's last agent message, highlighted
function addLine(text, who, extra = []) {
  // It stays highlighted until the talk moves on.
  if (current) {
    current.classList.remove('current');
    current = null;
  }
  const li = lineElement(text, who, extra);
  ui.transcript.append(li);
  scrollDown();
  return li;
}

function divider(text) {
  const li = document.createElement('li');
  li.className = 'divider';
  li.textContent = text;
  return li;
}

function announce(text) {
  ui.announcer.textContent = '';
  // A fresh text node, so that a repeated message is announced again.
  requestAnimationFrame(() => { ui.announcer.textContent = text; });
}

function showTyping(on) {
  if (on && !typing) {
    typing = document.createElement('li');
    typing.className = 'typing';
    typing.setAttribute('aria-hidden', 'true');
    typing.append(document.createElement('span'), document.createElement('span'), document.createElement('span'));
    ui.transcript.append(typing);
    scrollDown();
  } else if (!on && typing) {
    typing.remove();
    typing = null;
  }
}

function agentText(text, final) {
  showTyping(false);
  if (!final) {
    if (!pendingAgent) pendingAgent = addLine('', 'agent', ['pending']);
    pendingAgent.textContent += text;
    scrollDown();
    return;
  }
  if (pendingAgent) {
    pendingAgent.textContent = text;
    pendingAgent.classList.remove('pending');
    pendingAgent = null;
  } else {
    addLine(text, 'agent');
  }
  announce(`Agent: ${text}`);
  // A typed answer with no voice after it (a host without speech synthesis) leaves the agent
  // "preparing" in the call's state: the status goes back to listening.
  if (voice === 'live' && agentState === 'prepare_answer') setStatus(isMuted() ? 'Muted' : 'Listening');
  postState();
}

function isMuted() {
  return ui.mute.getAttribute('aria-pressed') === 'true';
}

function userSpeech(text, final) {
  if (!pendingUser) pendingUser = addLine('', 'user', ['pending']);
  pendingUser.textContent = text;
  if (final) {
    pendingUser.classList.remove('pending');
    pendingUser = null;
  }
  scrollDown();
}

function setVoice(state) {
  voice = state;
  const mic = ui.mic;
  mic.classList.toggle('connecting', state === 'connecting' || state === 'reconnecting');
  mic.setAttribute('aria-pressed', String(state === 'live' || state === 'reconnecting'));
  const labels = {
    idle: ['Start voice', 'Start a voice conversation'],
    connecting: ['Connecting…', 'Connecting the voice conversation'],
    live: ['Stop', 'Stop the voice conversation'],
    reconnecting: ['Stop', 'Reconnecting; press to stop the voice conversation'],
  };
  ui.micLabel.textContent = labels[state][0];
  mic.setAttribute('aria-label', labels[state][1]);
  mic.setAttribute('aria-busy', String(state === 'connecting'));
  ui.mute.hidden = state === 'idle' || state === 'connecting';
  if (state === 'idle') {
    setMuted(false);
    mic.style.setProperty('--level', '0');
    ui.widget.classList.remove('speaking');
  }
  setStatus({ idle: 'Ready', connecting: 'Connecting…', live: 'Listening', reconnecting: 'Reconnecting…' }[state]);
  postState();
}

function setMuted(muted) {
  ui.mute.setAttribute('aria-pressed', String(muted));
  ui.mute.setAttribute('aria-label', muted ? 'Unmute the microphone' : 'Mute the microphone');
  ui.mute.title = muted ? 'Unmute' : 'Mute';
  ui.mic.classList.toggle('muted', muted);
  if (client) {
    if (muted) client.mute();
    else client.unmute();
  }
  if (voice === 'live') setStatus(muted ? 'Muted' : 'Listening');
  postState();
}

function postState() {
  if (!parentOrigin || !client) return;
  const state = client.getState();
  const text = JSON.stringify(state);
  if (text === lastPosted) return;
  lastPosted = text;
  window.parent.postMessage({ type: 'parley:state', state }, parentOrigin);
}

window.addEventListener('message', (event) => {
  // The loader asks for the current state when it starts listening.
  if (event.origin !== parentOrigin || event.source !== window.parent) return;
  if (event.data && event.data.type === 'parley:hello') {
    lastPosted = '';
    postState();
  } else if (event.data && event.data.type === 'parley:logout' && client) {
    logout();
  }
});

// The site's logout (window.Parley.logout() on its page): the call ends, the stored session is
// forgotten, and the widget starts over with a new conversation.
async function logout() {
  forgetEarlyPlan();
  await client.logout();
  setVoice('idle');
  clearError();
  past = [];
  omitted = 0;
  current = null;
  moreItem = null;
  ui.transcript.replaceChildren();
  await openSession({ fresh: true });
}

// The transcript of a resumed conversation: only its latest PAGE lines are fetched and put on
// the page, built off-document and inserted at once (one style and layout pass for the whole
// page, and one scroll), however long the history. "Show earlier" fetches the older lines
// the first time it is pressed, and puts the PAGE lines before those shown in front the same
// way, keeping what is on screen where it was.
const PAGE = 100;
let past = [];           // the resumed lines, oldest first
let omitted = 0;         // older lines not fetched yet (they come before past[0])
let shownFrom = 0;       // past[shownFrom..] are on the page
let resumeInfo = null;
let moreItem = null;     // the "Show earlier" list item, first in the transcript

// The divider that goes before past[i], or null (none, or not known yet: the line before it
// has not been fetched).
function dividerBefore(i) {
  const line = past[i];
  const before = past[i - 1];
  if (!before && omitted > 0) return null;
  if (line.earlier && (!before || !before.earlier)) return divider('Earlier conversation');
  if (!line.earlier && before && before.earlier) return divider('Today');
  return null;
}

// Lines past[from..to) with their dividers, as a fragment.
function historyFragment(from, to) {
  const fragment = document.createDocumentFragment();
  for (let i = from; i < to; ++i) {
    const line = past[i];
    const d = dividerBefore(i);
    if (d) fragment.append(d);
    const extra = [];
    if (line.earlier) extra.push('earlier');
    const li = lineElement(line.text, line.inbound ? 'user' : 'agent', extra);
    if (resumeInfo.resumed && i === resumeInfo.lastAgentIndex) {
      li.classList.add('current');
      current = li;
    }
    fragment.append(li);
  }
  return fragment;
}

function updateMore() {
  if (shownFrom + omitted === 0) {
    if (moreItem) moreItem.remove();
    moreItem = null;
    return;
  }
  if (!moreItem) {
    moreItem = document.createElement('li');
    moreItem.className = 'more';
    const button = document.createElement('button');
    button.type = 'button';
    button.addEventListener('click', showEarlier);
    moreItem.append(button);
  }
  moreItem.firstChild.textContent = `Show earlier (${shownFrom + omitted})`;
  if (ui.transcript.firstChild !== moreItem) ui.transcript.prepend(moreItem);
}

async function showEarlier() {
  let boundary = null;
  if (shownFrom === 0 && omitted > 0) {
    const button = moreItem.firstChild;
    button.disabled = true;
    try {
      // Lines are only ever added at the end: the first `omitted` of the whole history are
      // the ones not fetched at load (later lines may have come since).
      const older = (await client.history()).slice(0, omitted);
      if (older.length !== omitted) throw new Error('the conversation changed; reload to see its start');
      past = older.concat(past);
      shownFrom = omitted;
      if (resumeInfo.lastAgentIndex !== null) resumeInfo.lastAgentIndex += omitted;
      omitted = 0;
      // The first line shown so far was put there without the line before it.
      boundary = dividerBefore(shownFrom);
    } catch (error) {
      showError(error);
      return;
    } finally {
      button.disabled = false;
    }
  }
  const from = Math.max(0, shownFrom - PAGE);
  const box = ui.transcript;
  const height = box.scrollHeight;
  const top = box.scrollTop;
  const fragment = historyFragment(from, shownFrom);
  if (boundary) fragment.append(boundary);
  shownFrom = from;
  (moreItem ? moreItem.nextSibling : box.firstChild).before(fragment);
  updateMore();
  box.scrollTop = top + (box.scrollHeight - height);  // what was on screen stays there
  if (!moreItem) box.focus();                          // the button went: keep the focus inside
}

function renderResume(r) {
  ui.transcript.setAttribute('aria-busy', 'true');
  past = r.history || [];
  omitted = r.omittedLines || 0;
  resumeInfo = r;
  shownFrom = Math.max(0, past.length - PAGE);
  const fragment = historyFragment(shownFrom, past.length);
  if (r.resumed) {
    // The agent's last message is already in the history: marked as the current one and
    // announced, never added a second time.
    if (r.lastAgentIndex !== null && past[r.lastAgentIndex])
      announce(`Agent: ${past[r.lastAgentIndex].text}`);
  } else {
    if (past.some((line) => line.earlier)) fragment.append(divider('New conversation'));
    if (r.welcome) {
      fragment.append(lineElement(r.welcome, 'agent', ['welcome']));
      announce(`Agent: ${r.welcome}`);
    }
  }
  ui.transcript.replaceChildren(fragment);
  updateMore();
  ui.transcript.setAttribute('aria-busy', 'false');
  scrollDown();
}

async function toggleVoice() {
  clearError();
  if (voice !== 'idle') {
    await client.stop();
    setVoice('idle');
    return;
  }
  setVoice('connecting');
  const payload = { agent: { agent_id: config.agent_id }, metadata: config.metadata };
  if (sessionId) payload.session_continuation = { session_id: sessionId };
  try {
    await client.start(payload);
  } catch (error) {
    setVoice('idle');
    showError(error);
  }
}

async function submitText(event) {
  event.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  clearError();
  ui.text.value = '';
  const line = addLine(text, 'user');
  showTyping(true);
  try {
    await client.sendText(text);
    sessionId = client.getState().sessionID || sessionId;
  } catch (error) {
    showTyping(false);
    line.classList.add('failed');  // shown as "not sent"
    showError(error);
  }
  postState();
}

function wire() {
  client.on('onready', (payload) => {
    sessionId = payload.session_id;
    setVoice('live');
  });
  client.on('onresponsetext', (text, payload) => agentText(text, !!(payload && payload.is_final)));
  client.on('ontranscript', (text, payload) => userSpeech(text, !!(payload && payload.is_final)));
  client.on('onagentstate', (state) => {
    agentState = state;
    ui.widget.classList.toggle('speaking', state === 'answer');
    if (voice === 'live') {
      setStatus(state === 'answer' ? 'Agent speaking…' : state === 'prepare_answer' ? 'Agent thinking…' : isMuted() ? 'Muted' : 'Listening');
    }
    postState();
  });
  client.on('onlevel', (level) => {
    ui.mic.style.setProperty('--level', level.input.toFixed(2));
    ui.widget.classList.toggle('speaking', level.output > 0.15);
  });
  client.on('onreconnecting', () => setVoice('reconnecting'));
  client.on('onclose', () => {
    if (voice !== 'idle') setVoice('idle');
  });
  client.on('onerror', (error) => {
    showTyping(false);
    showError(error);
  });
  client.on('onsessionended', () => postState());
  ui.mic.addEventListener('click', toggleVoice);
  ui.mute.addEventListener('click', () => setMuted(ui.mute.getAttribute('aria-pressed') !== 'true'));
  ui.form.addEventListener('submit', submitText);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && voice !== 'idle') toggleVoice();
  });
}

// The DESIGN §5 resume flow: the URL's session (for this load only), else the remembered one
// if it was opened for the same visitor (the identity metadata), else a new session.
async function openSession({ fresh }) {
  setStatus('Connecting…');
  performance.mark('parley:resume-start');
  const options = {
    sessionId: config.session_id || undefined,
    metadata: config.metadata,
    identityKeys: config.identity_keys ?? undefined,
    historyLines: PAGE,
  };
  try {
    const r = await client.resume({ ...options, sessionId: fresh ? undefined : options.sessionId, early: fresh ? [] : early });
    sessionId = r.sessionID;
    performance.mark('parley:resume-end');
    renderResume(r);
    setStatus('Ready');
    ui.widget.dataset.earlyUsed = String(r.earlyUsed);  // for the tests and bench/widget
    setTimeout(() => keepEarlyPlan(options), 0);  // after this frame: the lines come first
  } catch (error) {
    setStatus('Unavailable');
    showError(error);
    // Voice may still work (it reports its own errors); typing needs a session.
  }
  postState();
}

async function main() {
  try {
    config = Parley.parseWidgetUrl(location.href);
  } catch (error) {
    setStatus('Not configured');
    showError({ message: `This widget's address is not valid: ${error.message}`, code: error.code });
    return;
  }
  const endPoint = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/voice`;
  client = Parley.createClient({
    publicKey: config.public_key, endPoint, agentId: config.agent_id,
    integrationId: config.integration_id || '',
  });
  window.parleyClient = client;  // for the page's own scripts and tests
  wire();
  // A page the site's logout leads to (data-logout): forget who was here before.
  if (config.logout) {
    forgetEarlyPlan();
    await client.logout();
  }
  await openSession({ fresh: false });
  ui.mic.disabled = false;
  ui.text.disabled = false;
  ui.send.disabled = false;
  ui.widget.dataset.ready = 'true';
  postState();
}

main();
