// Text turns through HAProxy with 1, 2 and 3 parley-host processes on one PostgreSQL, beside
// one host on SQLite (no proxy), in one run (issue 17, DESIGN §12). Not a test: it prints
// figures and exits 0 unless something failed to run.
//
// A turn is what a typing visitor does: POST /memori/v2/TextEnteredEvent/{session} (the user's
// line stored, the built-in responder's reply stored, both committed before the answer).
// --clients conversations run at once, each turn after the previous one's answer, for
// --seconds per row after a second of warm-up; every conversation was opened (POST Session)
// before the clock starts. The client is node's fetch with keep-alive, on the same 2 cores.
//
//   bench/scale/with_postgres.sh node bench/scale/hosts.mjs [--clients 32] [--seconds 10]
//       [--host build/release/host/parley-host]
//
// PARLEY_PG_URI (set by with_postgres.sh) names the database; each row starts from an empty
// one (the tables dropped by the first host's migration on a fresh schema).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(here, '..', '..');
const args = { clients: 32, seconds: 10, host: path.join(sourceDir, 'build', 'release', 'host', 'parley-host') };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args) || process.argv[i + 1] === undefined) {
    console.error('usage: node bench/scale/hosts.mjs [--clients N] [--seconds S] [--host PATH]');
    process.exit(64);
  }
  args[key] = typeof args[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const pgUri = process.env.PARLEY_PG_URI;
if (!pgUri) {
  console.error('PARLEY_PG_URI is not set: run this under bench/scale/with_postgres.sh');
  process.exit(64);
}
for (const tool of ['haproxy', 'psql']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    console.error(`${tool} is not installed (scripts/setup.sh installs it)`);
    process.exit(2);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
  s.on('error', reject);
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-bench-hosts-'));
const children = new Set();
function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

// The demo agent with speech and rate limits off (a benchmark sends faster than a person).
const demo = JSON.parse(fs.readFileSync(path.join(sourceDir, 'host', 'demo', 'config.json'), 'utf8'));
demo.server.log_level = 'warn';
if (demo.server.speech) demo.server.speech.enabled = false;
demo.server.limits = { ...(demo.server.limits || {}), max_requests_per_s: 0, max_sessions_per_min: 0,
                       max_session_requests_per_s: 0 };
const configFile = path.join(tmp, 'config.json');
fs.writeFileSync(configFile, JSON.stringify(demo));

// Starts a host on `db` and resolves with its port once it listens.
async function startHost(db, name) {
  const port = await freePort();
  const child = spawn(args.host, ['--config', configFile, '--listen', `127.0.0.1:${port}`, '--db', db],
                      { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const deadline = Date.now() + 20000;
  while (!/listening on/.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${name} did not start:\n${output.slice(-2000)}`);
    await sleep(20);
  }
  return { port, child, name };
}

async function startHaproxy(ports) {
  const port = await freePort();
  let cfg = 'global\n  maxconn 4000\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n' +
            '  timeout server 60s\n  retries 3\n  option redispatch 1\n' +
            `frontend parley\n  bind 127.0.0.1:${port}\n  default_backend hosts\n` +
            'backend hosts\n  balance roundrobin\n  option httpchk GET /healthz\n  http-check expect status 200\n';
  ports.forEach((p, i) => { cfg += `  server h${i + 1} 127.0.0.1:${p} check inter 300ms fall 2 rise 1\n`; });
  const file = path.join(tmp, `haproxy-${port}.cfg`);
  fs.writeFileSync(file, cfg);
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error('haproxy did not come up');
    await sleep(50);
  }
  // Every server up in HAProxy's view (two checks' worth), so the rotation covers them all.
  await sleep(700);
  return { port, child };
}

function resetPostgres() {
  // An empty database per row: the hosts create the schema again.
  execFileSync('psql', [pgUri, '-q', '-v', 'ON_ERROR_STOP=1', '-c',
                        'DROP SCHEMA public CASCADE; CREATE SCHEMA public;'], { stdio: 'pipe' });
}

const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

async function drive(base) {
  const post = async (route, body) => {
    const r = await fetch(`${base}/memori/v2/${route}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const j = await r.json();
    if (j.resultCode !== 0) throw new Error(`${route}: HTTP ${r.status} ${JSON.stringify(j).slice(0, 200)}`);
    return j;
  };
  const sessions = [];
  for (let i = 0; i < args.clients; ++i)
    sessions.push((await post('Session', { memoriID: 'demo', initialContextVars: { userName: `U${i}` } })).sessionID);
  const latencies = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const client = async (id) => {
    let n = 0;
    while (!stop) {
      const t0 = performance.now();
      try {
        await post(`TextEnteredEvent/${id}`, { text: `what is my name, turn ${n++}` });
        if (measuring) latencies.push(performance.now() - t0);
      } catch (error) {
        if (measuring) ++errors;
        if (errors === 1) console.error(`  first error: ${error.message}`);
      }
    }
  };
  const running = sessions.map(client);
  await sleep(1000);  // warm-up
  measuring = true;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await sleep(args.seconds * 1000);
  measuring = false;
  const took = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await Promise.all(running);
  return { turns: latencies.length, perSecond: latencies.length / took, p50: percentile(latencies, 50),
           p99: percentile(latencies, 99), errors, clientCpu: (cpu.user + cpu.system) / 1e6 / took };
}

// CPU seconds used by a set of processes (utime + stime from /proc), for the per-row share.
function cpuOf(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* gone */ }
  }
  return ticks / 100;
}
function postgresPids() {
  try {
    return execFileSync('pgrep', ['-x', 'postgres'], { encoding: 'utf8' }).trim().split('\n').map(Number);
  } catch {
    return [];
  }
}

const rows = [];
async function row(label, setup) {
  const { base, hosts, proxy } = await setup();
  const pids = [...hosts.map((h) => h.child.pid), ...(proxy ? [proxy.child.pid] : [])];
  const pg = label.includes('PostgreSQL') ? postgresPids() : [];
  const before = { hosts: cpuOf(hosts.map((h) => h.child.pid)), proxy: proxy ? cpuOf([proxy.child.pid]) : 0, pg: cpuOf(pg) };
  const t0 = performance.now();
  const r = await drive(base);
  const wall = (performance.now() - t0) / 1000;
  r.cpu = { hosts: (cpuOf(hosts.map((h) => h.child.pid)) - before.hosts) / wall,
            proxy: proxy ? (cpuOf([proxy.child.pid]) - before.proxy) / wall : 0,
            pg: (cpuOf(pg) - before.pg) / wall };
  rows.push([label, r]);
  console.log(`  ${label}: ${r.turns} turns, ${r.perSecond.toFixed(0)}/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.errors} errors`);
  for (const c of pids) process.kill(c, 'SIGTERM');
  for (const h of hosts) children.delete(h.child);
  if (proxy) children.delete(proxy.child);
  await sleep(500);
}

console.log(`bench/scale/hosts: ${args.clients} conversations at once, ${args.seconds} s per row, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
await row('1 host, SQLite (no proxy)', async () => {
  const h = await startHost(path.join(tmp, 'sqlite.db'), 'sqlite host');
  return { base: `http://127.0.0.1:${h.port}`, hosts: [h] };
});
for (const n of [1, 2, 3]) {
  await row(`${n} host${n > 1 ? 's' : ''}, PostgreSQL, HAProxy`, async () => {
    resetPostgres();
    const hosts = [];
    // One at a time: the first creates the schema (the others would wait on its lock anyway).
    for (let i = 0; i < n; ++i) hosts.push(await startHost(pgUri, `host ${i + 1}`));
    const proxy = await startHaproxy(hosts.map((h) => h.port));
    return { base: `http://127.0.0.1:${proxy.port}`, hosts, proxy };
  });
}

const reference = rows[0][1];
console.log(`\n| setup | turns/s | p50 ms | p99 ms | errors | vs 1 host on SQLite | CPU cores used: hosts / HAProxy / PostgreSQL / client |`);
console.log('|---|---:|---:|---:|---:|---:|---|');
for (const [label, r] of rows) {
  console.log(`| ${label} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ` +
              `${(r.perSecond / reference.perSecond).toFixed(2)}× | ${r.cpu.hosts.toFixed(2)} / ${r.cpu.proxy.toFixed(2)} / ` +
              `${r.cpu.pg.toFixed(2)} / ${r.clientCpu.toFixed(2)} |`);
}
