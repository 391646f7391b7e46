// The SDK as an npm package: `npm pack` of the build output gives a tarball; a consumer
// project installs that tarball (offline: the package has no dependencies) and imports it by
// name, in node; its TypeScript declarations type-check a consumer written against them.
//
//   node tests/wasm/sdk-package.test.mjs [--sdk build/wasm/sdk]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { check, checkEqual, log, runSdkTest, sourceDir, tempDir } from './sdk-harness.mjs';

function run(cmd, argv, cwd) {
  try {
    return execFileSync(cmd, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new Error(`${cmd} ${argv.join(' ')} failed (in ${cwd}):\n${error.stdout || ''}${error.stderr || ''}`);
  }
}

await runSdkTest('sdk-package', 120000, async (args) => {
  const dir = tempDir('parley-sdk-package-');
  const packed = JSON.parse(run('npm', ['pack', args.sdk, '--pack-destination', dir, '--json', '--loglevel=error'], dir))[0];
  const files = packed.files.map((f) => f.path).sort();
  checkEqual(JSON.stringify(files), JSON.stringify(['README.md', 'package.json', 'parley-core.wasm', 'parley-worklet.js', 'parley.d.ts', 'parley.mjs']),
             'files in the tarball');
  log(`packed ${packed.filename}: ${packed.size} bytes, ${files.length} files`);

  const consumer = path.join(dir, 'consumer');
  fs.mkdirSync(consumer);
  fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', path.join(dir, packed.filename)], consumer);
  fs.writeFileSync(path.join(consumer, 'use.mjs'), `
import Parley, { createClient, parseWidgetUrl, ParleyError } from 'parley-web-sdk';
const config = parseWidgetUrl('https://x.test/embed?id=a1&k=pk&userName=Ada');
if (config.metadata.userName !== 'Ada') throw new Error('parseWidgetUrl: ' + JSON.stringify(config));
const client = createClient({ publicKey: 'pk', endPoint: 'wss://x.test/v1/voice' });
if (client.getState().connection !== 'idle') throw new Error('getState');
try { Parley.parseWidgetUrl('https://x.test/embed'); throw new Error('accepted'); }
catch (e) { if (!(e instanceof ParleyError) || e.code !== 'missing_parameter') throw e; }
const worklet = new URL('./node_modules/parley-web-sdk/parley-worklet.js', import.meta.url);
console.log('ok', Parley.version);
`);
  const out = run(process.execPath, ['use.mjs'], consumer);
  check(out.startsWith('ok '), `the consumer ran: ${out}`);

  // The declarations: a strict TypeScript consumer of the installed package type-checks.
  fs.writeFileSync(path.join(consumer, 'use.ts'), `
import Parley, { createClient, type ResumeResult, type WidgetState } from 'parley-web-sdk';
const client = createClient({ publicKey: 'pk', endPoint: 'wss://x.test/v1/voice', integrationId: 'shop' });
client.on('onready', (p) => { const id: string = p.session_id; void id; });
client.on('onresponsetext', (text, payload) => { const t: string = text; const f: boolean = payload.is_final; void t; void f; });
client.on('onerror', (e) => { const code: string = e.code; void code; });
async function go(): Promise<void> {
  await client.start({ agent: { agent_id: 'a' }, metadata: { userName: 'Ada' }, session_continuation: { session_id: 's' } });
  await client.start('a', { userName: 'Ada' }, true);
  const r: ResumeResult = await client.resume({ agentId: 'a' });
  const s: WidgetState = client.getState();
  const n: string | null = s.sessionID ?? r.sessionID;
  void n;
  client.mute(); client.unmute(); await client.sendText('hi'); await client.stop();
}
void go;
const ok: boolean = Parley.checkTemplate('Hi {userName}', { userName: 'Ada' }).ok;
void ok;
`);
  fs.writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'] },
    files: ['use.ts'],
  }));
  run(path.join(sourceDir, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], consumer);
  log('the declarations type-check a strict consumer');
  fs.rmSync(dir, { recursive: true, force: true });
}, { needHost: false });
