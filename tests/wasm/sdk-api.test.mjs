// The browser SDK's module under node (no server): parseWidgetUrl and checkTemplate against
// the core's own vectors (tests/vectors), getState per integration id over a storage, the
// client's config checks, start()'s argument checks, and the error codes. The same wasm and
// JS that browsers load.
//
//   node tests/wasm/sdk-api.test.mjs [--sdk build/wasm/sdk]
import fs from 'node:fs';
import path from 'node:path';
import { check, checkEqual, loadSdk, memoryStorage, runSdkTest, sourceDir } from './sdk-harness.mjs';

// The vector forms of tests/core/vectors.hpp that the URL and template files use.
function expand(v) {
  if (Array.isArray(v)) return v.map(expand);
  if (!v || typeof v !== 'object') return v;
  if ('$repeat' in v) return v.$repeat.repeat(v.times);
  if ('$repeat_array' in v) return Array.from({ length: v.times }, () => expand(v.$repeat_array));
  if ('$join' in v) return v.$join.map(expand).join('');
  if ('$params' in v) return Array.from({ length: v.$params }, (_, i) => `p${i}=${v.value}`).join('&');
  if ('$object' in v) return Object.fromEntries(Array.from({ length: v.$object }, (_, i) => [`p${i}`, expand(v.value)]));
  if ('$many_keys' in v) return Object.fromEntries(Array.from({ length: v.$many_keys }, (_, i) => [`k${i}`, 'v']));
  if ('$key' in v) return { [expand(v.$key)]: expand(v.$value) };
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x)]));
}
const vectors = (name) => JSON.parse(fs.readFileSync(path.join(sourceDir, 'tests', 'vectors', `${name}.json`), 'utf8'));
const same = (a, b) => JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!v || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
}

await runSdkTest('sdk-api', 60000, async (args) => {
  const Parley = await loadSdk(args.sdk);
  for (const name of ['createClient', 'parseWidgetUrl', 'checkTemplate', 'getState'])
    check(typeof Parley[name] === 'function', `the default export has ${name}()`);
  checkEqual(Parley.AgentState.PREPARE_ANSWER, 'prepare_answer', 'AgentState.PREPARE_ANSWER');

  // parseWidgetUrl: every valid and invalid embed URL of the core's vectors.
  const url = vectors('embed-url');
  let n = 0;
  for (const v of url.valid) {
    const text = Array.isArray(v.url) ? expand(v.url).join('') : expand(v.url);
    const got = Parley.parseWidgetUrl(text);
    const want = { session_id: null, integration_id: null, identity_keys: null, logout: false, metadata: {}, ...expand(v.config) };
    check(same(got, want), `parseWidgetUrl, ${v.name}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    ++n;
  }
  for (const v of url.invalid) {
    const text = Array.isArray(v.url) ? expand(v.url).join('') : expand(v.url);
    let error = null;
    try {
      Parley.parseWidgetUrl(text);
    } catch (e) {
      error = e;
    }
    check(error, `parseWidgetUrl, ${v.name}: accepted, expected ${v.code}`);
    checkEqual(error.name, 'ParleyError', `parseWidgetUrl, ${v.name}: error type`);
    checkEqual(error.code, v.code, `parseWidgetUrl, ${v.name}: code`);
    for (const word of v.mentions || [])
      check(error.message.includes(word), `parseWidgetUrl, ${v.name}: "${error.message}" mentions ${word}`);
    ++n;
  }
  check(n > 20, `ran the URL vectors (${n})`);

  // Browsers agree: every URL the core accepts, node's WHATWG URL (what browsers implement)
  // accepts too, and its URLSearchParams reads the same parameters out of it. (The core refuses
  // some URLs a browser would repair, e.g. a raw space or "%zz": never the other way round.)
  const reserved = { id: 'agent_id', k: 'public_key', sessionID: 'session_id', integrationID: 'integration_id', identityKeys: 'identity_keys' };
  let agreed = 0;
  for (const v of url.valid) {
    const text = Array.isArray(v.url) ? expand(v.url).join('') : expand(v.url);
    let parsed;
    try {
      parsed = new URL(text, 'http://base.test/page');
    } catch (error) {
      throw new Error(`node's URL refuses "${text.slice(0, 80)}" (${v.name}), which the core accepts: ${error.message}`);
    }
    const config = { session_id: null, integration_id: null, identity_keys: null, logout: false, metadata: {} };
    for (const [key, value] of parsed.searchParams) {
      if (key === 'logout') {
        config.logout = value !== '0' && value !== 'false';
      } else if (reserved[key]) {
        config[reserved[key]] = value === '' && (key === 'sessionID' || key === 'integrationID') ? null : value;
      } else if (key in config.metadata) {
        config.metadata[key] = [].concat(config.metadata[key], value);
      } else {
        config.metadata[key] = value;
      }
    }
    const ours = Parley.parseWidgetUrl(text);
    check(same(config, ours), `node's URL and the core read "${text.slice(0, 80)}" (${v.name}) alike: ` +
                              `${JSON.stringify(config).slice(0, 300)} vs ${JSON.stringify(ours).slice(0, 300)}`);
    ++agreed;
  }
  check(agreed === url.valid.length, `node's URL agrees on every accepted URL (${agreed})`);

  // The origins of tests/vectors/origins.json are the ones a browser on that page sends.
  for (const v of vectors('origins').requests)
    if (v.page) checkEqual(new URL(v.page).origin, v.origin, `the Origin a browser on ${v.page} sends`);

  // checkTemplate: the core's fill vectors (text, used, missing, defaulted).
  let t = 0;
  for (const v of vectors('templates').fill) {
    const got = Parley.checkTemplate(expand(v.template), expand(v.variables));
    checkEqual(got.text, expand(v.text), `checkTemplate, ${v.name}: text`);
    for (const list of ['used', 'missing', 'defaulted'])
      if (v[list]) check(same(got[list], expand(v[list])), `checkTemplate, ${v.name}: ${list} ${JSON.stringify(got[list])}`);
    checkEqual(got.ok, got.missing.length === 0, `checkTemplate, ${v.name}: ok`);
    ++t;
  }
  check(t > 10, `ran the template vectors (${t})`);

  // Numbers: the SDK's module reads JSON numbers with its own strtod / strtoll / strtoull
  // (wasm/src/numbers.cpp, the float through JS Number()). Every value comes back as the same
  // double through the core's parse and dump, integers stay integers, and integers beyond
  // 64 bits become floats, as natively.
  const roundTrip = (x) => Number(Parley.checkTemplate('{a}', { a: x }).text);
  const bits = new DataView(new ArrayBuffer(8));
  let seed = 12345;
  const random32 = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const doubles = [0.1, -2.5e-3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e21, 1e-7,
                   123456789.125, 2 ** 53 + 2, -(2 ** 63), 2 ** 64, 1e30];
  for (let i = 0; i < 2000; ++i) {
    bits.setUint32(0, random32());
    bits.setUint32(4, random32());
    const x = bits.getFloat64(0);
    if (Number.isFinite(x)) doubles.push(x);
  }
  for (const x of doubles) checkEqual(roundTrip(x), x, `the number ${x} read and written back`);
  checkEqual(Parley.checkTemplate('{a}', { a: 9007199254740991 }).text, '9007199254740991', 'a 53-bit integer stays an integer');
  checkEqual(Parley.checkTemplate('{a}', { a: -9007199254740991 }).text, '-9007199254740991', 'a negative integer stays an integer');
  checkEqual(Parley.checkTemplate('{a}', { a: 2 ** 64 }).text, '1.8446744073709552e+19', 'an integer over 64 bits reads as a float');
  checkEqual(Parley.checkTemplate('{a}', { a: -(2 ** 64) }).text, '-1.8446744073709552e+19', 'an integer under -2^63 reads as a float');

  // getState: per integration id, from what the core's session store wrote.
  const storage = memoryStorage();
  const empty = Parley.getState('', storage);
  checkEqual(empty.sessionID, null, 'getState with nothing stored');
  storage.set('parley.session.shop', JSON.stringify({ v: 1, sessionID: 'S-shop', agentID: 'demo', lastActivity: 5 }));
  storage.set('parley.session', '{corrupt');
  checkEqual(Parley.getState('shop', storage).sessionID, 'S-shop', 'getState("shop")');
  checkEqual(Parley.getState('shop', storage).agentID, 'demo', 'getState("shop").agentID');
  checkEqual(Parley.getState('', storage).sessionID, null, 'a corrupt stored value reads as none');
  const client = Parley.createClient({ publicKey: 'k', endPoint: 'ws://127.0.0.1:9/v1/voice', integrationId: 'shop', storage });
  checkEqual(client.getState().sessionID, 'S-shop', 'client.getState() of its integration');
  checkEqual(client.getState().connection, 'idle', 'client.getState().connection before a call');
  checkEqual(client.getState('other').sessionID, null, 'client.getState("other")');

  // Config and argument checks: ParleyErrors naming the field, before anything starts.
  const throws = async (fn, code, word, what) => {
    let error = null;
    try {
      await fn();
    } catch (e) {
      error = e;
    }
    check(error, `${what}: accepted, expected ${code}`);
    checkEqual(error.code, code, `${what}: code (message: ${error.message})`);
    if (word) check(error.message.includes(word), `${what}: "${error.message}" mentions ${word}`);
  };
  await throws(() => Parley.createClient({ publicKey: '', endPoint: 'ws://h/v1/voice' }), 'config_invalid', 'publicKey', 'empty publicKey');
  await throws(() => Parley.createClient({ publicKey: 'k', endPoint: 'http://h/' }), 'config_invalid', 'endPoint', 'http endPoint');
  await throws(() => Parley.createClient({ publicKey: 'k', endPoint: 'ws://h/v1/voice', reconnect: { jitter: 3 } }),
               'reconnect_config_invalid', 'jitter', 'bad reconnect.jitter');
  const audio = { opened: 0 };
  const c2 = Parley.createClient({ publicKey: 'k', endPoint: 'ws://127.0.0.1:9/v1/voice', storage,
                                   audio: async () => { ++audio.opened; throw new Error('no'); } });
  // start() in its three forms: every invalid call of the core's start-request vectors.
  let s = 0;
  for (const v of vectors('start-request').invalid) {
    const callArgs = expand(v.args);
    await throws(() => c2.start(...callArgs), v.code, null, `start(${JSON.stringify(v.args).slice(0, 60)}) [${v.name}]`);
    ++s;
  }
  check(s > 10, `ran the start-request vectors (${s})`);
  await throws(() => c2.start('a', { big: 'x'.repeat(2000) }), 'metadata_value_too_long', 'big', 'metadata value over 1 KiB');
  checkEqual(audio.opened, 0, 'the microphone is not asked for when the arguments are bad');
  await throws(() => c2.sendText(''), 'bad_value', 'text', 'sendText("")');
  await throws(() => c2.resume(), 'config_invalid', 'agentId', 'resume() without an agent');
  await throws(() => c2.history(), 'no_session', 'resume()', 'history() before any session');

  // A 10,000-line history (the widget shows the latest lines and pages back): resumed whole,
  // in order, over canned replies (the host's side is in the browser test and bench/widget).
  const sid = '5f0c1c2e-8d1a-4c3b-9e2f-000000000010';
  const lines = Array.from({ length: 10000 }, (_, i) => ({
    timestamp: '2026-01-01T00:00:00.000Z', inbound: i % 2 === 1, text: `line ${i}: ${'x'.repeat(60)}` }));
  const envelope = { requestID: 'r', requestDateTime: '2026-01-01T00:00:00.000Z', resultCode: 0, resultMessage: 'Ok' };
  const replies = {
    [`/memori/v2/Session/${sid}`]: { ...envelope, currentState: { state: 'R1', emission: 'x', contextVars: {} } },
    [`/memori/v2/SessionChatLogs/${sid}/${sid}`]: { ...envelope, chatLogs: [{ chatLogID: 'c', sessionID: sid, memoriID: 'demo', lines }] },
  };
  const asked = [];
  const canned = async (url, init) => {
    const route = new URL(url).pathname;
    asked.push(`${init.method} ${route}`);
    return { status: 200, text: async () => JSON.stringify(replies[route] || envelope) };
  };
  const big = Parley.createClient({ publicKey: 'k', endPoint: 'ws://127.0.0.1:9/v1/voice', agentId: 'demo', storage: memoryStorage(), fetch: canned });
  const t0 = performance.now();
  const r = await big.resume({ sessionId: sid, metadata: { userName: 'Ada' } });
  const took = performance.now() - t0;
  check(r.resumed, 'the 10,000-line session is resumed');
  checkEqual(r.history.length, 10000, 'every line of the 10,000');
  checkEqual(r.history[9999].text, lines[9999].text, 'the last line last');
  checkEqual(r.lastAgentIndex, 9998, 'the agent\'s last message');
  checkEqual(big.getState().sessionID, sid, 'getState(): the URL\'s session is the one in use');
  checkEqual(Parley.getState('', big._store).sessionID, null, 'and it is not remembered (a sessionID holds for that load only)');
  console.log(`resume() of a 10,000-line history over canned replies: ${took.toFixed(0)} ms (first call, node)`);
});
