// The official Memori engine client (@memori.ai/memori-api-client, unchanged) against
// parley-host's /memori/v2 (DESIGN §4, §5): open a session, get it, talk, read the chat logs,
// continue it in a new session and read each log (and the chain, Parley's option), list a
// user's chats by loginToken, delete; and, on a second host whose demo agent has a 1 s resume
// window, memori-react's reopen path: an expired session's own chat log, read twice, then a
// session continuing it by chatLogID.
//
//   node memori-client.test.mjs --host build/.../parley-host [--config host/demo/config.json]
//   node memori-client.test.mjs --url http://127.0.0.1:8080/
//
// Exits 0 and prints PASS, or prints FAIL with what differed and exits 1 (overall 60 s).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  check, checkEqual, log, readAgent, requirePackage, runTest, sleep, startHost,
} from './harness.mjs';

const AGENT = 'demo';
const USER_NAME = 'Ada';
const NOT_VALID = [-103, -263];  // session expired / not found (DESIGN §4)

// Every reply carries the DESIGN §4 envelope; `what` names the call in messages.
function checkEnvelope(reply, what) {
  check(reply && typeof reply === 'object', `${what}: the reply is not a JSON object`);
  for (const field of ['requestID', 'requestDateTime', 'resultMessage'])
    check(typeof reply[field] === 'string', `${what}: ${field} missing or not a string ` +
          `(reply ${JSON.stringify(reply).slice(0, 300)})`);
  check(typeof reply.resultCode === 'number', `${what}: resultCode missing or not a number`);
}

function checkOk(reply, what) {
  checkEnvelope(reply, what);
  check(reply.resultCode === 0, `${what}: resultCode ${reply.resultCode} ` +
        `("${reply.resultMessage}"), expected 0`);
  return reply;
}

function checkEmission(reply, what) {
  const state = reply.currentState;
  check(state && typeof state === 'object', `${what}: currentState missing`);
  check(typeof state.emission === 'string' && state.emission.trim() !== '',
        `${what}: currentState.emission is empty or not a string`);
  check(!/\{userName[|}]/.test(state.emission),
        `${what}: emission still holds the placeholder: "${state.emission}"`);
  return state.emission;
}

function checkChatLog(chatLog, what) {
  for (const field of ['chatLogID', 'sessionID', 'memoriID', 'timestamp'])
    check(typeof chatLog[field] === 'string' && chatLog[field] !== '',
          `${what}: chatLog.${field} missing or empty`);
  checkEqual(chatLog.memoriID, AGENT, `${what}: chatLog.memoriID`);
  check(Array.isArray(chatLog.lines), `${what}: chatLog.lines is not an array`);
  chatLog.lines.forEach((line, i) => {
    check(typeof line.text === 'string', `${what}: lines[${i}].text is not a string`);
    check(typeof line.inbound === 'boolean', `${what}: lines[${i}].inbound is not a boolean`);
    check(typeof line.timestamp === 'string' && line.timestamp !== '',
          `${what}: lines[${i}].timestamp missing`);
  });
}

// The lines as "> user text" / "< agent text", for comparing and for messages.
const transcript = chatLog => chatLog.lines.map(l => `${l.inbound ? '>' : '<'} ${l.text}`);

function checkLines(chatLog, expected, what) {
  const actual = transcript(chatLog);
  check(JSON.stringify(actual) === JSON.stringify(expected),
        `${what}: lines differ\n  expected ${JSON.stringify(expected)}\n  got      ${JSON.stringify(actual)}`);
}

// loginToken as DESIGN §5 / host ids.hpp define it: base64url(payload).base64url(HMAC).
function mintLoginToken(secret, userId, expiresEpochS) {
  const payload = Buffer.from(JSON.stringify({ sub: userId, exp: expiresEpochS }));
  const mac = crypto.createHmac('sha256', secret).update(payload).digest();
  return `${payload.toString('base64url')}.${mac.toString('base64url')}`;
}

async function talk(api, sessionId, text, what) {
  const reply = checkOk(await api.postTextEnteredEvent({ sessionId, text }), what);
  return checkEmission(reply, what);
}

async function scenario({ host, args }) {
  const memoriApi = requirePackage('@memori.ai/memori-api-client').default;
  // The engine endpoint as a site gives it: the client keeps only the origin and adds /memori/v2.
  const api = memoriApi(host.url, host.url);
  checkEqual(api.constants.ENGINE_URL, new URL('memori/v2', host.url).href, 'client ENGINE_URL');
  const agent = readAgent(args.config, AGENT);

  // 1. Open, as the Memori widget does: context variables + additionalInfo.
  const opened = checkOk(await api.initSession({
    memoriID: AGENT,
    initialContextVars: { userName: USER_NAME, plan: 'premium' },
    additionalInfo: { language: 'en', referral: 'http://127.0.0.1/clients-test', timeZoneOffset: '-120' },
  }), 'POST /Session');
  const first = opened.sessionID;
  check(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(first || ''),
        `POST /Session: sessionID "${first}" is not a lowercase v4 UUID`);
  const welcome = checkEmission(opened, 'POST /Session');
  if (agent && typeof agent.first_message === 'string' && agent.first_message.includes('{userName'))
    check(welcome.includes(USER_NAME), `POST /Session: welcome "${welcome}" lacks the userName ` +
          `"${USER_NAME}" given in initialContextVars (first_message "${agent.first_message}")`);
  log(`opened ${first.slice(0, 8)}…, welcome: ${welcome}`);

  // 2. Get it back.
  const got = checkOk(await api.getSession(first), 'GET /Session/{id}');
  check(got.currentState && typeof got.currentState === 'object', 'GET /Session/{id}: currentState missing');

  // 3. Talk: a greeting, then a question only the metadata can answer.
  const hello = await talk(api, first, 'hello', 'TextEnteredEvent "hello"');
  const name = await talk(api, first, 'what is my name', 'TextEnteredEvent "what is my name"');
  check(name.includes(USER_NAME), `TextEnteredEvent "what is my name": the reply "${name}" ` +
        `does not contain "${USER_NAME}" from initialContextVars`);
  log(`replies: "${hello}" / "${name}"`);

  // 4. The chat log of the session: every line, oldest first.
  const firstLines = [`< ${welcome}`, '> hello', `< ${hello}`, '> what is my name', `< ${name}`];
  const logs1 = checkOk(await api.getSessionChatLogs(first, first), 'GET /SessionChatLogs/{id}/{id}');
  check(Array.isArray(logs1.chatLogs) && logs1.chatLogs.length === 1,
        `SessionChatLogs of a new session: expected 1 chat log, got ${JSON.stringify(logs1.chatLogs)?.slice(0, 300)}`);
  checkChatLog(logs1.chatLogs[0], 'SessionChatLogs');
  checkEqual(logs1.chatLogs[0].sessionID, first, 'SessionChatLogs: chatLog.sessionID');
  checkLines(logs1.chatLogs[0], firstLines, 'SessionChatLogs');

  // 5. A new session continuing the first. SessionChatLogs of it is its own log (chatLogs[0],
  //    as memori-react reads it); the first's log is read through it; the chain of both is
  //    Parley's option (?chain=true, which the client carries in the id it pastes into the path).
  const continued = checkOk(await api.initSession({
    memoriID: AGENT, continueFromSessionID: first, initialContextVars: { userName: USER_NAME },
  }), 'POST /Session with continueFromSessionID');
  const second = continued.sessionID;
  check(typeof second === 'string' && second !== first,
        `continued session: expected a new sessionID, got "${second}"`);
  const welcome2 = checkEmission(continued, 'POST /Session (continued)');
  const again = await talk(api, second, 'hello again', 'TextEnteredEvent in the continued session');
  const own = checkOk(await api.getSessionChatLogs(second, second), 'SessionChatLogs of the continued session');
  checkEqual(JSON.stringify(own.chatLogs.map(c => c.sessionID)), JSON.stringify([second]),
             'SessionChatLogs/{second}/{second}: only the session\'s own log');
  const earlier = checkOk(await api.getSessionChatLogs(second, first), 'SessionChatLogs/{second}/{first}');
  checkEqual(JSON.stringify(earlier.chatLogs.map(c => c.sessionID)), JSON.stringify([first]),
             'SessionChatLogs/{second}/{first}: the first session\'s log');
  checkLines(earlier.chatLogs[0], firstLines, 'SessionChatLogs/{second}/{first}');
  const chain = checkOk(await api.getSessionChatLogs(second, `${second}?chain=true`),
                        'SessionChatLogs of the continued session, ?chain=true');
  check(Array.isArray(chain.chatLogs), 'SessionChatLogs (chain): chatLogs is not an array');
  const sessions = chain.chatLogs.map(c => c.sessionID);
  checkEqual(JSON.stringify(sessions), JSON.stringify([first, second]),
             'SessionChatLogs (chain): the sessions of the chat logs, oldest first');
  chain.chatLogs.forEach((c, i) => checkChatLog(c, `SessionChatLogs (chain)[${i}]`));
  checkLines(chain.chatLogs[0], firstLines, 'SessionChatLogs (chain)[0]');
  const tail = transcript(chain.chatLogs[1]).slice(-2);
  checkEqual(JSON.stringify(tail), JSON.stringify(['> hello again', `< ${again}`]),
             'SessionChatLogs (chain)[1]: last lines');
  check(transcript(chain.chatLogs[1]).includes(`< ${welcome2}`),
        'SessionChatLogs (chain)[1]: the welcome of the continued session is missing');
  log(`continued as ${second.slice(0, 8)}…, chain of ${chain.chatLogs.length} chat logs`);

  // 6. A user's chats by loginToken (needs the agent's secret from the config).
  if (agent && typeof agent.secret === 'string' && agent.secret !== '') {
    const token = mintLoginToken(agent.secret, 'clients-test-user', Math.floor(Date.now() / 1000) + 3600);
    const mine = checkOk(await api.initSession({
      memoriID: AGENT, initialContextVars: { userName: USER_NAME }, additionalInfo: { loginToken: token },
    }), 'POST /Session with additionalInfo.loginToken');
    // A session opened with a token is never usable without it (DESIGN §5): the client sends no
    // token on later calls, and is answered as for an id that does not exist.
    const without = await api.postTextEnteredEvent({ sessionId: mine.sessionID, text: 'hello' });
    const nowhere = await api.postTextEnteredEvent({ sessionId: crypto.randomUUID(), text: 'hello' });
    checkEnvelope(without, 'TextEnteredEvent on a user session without the token');
    checkEqual(JSON.stringify([without.resultCode, without.resultMessage, without.errorCode]),
               JSON.stringify([nowhere.resultCode, nowhere.resultMessage, nowhere.errorCode]),
               'TextEnteredEvent on a user session without its token, against an unknown id');
    // With the token as Authorization: Bearer (README, Security), it is the user's session.
    const withToken = await (await fetch(new URL(`memori/v2/TextEnteredEvent/${mine.sessionID}`, host.url), {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify({ text: 'hello' }),
    })).json();
    checkOk(withToken, 'TextEnteredEvent (user session, Authorization: Bearer)');
    const listed = checkOk(await api.getUserChatLogsByTokenPaged({
      loginToken: token, memoriID: AGENT, from: 0, howMany: 10,
    }), 'POST /UserChatLogsByTokenPaged');
    check(Array.isArray(listed.chatLogs), 'UserChatLogsByTokenPaged: chatLogs is not an array');
    checkEqual(JSON.stringify(listed.chatLogs.map(c => c.sessionID)), JSON.stringify([mine.sessionID]),
               'UserChatLogsByTokenPaged: sessions listed for the user (anonymous ones must not be)');
    checkEqual(listed.totalCount, 1, 'UserChatLogsByTokenPaged: totalCount');
    checkEqual(listed.count, 1, 'UserChatLogsByTokenPaged: count');
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const refused = await api.getUserChatLogsByTokenPaged({ loginToken: forged, memoriID: AGENT, from: 0, howMany: 10 });
    checkEnvelope(refused, 'UserChatLogsByTokenPaged with a forged token');
    check(refused.resultCode < 0 && !(refused.chatLogs || []).length,
          `UserChatLogsByTokenPaged with a forged token: expected an error and no chat logs, got ${JSON.stringify(refused).slice(0, 300)}`);
  } else {
    log(`NOTE: agent "${AGENT}" in ${args.config} has no secret: loginToken steps not run`);
  }

  // 7. Delete the continued session; it is then invalid, and so is an id never issued.
  checkOk(await api.deleteSession(second), 'DELETE /Session/{id}');
  const gone = await api.getSession(second);
  checkEnvelope(gone, 'GET /Session/{id} after DELETE');
  check(NOT_VALID.includes(gone.resultCode), `GET /Session/{id} after DELETE: resultCode ` +
        `${gone.resultCode} ("${gone.resultMessage}"), expected -103 or -263`);
  const never = await api.getSession(crypto.randomUUID());
  checkEnvelope(never, 'GET /Session/{unknown id}');
  check(NOT_VALID.includes(never.resultCode), `GET /Session/{unknown id}: resultCode ` +
        `${never.resultCode}, expected -103 or -263`);
  checkEqual(JSON.stringify([gone.resultCode, gone.resultMessage]),
             JSON.stringify([never.resultCode, never.resultMessage]),
             'GET /Session after DELETE answers as for an id never issued');

  await expiredSession(args);
}

// memori-react's resume and reopen (MemoriWidget.tsx): getSession(id) not 0 → getSessionChatLogs
// (id, id) → initSession({continueFromChatLogID: chatLogs[0].chatLogID}). Against a host whose
// demo agent has a 1 s resume window.
async function expiredSession(args) {
  if (!args.host) {
    log('NOTE: --url given: the expired-session steps need --host (a second host) and are not run');
    return;
  }
  const config = JSON.parse(fs.readFileSync(args.config, 'utf8'));
  const demo = config.agents.find(a => a.id === AGENT);
  demo.resume_window = 1;
  // Beside the original, so that its relative paths (web_root, ...) still resolve.
  const configPath = path.join(path.dirname(args.config), `.memori-expiry-${process.pid}.json`);
  fs.writeFileSync(configPath, JSON.stringify(config));
  let short = null;
  try {
    short = await startHost({ host: args.host, config: configPath });
    const memoriApi = requirePackage('@memori.ai/memori-api-client').default;
    const api = memoriApi(short.url, short.url);
    const opened = checkOk(await api.initSession({
      memoriID: AGENT, initialContextVars: { userName: USER_NAME },
    }), 'expiry: POST /Session');
    const id = opened.sessionID;
    const welcome = checkEmission(opened, 'expiry: POST /Session');
    const hello = await talk(api, id, 'hello', 'expiry: TextEnteredEvent');
    await sleep(1300);
    const state = await api.getSession(id);
    checkEnvelope(state, 'expiry: GET /Session after the window');
    checkEqual(state.resultCode, -103, 'expiry: GET /Session after the window: resultCode');
    for (const round of ['first', 'second']) {
      const logs = checkOk(await api.getSessionChatLogs(id, id),
                           `expiry: SessionChatLogs/{id}/{id} of the expired session (${round} time)`);
      checkEqual(logs.chatLogs.length, 1, `expiry: chat logs of the expired session (${round} time)`);
      checkChatLog(logs.chatLogs[0], 'expiry: chatLogs[0]');
      checkEqual(logs.chatLogs[0].sessionID, id, 'expiry: chatLogs[0].sessionID');
      checkLines(logs.chatLogs[0], [`< ${welcome}`, '> hello', `< ${hello}`], 'expiry: chatLogs[0]');
    }
    const logs = await api.getSessionChatLogs(id, id);
    const reopened = checkOk(await api.initSession({
      memoriID: AGENT, continueFromChatLogID: logs.chatLogs[0].chatLogID,
      initialContextVars: { userName: USER_NAME },
    }), 'expiry: POST /Session continueFromChatLogID (memori-react reopen)');
    check(reopened.sessionID !== id, 'expiry: the reopened session has a new id');
    checkEqual(reopened.continuedFromSessionID, id, 'expiry: continuedFromSessionID');
    log(`expired ${id.slice(0, 8)}…: its chat log read twice, reopened as ${reopened.sessionID.slice(0, 8)}…`);
  } finally {
    if (short) await short.stop();
    fs.rmSync(configPath, { force: true });
  }
}

runTest('native.clients.memori', process.argv.slice(2), 60000, scenario);
