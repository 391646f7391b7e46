// Shared by the official-client tests: start parley-host on an ephemeral loopback port (or use
// a given URL), read its /metrics, check values with messages that say what differed, and keep
// every wait bounded so that no test can hang.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceDir = path.resolve(here, '..', '..');
export const defaultConfig = path.join(sourceDir, 'host', 'demo', 'config.json');

// The repository's own node_modules (package.json devDependencies), whatever the cwd.
const requireFromRepo = createRequire(path.join(sourceDir, 'package.json'));

export class Failure extends Error {}

export function fail(message) {
  throw new Failure(message);
}

export function check(condition, message) {
  if (!condition) fail(message);
}

export function checkEqual(actual, expected, what) {
  if (actual !== expected)
    fail(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

// A package of package.json, or a failure telling how to install it.
export function requirePackage(name) {
  try {
    return requireFromRepo(name);
  } catch (error) {
    fail(`npm package ${name} is missing (${error.message.split('\n')[0]}): ` +
         `run "npm install" in ${sourceDir} (scripts/setup.sh does it)`);
  }
}

export function log(...parts) {
  console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...parts);
}

// --host PATH (start parley-host), --url URL (use a running host), --config FILE,
// --metrics URL,URL… (behind a load balancer: the hosts' own addresses, whose /metrics are
// summed; through the balancer each read would reach one host of several, whichever is next).
export function parseArgs(argv) {
  const args = { host: null, url: null, config: defaultConfig, metrics: null };
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!['--host', '--url', '--config', '--metrics'].includes(flag) || value === undefined) {
      console.error(`usage: node ${path.basename(process.argv[1])} ` +
                    '(--host PATH_TO_PARLEY_HOST [--config FILE] | ' +
                    '--url http://HOST:PORT/ [--metrics http://HOST1:PORT/,http://HOST2:PORT/])');
      process.exit(64);
    }
    args[flag.slice(2)] = value;
    ++i;
  }
  if (!args.host && !args.url) {
    console.error('give --host PATH_TO_PARLEY_HOST or --url http://HOST:PORT/');
    process.exit(64);
  }
  return args;
}

export function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

// Resolves with `promise`'s value, or fails after `ms` with a message naming `what`.
export function withDeadline(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Polls `probe` (async, returns a value or undefined) until it yields or `ms` pass.
export async function waitFor(probe, ms, what, intervalMs = 50) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// A running parley-host: { url, metricUrls, pid, running(), stop(), output() }. Its database is a SQLite file
// of its own unless `db` names one (a postgresql:// URI: several hosts on one database).
export async function startHost({ host, url, config, metrics, db }) {
  if (url) {
    const base = url.endsWith('/') ? url : `${url}/`;
    const metricUrls = metrics ? metrics.split(',').filter(Boolean) : [base];
    return { url: base, metricUrls, stop: async () => {}, output: () => '', pid: null };
  }
  check(fs.existsSync(host), `parley-host binary not found at ${host}`);
  check(fs.existsSync(config), `host config not found at ${config}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-clients-'));
  const child = spawn(host, ['--config', config, '--listen', '127.0.0.1:0',
                             '--db', db || path.join(dir, 'host.db')],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited = null;
  child.stdout.on('data', chunk => { output += chunk; });
  child.stderr.on('data', chunk => { output += chunk; });
  const exit = new Promise(resolve => child.on('exit', (code, signal) => {
    exited = { code, signal };
    resolve(exited);
  }));
  const tail = () => output.split('\n').slice(-15).join('\n');
  let base;
  try {
    base = await waitFor(() => {
      if (exited) fail(`parley-host exited (${JSON.stringify(exited)}) before listening:\n${tail()}`);
      const match = /parley-host listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
      return match ? match[1] : undefined;
    }, 15000, 'the line "parley-host listening on http://127.0.0.1:PORT/"');
  } catch (error) {
    child.kill('SIGKILL');
    if (error instanceof Failure && !exited) error.message += `\nhost output so far:\n${tail()}`;
    throw error;
  }
  log(`parley-host (pid ${child.pid}) listening on ${base}`);
  return {
    url: base,
    metricUrls: [base],
    pid: child.pid,
    running: () => exited === null,
    output: () => output,
    async stop() {
      if (exited) {  // killed by the test, or died: nothing to stop
        fs.rmSync(dir, { recursive: true, force: true });
        return;
      }
      child.kill('SIGTERM');
      const done = await Promise.race([exit, sleep(5000).then(() => null)]);
      if (!done) {
        child.kill('SIGKILL');
        await exit;
        fail('parley-host did not exit within 5 s of SIGTERM');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// GET url → { status, headers, body } (no redirects, 5 s deadline).
export function httpGet(url) {
  return withDeadline(new Promise((resolve, reject) => {
    http.get(url, response => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', chunk => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body }));
    }).on('error', reject);
  }), 5000, `GET ${url}`);
}

// The value of one unlabelled Prometheus sample (e.g. parley_frames_in_binary_total), summed
// over the hosts behind `host`: a startHost() result (one host, unless --metrics named
// several) or a host's base URL.
export async function metric(host, name) {
  const urls = typeof host === 'string' ? [host] : host.metricUrls;
  check(Array.isArray(urls) && urls.length > 0,
        `metric(${name}): give a startHost() result or a base URL, not ${JSON.stringify(host)}`);
  let sum = 0;
  for (const baseUrl of urls) {
    const reply = await httpGet(new URL('metrics', baseUrl).href);
    checkEqual(reply.status, 200, `GET ${baseUrl}metrics status`);
    const match = new RegExp(`^${name} (\\d+(?:\\.\\d+)?)$`, 'm').exec(reply.body);
    check(match, `GET ${baseUrl}metrics has no sample named ${name}`);
    sum += Number(match[1]);
  }
  return sum;
}

// Reads the demo agent of a host config (for the texts the checks expect), if the file parses.
export function readAgent(configPath, agentId) {
  try {
    const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
    return (config.agents || []).find(agent => agent.id === agentId) || null;
  } catch {
    return null;
  }
}

// Runs `body` with a host and an overall deadline; prints PASS or the failure; exits 0 / 1.
export async function runTest(name, argv, overallMs, body) {
  const args = parseArgs(argv);
  let host = null;
  const overall = setTimeout(() => {
    console.error(`FAIL ${name}: the whole test took longer than ${overallMs / 1000} s`);
    if (host && host.pid) try { process.kill(host.pid, 'SIGKILL'); } catch { /* gone */ }
    process.exit(1);
  }, overallMs);
  let failed = null;
  try {
    host = await startHost(args);
    await body({ host, args });
  } catch (error) {
    failed = error;
  }
  try {
    if (host) await host.stop();
  } catch (error) {
    failed = failed || error;
  }
  clearTimeout(overall);
  if (failed) {
    const detail = failed instanceof Failure ? failed.message : failed.stack || String(failed);
    console.error(`FAIL ${name}: ${detail}`);
    if (host && host.output()) {
      console.error(`host output (last lines):\n${host.output().split('\n').slice(-20).join('\n')}`);
    }
    process.exit(1);
  }
  console.log(`PASS ${name}`);
  process.exit(0);
}
