// Shared by the SDK's node tests (tests/wasm) and browser tests (tests/browser): load the
// built SDK, an in-memory session storage, a microphone that plays a WAV (or a tone) into
// the SDK's real capture path, WebSockets with an Origin, a TCP proxy whose connections a
// test can cut, and a host config written for the test. Built on tests/clients/harness.mjs.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { check, fail, requirePackage, sourceDir } from '../clients/harness.mjs';

export * from '../clients/harness.mjs';

export const defaultSdkDir = path.join(sourceDir, 'build', 'wasm', 'sdk');
export const defaultHostBinary = path.join(sourceDir, 'build', 'release', 'host', 'parley-host');

// --sdk DIR --host BINARY [--only NAME]: both must exist, or the test fails saying how to
// build them (the browser and protocol tests need the native host AND the wasm SDK).
export function parseSdkArgs(argv) {
  const args = { sdk: defaultSdkDir, host: defaultHostBinary, only: null };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in args) || argv[i + 1] === undefined) {
      console.error(`usage: node ${path.basename(process.argv[1])} [--sdk DIR] [--host PARLEY_HOST] [--only NAME]`);
      process.exit(64);
    }
    args[key] = argv[i + 1];
  }
  return args;
}

export function requireBuilds({ sdk, host }, needHost = true) {
  const sdkFile = path.join(sdk, 'parley.mjs');
  if (!fs.existsSync(sdkFile))
    fail(`the browser SDK is not built (${sdkFile} is missing): run "cmake --workflow --preset wasm"`);
  if (needHost && !fs.existsSync(host))
    fail(`parley-host is not built (${host} is missing): run "cmake --build --preset release"`);
}

export async function loadSdk(sdkDir) {
  return (await import(pathToFileURL(path.join(sdkDir, 'parley.mjs')).href)).default;
}

export function memoryStorage() {
  const map = new Map();
  return {
    map,
    get: (k) => (map.has(k) ? map.get(k) : null),
    set: (k, v) => { map.set(k, v); },
    remove: (k) => { map.delete(k); },
  };
}

// A WebSocket class (npm ws) that sends `origin` as the page's Origin, as a browser does.
export function webSocketWithOrigin(origin) {
  const WebSocket = requirePackage('ws');
  return class extends WebSocket {
    constructor(url) {
      super(url, { origin });
    }
  };
}

// Speech from espeak-ng as a WAV file (made at test time, never committed).
export function speechWav(dir, text, rate = 48000, voice = null) {
  const raw = path.join(dir, 'speech-raw.wav');
  const out = path.join(dir, `speech-${rate}.wav`);
  try {
    execFileSync('espeak-ng', [...(voice ? ['-v', voice] : []), '-w', raw, text]);
    execFileSync('sox', [raw, '-r', String(rate), '-c', '1', '-b', '16', out]);
  } catch (error) {
    fail(`espeak-ng / sox could not make the test speech (${error.message}): install them (scripts/setup.sh)`);
  }
  return out;
}

// PCM16 mono samples of a WAV file, as floats.
export function readWav(file) {
  const b = fs.readFileSync(file);
  check(b.toString('ascii', 0, 4) === 'RIFF', `${file} is not a WAV file`);
  let p = 12;
  let rate = 0;
  while (p + 8 <= b.length) {
    const id = b.toString('ascii', p, p + 4);
    const size = b.readUInt32LE(p + 4);
    if (id === 'fmt ') rate = b.readUInt32LE(p + 12);
    if (id === 'data') {
      const n = Math.floor(size / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; ++i) out[i] = b.readInt16LE(p + 8 + 2 * i) / 32768;
      return { rate, samples: out };
    }
    p += 8 + size + (size & 1);
  }
  fail(`${file} has no data chunk`);
}

// An audio device for the SDK in node: feeds `samples` (looped, then silence if loop is
// false) at `rate` into the SDK's real capture path in ~20 ms blocks, in real time; records
// the playback commands it is given.
export function fakeAudio({ rate = 48000, samples = null, loop = true } = {}) {
  const devices = [];
  const open = async (client) => {
    const block = 128 * Math.max(1, Math.round((rate * 0.02) / 128));
    const buffer = new Float32Array(block + 1);
    let at = 0;
    const device = {
      sampleRate: rate, commands: [], blocks: 0, closed: false,
      command(c) { this.commands.push(c); },
      close() { this.closed = true; clearInterval(timer); },
    };
    const timer = setInterval(() => {
      for (let i = 0; i < block; ++i) {
        if (samples && (loop || at < samples.length)) buffer[i] = samples[at++ % samples.length];
        else buffer[i] = samples ? 0 : 0.25 * Math.sin((2 * Math.PI * 440 * at++) / rate);
      }
      ++device.blocks;
      client._capture(buffer, block);
    }, (1000 * block) / rate);
    devices.push(device);
    return device;
  };
  open.devices = devices;
  return open;
}

// A TCP proxy on 127.0.0.1:0 in front of `target` (host:port). cut() destroys every open
// connection (the client sees a dropped socket, code 1006); pause(true) refuses new ones.
export async function startProxy(targetPort) {
  const sockets = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const done = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', done);
    upstream.on('error', done);
    client.on('close', done);
    upstream.on('close', done);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    connections: () => sockets.size / 2,
    cut() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    refuse(on) {
      refusing = on;
    },
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(resolve); }),
  };
}

// The demo config rewritten for a test: absolute web/ and SDK paths, the agent's resume
// window (and any other agent field) overridden, extra agents added. Returns the file path.
export function writeHostConfig(dir, { sdkDir, agent = {}, extraAgents = [], server = {} } = {}) {
  const demo = JSON.parse(fs.readFileSync(path.join(sourceDir, 'host', 'demo', 'config.json'), 'utf8'));
  // The pages as the build writes them (hashed names, .gz/.br copies) beside the SDK.
  demo.server.web_root = path.join(path.dirname(sdkDir), 'web');
  demo.server.wasm_root = sdkDir;
  demo.server.database = path.join(dir, 'unused.db');
  Object.assign(demo.server, server);
  Object.assign(demo.agents[0], agent);
  // Copies of the demo agent, without its phone numbers (a number belongs to one agent).
  const { phone_numbers: _numbers, ...base } = demo.agents[0];
  for (const extra of extraAgents) demo.agents.push({ ...base, ...extra });
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(demo, null, 2));
  return file;
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Runs `body(args, cleanup)` with an overall deadline; prints PASS / FAIL and exits 0 / 1.
// `cleanup(fn)` registers something to undo (hosts, proxies, browsers), run in reverse order.
export async function runSdkTest(name, overallMs, body, { needHost = true } = {}) {
  const args = parseSdkArgs(process.argv.slice(2));
  const undo = [];
  const overall = setTimeout(() => {
    console.error(`FAIL ${name}: the whole test took longer than ${overallMs / 1000} s`);
    process.exit(1);
  }, overallMs);
  let failed = null;
  try {
    requireBuilds(args, needHost);
    await body(args, (fn) => undo.push(fn));
  } catch (error) {
    failed = error;
  }
  for (const fn of undo.reverse()) {
    try {
      await fn();
    } catch (error) {
      failed = failed || error;
    }
  }
  clearTimeout(overall);
  if (failed) {
    console.error(`FAIL ${name}: ${failed.stack && !failed.constructor.name.includes('Failure') ? failed.stack : failed.message}`);
    process.exit(1);
  }
  console.log(`PASS ${name}`);
  process.exit(0);
}

// A parley-host on an ephemeral port with `config`; stopped by cleanup.
export async function hostFor(args, cleanup, config) {
  const { startHost } = await import('../clients/harness.mjs');
  const host = await startHost({ host: args.host, config });
  cleanup(() => host.stop());
  return host;
}
