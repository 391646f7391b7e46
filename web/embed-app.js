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

function addLine(text, who, extra = []) {
  // A resumed conversation's last agent message is highlighted until the talk moves on.
  for (const current of ui.transcript.querySelectorAll('.current')) current.classList.remove('current');
  const li = document.createElement('li');
  li.className = ['msg', who, ...extra].join(' ');
  li.textContent = text;
  ui.transcript.append(li);
  scrollDown();
  return li;
}

function addDivider(text) {
  const li = document.createElement('li');
  li.className = 'divider';
  li.textContent = text;
  ui.transcript.append(li);
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
  }
});

function renderResume(r) {
  ui.transcript.setAttribute('aria-busy', 'true');
  const history = r.history || [];
  let shownEarlier = false;
  history.forEach((line, i) => {
    if (line.earlier && !shownEarlier) {
      addDivider('Earlier conversation');
      shownEarlier = true;
    }
    if (!line.earlier && shownEarlier && history[i - 1] && history[i - 1].earlier) addDivider('Today');
    const extra = [];
    if (line.earlier) extra.push('earlier');
    if (r.resumed && i === r.lastAgentIndex) extra.push('current');
    addLine(line.text, line.inbound ? 'user' : 'agent', extra);
  });
  if (r.resumed) {
    // The agent's last message is already in the history: marked as the current one and
    // announced, never added a second time.
    if (r.lastAgentIndex !== null && history[r.lastAgentIndex])
      announce(`Agent: ${history[r.lastAgentIndex].text}`);
  } else {
    if (shownEarlier) addDivider('New conversation');
    if (r.welcome) {
      addLine(r.welcome, 'agent', ['welcome']);
      announce(`Agent: ${r.welcome}`);
    }
  }
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
  setStatus('Connecting…');
  try {
    const r = await client.resume({ sessionId: config.session_id || undefined, metadata: config.metadata });
    sessionId = r.sessionID;
    renderResume(r);
    setStatus('Ready');
  } catch (error) {
    setStatus('Unavailable');
    showError(error);
    // Voice may still work (it reports its own errors); typing needs a session.
  }
  ui.mic.disabled = false;
  ui.text.disabled = false;
  ui.send.disabled = false;
  ui.widget.dataset.ready = 'true';
  postState();
}

main();
