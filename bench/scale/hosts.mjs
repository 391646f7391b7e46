// Text turns and voice streams held through HAProxy with 1, 2 and 3 parley-host processes on
// one PostgreSQL, beside one host on SQLite (no proxy), in one run (issue 17, DESIGN §12). Not
// a test: it prints figures and exits 0 unless something failed to run.
//
// A turn is what a typing visitor does: POST /memori/v2/TextEnteredEvent/{session} (the user's
// line stored, the built-in responder's reply stored, both committed before the answer).
// --clients conversations run at once, each turn after the previous one's answer, for
// --seconds per row after a second of warm-up; every conversation was opened (POST Session)
// before the clock starts. The client is node's fetch with keep-alive, on the same 2 cores.
//
// Streams: bench/host-load's client (parley-host-load, one io thread) holds --streams silent
// voice streams (a 20 ms frame every 20 ms, a ping a second) through the same setups, each on
// hosts started afresh; --seconds measured after 3 s of warm-up. The CPU of every part
// (hosts, HAProxy, PostgreSQL's processes, the client) is read from /proc over the client's
// measured window, so the figures are CPU time used, not a share of a wall clock that other
// work on the machine also takes; the load average is recorded beside each row.
//
//   bench/scale/with_postgres.sh node bench/scale/hosts.mjs [--clients 32] [--seconds 10]
//       [--streams 500[,1000...]] [--only turns|streams] [--host build/release/host/parley-host]
//       [--load build/release/bench/host-load/parley-host-load]
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
const args = { clients: 32, seconds: 10, streams: '500', only: 'both',
               host: path.join(sourceDir, 'build', 'release', 'host', 'parley-host'),
               load: path.join(sourceDir, 'build', 'release', 'bench', 'host-load', 'parley-host-load') };
const usage = (why) => {
  console.error(`hosts.mjs: ${why}\nusage: node bench/scale/hosts.mjs [--clients N] [--seconds S] ` +
                '[--streams N[,N...]] [--only turns|streams] [--host PATH] [--load PATH]');
  process.exit(64);
};
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args) || process.argv[i + 1] === undefined) usage(`unknown option or no value: ${process.argv[i]}`);
  args[key] = typeof args[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (!(args.clients >= 1) || !(args.seconds > 0)) usage('--clients and --seconds take positive numbers');
if (!/^[1-9][0-9]*(,[1-9][0-9]*)*$/.test(args.streams)) usage('--streams takes a list like 500,1000');
if (!['both', 'turns', 'streams'].includes(args.only)) usage('--only takes turns or streams');
const phases = { turns: args.only !== 'streams', streams: args.only !== 'turns' };
const streamCounts = args.streams.split(',').map(Number);
for (const [what, file] of [['parley-host', args.host], ...(phases.streams ? [['parley-host-load', args.load]] : [])]) {
  if (!fs.existsSync(file)) {
    console.error(`${what} not found at ${file}: cmake --build --preset release --target ${what} (or --${what === 'parley-host' ? 'host' : 'load'} PATH)`);
    process.exit(2);
  }
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
  // Each stream is a socket: the open-file limit raised to the hard one (as bench/host-load).
  const child = spawn('sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', args.host,
                             '--config', configFile, '--listen', `127.0.0.1:${port}`, '--db', db],
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
  // Each stream is two connections of HAProxy's (client side, host side).
  const maxconn = Math.max(4000, 2 * Math.max(...streamCounts) + 100);
  let cfg = `global\n  maxconn ${maxconn}\ndefaults\n  mode http\n  maxconn ${maxconn}\n  timeout connect 1s\n` +
            '  timeout client 60s\n  timeout server 60s\n  timeout tunnel 1h\n  retries 3\n  option redispatch 1\n' +
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

// The fields of /proc/PID/stat after "pid (comm) " (f[0] is field 3, state), or null if gone.
function statOf(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

// CPU seconds used by a set of processes (utime + stime from /proc), for the per-row share.
function cpuOf(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const f = statOf(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / clockTicks;
}

// CPU seconds of a process and all its descendants, those that ended included (their time is
// in their parent's cutime + cstime once reaped): the PostgreSQL server started by
// with_postgres.sh (PARLEY_PG_PID) with its backends, and no other PostgreSQL on the machine.
function cpuOfTree(root) {
  if (!root) return 0;
  const children = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    const f = statOf(name);
    if (!f) continue;
    const ppid = Number(f[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  let ticks = 0;
  for (const todo = [root]; todo.length;) {
    const pid = todo.pop();
    const f = statOf(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    todo.push(...(children.get(pid) || []));
  }
  return ticks / clockTicks;
}
const postgresRoot = Number(process.env.PARLEY_PG_PID) || 0;

// Context switches of the processes' main threads (the hosts' io threads): how often they
// went to sleep (voluntary: nothing left to do) or were preempted (involuntary).
function switchesOf(pids) {
  const sum = { voluntary: 0, involuntary: 0 };
  for (const pid of pids) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      sum.voluntary += Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)[1]);
      sum.involuntary += Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(status)[1]);
    } catch { /* gone */ }
  }
  return sum;
}

// Holds the streams of every count in `streamCounts` with bench/host-load's client against
// `base`, the hosts' /metrics read on their own ports; resolves with one result per count,
// each with the CPU of every part over the client's measured window.
function holdStreams(base, hosts, proxy, pg) {
  const port = new URL(base).port;
  const load = spawn(args.load, ['--port', port, '--clients', args.streams, '--warmup', '3',
                                 '--duration', String(args.seconds), '--json',
                                 '--metrics-ports', hosts.map((h) => h.port).join(',')],
                     { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(load);
  const sample = () => ({ at: performance.now(), load: os.loadavg()[0], hosts: cpuOf(hosts.map((h) => h.child.pid)),
                          proxy: proxy ? cpuOf([proxy.child.pid]) : 0, pg: cpuOfTree(pg), client: cpuOf([load.pid]),
                          switches: switchesOf(hosts.map((h) => h.child.pid)) });
  return new Promise((resolve, reject) => {
    const results = [];
    let start = null;
    let end = null;
    let pending = '';
    let errors = '';
    const table = [];
    load.stderr.on('data', (d) => { errors += d; });
    load.stdout.on('data', (d) => {
      pending += d;
      for (let nl; (nl = pending.indexOf('\n')) >= 0;) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line === '@window-start') {
          start = sample();
        } else if (line === '@window-end') {
          end = sample();
        } else if (line.startsWith('@result ')) {
          const r = JSON.parse(line.slice('@result '.length));
          const wall = (end.at - start.at) / 1000;
          r.cpu = { hosts: (end.hosts - start.hosts) / wall, proxy: (end.proxy - start.proxy) / wall,
                    pg: (end.pg - start.pg) / wall, client: (end.client - start.client) / wall };
          r.load = [start.load, end.load];
          const frames = r.frames_per_s * r.seconds;
          r.wakeupsPer100Frames = (100 * (end.switches.voluntary - start.switches.voluntary)) / frames;
          r.preemptedPer100Frames = (100 * (end.switches.involuntary - start.switches.involuntary)) / frames;
          results.push(r);
        } else {
          table.push(line);
        }
      }
    });
    load.on('exit', (code) => {
      children.delete(load);
      if (code === 0 && results.length) resolve({ results, table });
      else reject(new Error(`parley-host-load exited with ${code}:\n${table.join('\n')}\n${errors.slice(-2000)}`));
    });
  });
}

const turnRows = [];
const streamRows = [];
async function row(label, setup) {
  for (const phase of ['turns', 'streams']) {
    if (!phases[phase]) continue;
    const { base, hosts, proxy } = await setup();
    const pids = [...hosts.map((h) => h.child.pid), ...(proxy ? [proxy.child.pid] : [])];
    const pg = label.includes('PostgreSQL') ? postgresRoot : 0;
    if (phase === 'turns') {
      const before = { hosts: cpuOf(hosts.map((h) => h.child.pid)), proxy: proxy ? cpuOf([proxy.child.pid]) : 0, pg: cpuOfTree(pg) };
      const t0 = performance.now();
      const r = await drive(base);
      const wall = (performance.now() - t0) / 1000;
      r.cpu = { hosts: (cpuOf(hosts.map((h) => h.child.pid)) - before.hosts) / wall,
                proxy: proxy ? (cpuOf([proxy.child.pid]) - before.proxy) / wall : 0,
                pg: (cpuOfTree(pg) - before.pg) / wall };
      turnRows.push([label, r]);
      console.log(`  ${label}: ${r.turns} turns, ${r.perSecond.toFixed(0)}/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.errors} errors`);
    } else {
      const { results, table } = await holdStreams(base, hosts, proxy, pg);
      for (const r of results) {
        streamRows.push([label, r]);
        console.log(`  ${label}: ${r.held} of ${r.n} streams held, ping p99 ${r.rtt_p99_ms?.toFixed(2)} ms, ` +
                    `hosts ${r.cpu.hosts.toFixed(2)} cores, load ${r.load[0].toFixed(1)}`);
      }
      console.log(table.map((l) => `    ${l}`).join('\n'));
    }
    for (const c of pids) process.kill(c, 'SIGTERM');
    for (const h of hosts) children.delete(h.child);
    if (proxy) children.delete(proxy.child);
    await sleep(500);
  }
}

console.log(`bench/scale/hosts: ${phases.turns ? `${args.clients} conversations at once, ` : ''}` +
            `${phases.streams ? `${args.streams} streams, ` : ''}${args.seconds} s per row, ` +
            `${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ` +
            `${new Date().toISOString()}`);
await row('1 host, SQLite (no proxy)', async () => {
  const h = await startHost(path.join(tmp, `sqlite-${Date.now()}.db`), 'sqlite host');
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

if (turnRows.length) {
  const reference = turnRows[0][1];
  console.log(`\n| setup | turns/s | p50 ms | p99 ms | errors | vs 1 host on SQLite | CPU cores used: hosts / HAProxy / PostgreSQL / client |`);
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const [label, r] of turnRows) {
    console.log(`| ${label} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} | ` +
                `${(r.perSecond / reference.perSecond).toFixed(2)}× | ${r.cpu.hosts.toFixed(2)} / ${r.cpu.proxy.toFixed(2)} / ` +
                `${r.cpu.pg.toFixed(2)} / ${r.clientCpu.toFixed(2)} |`);
  }
}
if (streamRows.length) {
  // Streams per core: the streams' worth of frames the client sent (frames/s ÷ 50, which is
  // the streams held when every frame went out on time, and fewer when the client was starved
  // of CPU) over the cores the hosts used; the same with HAProxy's and PostgreSQL's cores
  // added (what the setup costs beside the load client).
  const fixed = (v, d) => (v === null || v === undefined ? '–' : v.toFixed(d));
  const perCore = (r) => r.frames_per_s / 50 / r.cpu.hosts;
  const reference = new Map(streamRows.filter(([l]) => l.includes('SQLite')).map(([, r]) => [r.n, perCore(r)]));
  console.log('\n| setup | streams held | frames/s (of N × 50) | ping p50 / p99 ms | host io-loop lag p99 ms | client timer lag p99 ms | ' +
              'CPU cores used: hosts / HAProxy / PostgreSQL / client | streams per host core | vs 1 host on SQLite | ' +
              'streams per HAProxy core | streams per core, hosts + HAProxy + PostgreSQL | host io thread: sleeps / preemptions per 100 frames | load average |');
  console.log('|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|');
  for (const [label, r] of streamRows) {
    const all = r.cpu.hosts + r.cpu.proxy + r.cpu.pg;
    console.log(`| ${label} | ${r.held} of ${r.n}${r.dropped ? ` (${r.dropped} frames dropped)` : ''} | ` +
                `${r.frames_per_s.toFixed(0)} (${(100 * r.frames_per_s / (50 * r.n)).toFixed(0)} %) | ` +
                `${fixed(r.rtt_p50_ms, 2)} / ${fixed(r.rtt_p99_ms, 2)} | ${fixed(r.loop_p99_ms, 2)} | ${fixed(r.lag_p99_ms, 1)} | ` +
                `${r.cpu.hosts.toFixed(2)} / ${r.cpu.proxy.toFixed(2)} / ${r.cpu.pg.toFixed(2)} / ${r.cpu.client.toFixed(2)} | ` +
                `${perCore(r).toFixed(0)} | ${(perCore(r) / reference.get(r.n)).toFixed(2)}× | ` +
                `${r.cpu.proxy > 0 ? (r.frames_per_s / 50 / r.cpu.proxy).toFixed(0) : '–'} | ${(r.frames_per_s / 50 / all).toFixed(0)} | ` +
                `${r.wakeupsPer100Frames.toFixed(1)} / ${r.preemptedPer100Frames.toFixed(1)} | ` +
                `${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)} |`);
  }
}
