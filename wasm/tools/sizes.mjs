// What a visitor downloads (DESIGN §14): the compressed copies the build wrote beside each
// served file (FILE.br by brotli -q 11, FILE.gz by gzip -9; parley-host sends one of them by
// Accept-Encoding), read from disk, against the budgets:
//   the SDK as served (the hashed parley.<h>.mjs, parley-core.<h>.wasm, parley-worklet.<h>.js):
//     <= 80 KB brotli and <= 90 KB gzip;
//   the cold embed page (embed.html with its first script inlined, its style sheet and module, the SDK, and the loader
//   /embed.js that a site's page loads first): <= 100 KB in either encoding.
// Kilobytes of 1,024 bytes. Every build prints them (wasm/tools/bundle.mjs);
// `node sizes.mjs SDK_DIR WEB_DIR --check` (the ctest wasm.sdk.size) exits 1, naming what is
// over and by how much, or what is missing.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SDK_BUDGET = { br: 80 * 1024, gz: 90 * 1024 };
export const PAGE_BUDGET = { br: 100 * 1024, gz: 100 * 1024 };

const size = (file) => (fs.existsSync(file) ? fs.statSync(file).size : null);

// The hashed names of the served SDK and page files, from the build's assets.json.
export function servedFiles(sdkDir, webDir) {
  const assets = JSON.parse(fs.readFileSync(path.join(sdkDir, 'assets.json'), 'utf8'));
  const sdk = ['parley.mjs', 'parley-core.wasm', 'parley-worklet.js'].map((f) => ({ part: 'sdk', name: f, file: path.join(sdkDir, assets.sdk[f]) }));
  const page = [
    { part: 'page', name: 'embed.html', file: path.join(webDir, 'embed.html') },
    { part: 'page', name: 'embed.css', file: path.join(webDir, assets.web['embed.css'] || 'embed.css') },
    { part: 'page', name: 'embed-app.js', file: path.join(webDir, assets.web['embed-app.js'] || 'embed-app.js') },
    { part: 'page', name: 'embed.js', file: path.join(webDir, 'embed.js') },
  ];
  return [...sdk, ...page];
}

export function measure(sdkDir, webDir) {
  const rows = servedFiles(sdkDir, webDir).map((r) => ({
    ...r, raw: size(r.file), br: size(`${r.file}.br`), gz: size(`${r.file}.gz`),
  }));
  const sum = (part, key) => rows.filter((r) => !part || r.part === part).reduce((a, r) => a + (r[key] || 0), 0);
  return {
    rows,
    missing: rows.filter((r) => r.raw === null || r.br === null || r.gz === null).map((r) => path.basename(r.file)),
    sdk: { br: sum('sdk', 'br'), gz: sum('sdk', 'gz'), raw: sum('sdk', 'raw') },
    page: { br: sum(null, 'br'), gz: sum(null, 'gz'), raw: sum(null, 'raw') },
  };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const verdict = (n, budget) => (n <= budget ? `met, ${budget - n} B to spare` : `EXCEEDED by ${n - budget} B`);

export function printSizes(sdkDir, webDir) {
  const m = measure(sdkDir, webDir);
  console.log('Parley: what a visitor downloads (the .br / .gz beside each served file):');
  for (const r of m.rows)
    console.log(`  ${r.part.padEnd(4)} ${path.basename(r.file).padEnd(30)} ${String(r.raw).padStart(7)} B raw ${String(r.br).padStart(7)} B br ${String(r.gz).padStart(7)} B gzip`);
  console.log(`  SDK as served:     ${m.sdk.br} B = ${kb(m.sdk.br)} brotli (budget ${kb(SDK_BUDGET.br)}: ${verdict(m.sdk.br, SDK_BUDGET.br)}), ` +
              `${m.sdk.gz} B = ${kb(m.sdk.gz)} gzip (budget ${kb(SDK_BUDGET.gz)}: ${verdict(m.sdk.gz, SDK_BUDGET.gz)})`);
  console.log(`  cold embed page:   ${m.page.br} B = ${kb(m.page.br)} brotli, ${m.page.gz} B = ${kb(m.page.gz)} gzip ` +
              `(budget ${kb(PAGE_BUDGET.br)}: ${verdict(Math.max(m.page.br, m.page.gz), PAGE_BUDGET.br)})`);
  return m;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [sdkDir, webDir, flag] = process.argv.slice(2);
  if (!fs.existsSync(path.join(sdkDir || '', 'assets.json'))) {
    console.error(`FAIL sizes: ${path.join(sdkDir || '', 'assets.json')} is missing: build the SDK (cmake --build --preset wasm)`);
    process.exit(1);
  }
  const m = printSizes(sdkDir, webDir);
  if (flag === '--check') {
    const over = [];
    if (m.missing.length) over.push(`${m.missing.join(', ')} (or its .br / .gz) missing: the build writes them`);
    for (const [key, name] of [['br', 'brotli'], ['gz', 'gzip']]) {
      if (m.sdk[key] > SDK_BUDGET[key]) over.push(`the SDK is ${m.sdk[key]} B ${name}, ${m.sdk[key] - SDK_BUDGET[key]} B over its budget of ${SDK_BUDGET[key]} B`);
      if (m.page[key] > PAGE_BUDGET[key]) over.push(`the cold embed page is ${m.page[key]} B ${name}, ${m.page[key] - PAGE_BUDGET[key]} B over its budget of ${PAGE_BUDGET[key]} B`);
    }
    if (over.length) {
      console.error(`FAIL sizes (DESIGN §14): ${over.join('; ')}`);
      process.exit(1);
    }
    console.log('PASS sizes: the DESIGN §14 budgets are met (SDK 80 KB brotli / 90 KB gzip, page 100 KB)');
  }
}
