// The gzip sizes (zlib level 9, as `gzip -9`) of the browser SDK and of the embed page, against
// issue 6's budgets: the SDK (wasm + JS + worklet) <= 80 KB, the whole embed page (the SDK and
// web/embed.{html,css}, web/embed-app.js) <= 100 KB; kilobytes of 1,024 bytes.
// Every build prints them (wasm/tools/bundle.mjs); `node sizes.mjs SDK_DIR WEB_DIR --check`
// (the ctest wasm.sdk.size) exits 1, naming what grew and by how much, when a budget is exceeded.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

export const SDK_FILES = ['parley.mjs', 'parley-core.wasm', 'parley-worklet.js'];
export const PAGE_FILES = ['embed.html', 'embed.css', 'embed-app.js'];
export const SDK_BUDGET = 80 * 1024;
export const PAGE_BUDGET = 100 * 1024;

function gz(file) {
  const bytes = fs.readFileSync(file);
  return { raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
}

export function measure(sdkDir, webDir) {
  const rows = [];
  for (const f of SDK_FILES) rows.push({ part: 'sdk', file: f, ...gz(path.join(sdkDir, f)) });
  for (const f of PAGE_FILES) {
    const file = path.join(webDir, f);
    if (fs.existsSync(file)) rows.push({ part: 'page', file: f, ...gz(file) });
  }
  const sdk = rows.filter(r => r.part === 'sdk').reduce((a, r) => a + r.gzip, 0);
  const page = rows.reduce((a, r) => a + r.gzip, 0);
  return { rows, sdk, page };
}

const kb = n => `${(n / 1024).toFixed(1)} KB`;

export function printSizes(sdkDir, webDir) {
  const m = measure(sdkDir, webDir);
  console.log('Parley browser sizes (gzip -9):');
  for (const r of m.rows)
    console.log(`  ${r.part.padEnd(4)} ${r.file.padEnd(18)} ${String(r.raw).padStart(7)} B raw ${String(r.gzip).padStart(7)} B gzip`);
  const verdict = (n, budget) => (n <= budget ? `met, ${budget - n} B to spare` : `EXCEEDED by ${n - budget} B`);
  console.log(`  SDK (wasm + JS + worklet): ${m.sdk} B = ${kb(m.sdk)} gzip (budget ${kb(SDK_BUDGET)}: ${verdict(m.sdk, SDK_BUDGET)})`);
  console.log(`  embed page, everything:    ${m.page} B = ${kb(m.page)} gzip (budget ${kb(PAGE_BUDGET)}: ${verdict(m.page, PAGE_BUDGET)})`);
  return m;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [sdkDir, webDir, flag] = process.argv.slice(2);
  const m = printSizes(sdkDir, webDir);
  if (flag === '--check') {
    const over = [];
    const missing = PAGE_FILES.filter(f => !m.rows.some(r => r.part === 'page' && r.file === f));
    if (missing.length) over.push(`${missing.join(', ')} missing from ${webDir}: the page cannot be measured`);
    if (m.sdk > SDK_BUDGET) over.push(`the SDK is ${m.sdk} B gzip, ${m.sdk - SDK_BUDGET} B over its budget of ${SDK_BUDGET} B (80 KB)`);
    if (m.page > PAGE_BUDGET) over.push(`the embed page is ${m.page} B gzip, ${m.page - PAGE_BUDGET} B over its budget of ${PAGE_BUDGET} B (100 KB)`);
    if (over.length) {
      console.error(`FAIL sizes (issue 6): ${over.join('; ')}`);
      process.exit(1);
    }
    console.log('PASS sizes: both issue-6 budgets met');
  }
}
