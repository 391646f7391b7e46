// Build step of the browser SDK and of the pages the host serves.
//
// 1. The SDK package (OUT_DIR, build/wasm/sdk): the hand-written modules (wasm/js) bundled into
//    one minified ES module by esbuild (there is no Emscripten glue: see wasm/src/bindings.cpp),
//    the minified worklet, the wasm, the declarations, package.json and README.md. These keep
//    plain names (parley.mjs, parley-core.wasm, parley-worklet.js): they are the npm package,
//    and /sdk/parley.mjs for pages that import the SDK themselves.
// 2. The same SDK with content-hashed names (parley.<hash>.mjs, parley-core.<hash>.wasm,
//    parley-worklet.<hash>.js; the hash is the first 10 hex digits of the file's SHA-256, and
//    the module is bundled with its companions' hashed names). parley-host serves a hashed
//    name "public, max-age=31536000, immutable" (host/src/net/static_files.cpp).
// 3. The web files (WEB_OUT, build/wasm/web, the host's web_root): web/*.html as they are but
//    with every reference to a script or style sheet of web/ or of the SDK rewritten to its
//    hashed name; those scripts (minified) and style sheets under hashed names, but for a script
//    marked data-parley-inline, which is put into the page (its CSP hash in FILE.html.csp). The HTML and
//    the loader /embed.js keep their names: a site's snippet names /embed.js, and both are
//    revalidated on every load (no-cache).
// 4. Beside every served file, FILE.gz (gzip -9 -n) and FILE.br (brotli -q 11), made here by
//    Debian's gzip and brotli, once: the host picks one by Accept-Encoding and never
//    compresses a request's answer itself. Hashed files of earlier builds are removed.
// Then prints the sizes (wasm/tools/sizes.mjs). assets.json in OUT_DIR maps each plain name
// to its hashed one (read by sizes.mjs and the tests).
//
//   node wasm/tools/bundle.mjs SOURCE_DIR WASM_DIR OUT_DIR WEB_OUT
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { printSizes } from './sizes.mjs';

const [sourceDir, wasmDir, outDir, webOut] = process.argv.slice(2);
if (!webOut) {
  console.error('usage: node bundle.mjs SOURCE_DIR WASM_DIR OUT_DIR WEB_OUT');
  process.exit(64);
}
const require = createRequire(path.join(sourceDir, 'package.json'));
let esbuild;
try {
  esbuild = require('esbuild');
} catch (error) {
  console.error(`bundle.mjs: npm package esbuild is missing (${error.message.split('\n')[0]}); ` +
                `run scripts/setup.sh (npm install in ${sourceDir})`);
  process.exit(1);
}

const js = path.join(sourceDir, 'wasm', 'js');
const web = path.join(sourceDir, 'web');
fs.mkdirSync(outDir, { recursive: true });
fs.mkdirSync(webOut, { recursive: true });

const HASHED = /\.[0-9a-f]{10}\.[a-z]+$/;  // what parley-host serves as immutable
const hashOf = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 10);
const hashedName = (name, bytes) => {
  const dot = name.indexOf('.');
  return `${name.slice(0, dot)}.${hashOf(bytes)}${name.slice(dot)}`;
};

// Files written by this run (for the compression step and the clean-up).
const served = { [outDir]: new Set(), [webOut]: new Set() };
function write(dir, name, bytes) {
  fs.writeFileSync(path.join(dir, name), bytes);
  served[dir].add(name);
}
function writeHashed(dir, name, bytes) {
  const hashed = hashedName(name, bytes);
  write(dir, hashed, bytes);
  return hashed;
}

// The SDK module, bundled with the given companion file names.
async function bundleSdk(files) {
  const result = await esbuild.build({
    entryPoints: [path.join(js, 'parley.mjs')],
    write: false,
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    minify: true, legalComments: 'none', external: ['node:*'],
    logLevel: 'warning',
    plugins: [{
      name: 'parley-files',
      setup(build) {
        build.onLoad({ filter: /[\\/]files\.mjs$/ }, () => ({
          contents: `export const WASM_FILE = ${JSON.stringify(files.wasm)};\n` +
                    `export const WORKLET_FILE = ${JSON.stringify(files.worklet)};\n`,
          loader: 'js',
        }));
      },
    }],
  });
  return Buffer.from(result.outputFiles[0].contents);
}

// --- 1 and 2: the SDK -------------------------------------------------------------------------
const wasm = fs.readFileSync(path.join(wasmDir, 'parley-core.wasm'));
const worklet = Buffer.from((await esbuild.transform(fs.readFileSync(path.join(js, 'parley-worklet.js'), 'utf8'),
                                                     { minify: true, target: 'es2020', legalComments: 'none' })).code);
write(outDir, 'parley-core.wasm', wasm);
write(outDir, 'parley-worklet.js', worklet);
write(outDir, 'parley.mjs', await bundleSdk({ wasm: 'parley-core.wasm', worklet: 'parley-worklet.js' }));
const assets = {
  'parley-core.wasm': writeHashed(outDir, 'parley-core.wasm', wasm),
  'parley-worklet.js': writeHashed(outDir, 'parley-worklet.js', worklet),
};
assets['parley.mjs'] = writeHashed(outDir, 'parley.mjs',
                                   await bundleSdk({ wasm: assets['parley-core.wasm'], worklet: assets['parley-worklet.js'] }));
for (const f of ['parley.d.ts', 'package.json', 'README.md']) write(outDir, f, fs.readFileSync(path.join(js, f)));

// --- 3: the web files -------------------------------------------------------------------------
// References are rewritten where they are written as absolute paths in quotes: "/embed.css",
// '/sdk/parley.mjs', '/sdk/parley-core.wasm' (embed-early.js, the embed page's first script,
// fetches and compiles the wasm beside the modules instead of after them). A reference that
// names no file of web/ or of the SDK is left alone.
const rewrites = new Map(Object.entries(assets).map(([plain, hashed]) => [`/sdk/${plain}`, `/sdk/${hashed}`]));
const rewrite = (text) => text.replace(/(["'])(\/[A-Za-z0-9_./-]+)\1/g,
                                       (all, quote, ref) => (rewrites.has(ref) ? `${quote}${rewrites.get(ref)}${quote}` : all));
const webFiles = fs.readdirSync(web).filter((f) => fs.statSync(path.join(web, f)).isFile()).sort();
// Style sheets first, then scripts (a script may name a style sheet; none names a script).
const order = (f) => (f.endsWith('.css') ? 0 : f.endsWith('.js') || f.endsWith('.mjs') ? 1 : 2);
for (const f of [...webFiles].sort((a, b) => order(a) - order(b))) {
  const source = fs.readFileSync(path.join(web, f), 'utf8');
  if (f === 'embed.js') {
    // The loader keeps its name (sites' snippets point at it); minified, revalidated.
    write(webOut, f, (await esbuild.transform(rewrite(source), { minify: true, target: 'es2017', legalComments: 'none' })).code);
  } else if (f.endsWith('.js') || f.endsWith('.mjs')) {
    const code = (await esbuild.transform(rewrite(source), { minify: true, target: 'es2022', format: 'esm', legalComments: 'none' })).code;
    rewrites.set(`/${f}`, `/${writeHashed(webOut, f, Buffer.from(code))}`);
  } else if (f.endsWith('.css')) {
    const code = (await esbuild.transform(source, { minify: true, loader: 'css', legalComments: 'none' })).code;
    rewrites.set(`/${f}`, `/${writeHashed(webOut, f, Buffer.from(code))}`);
  } else if (!f.endsWith('.html')) {
    write(webOut, f, fs.readFileSync(path.join(web, f)));
  }
}
// A script written <script src="/x.js" data-parley-inline></script> goes into the page itself
// (the embed page's first script: a load waits for no request of it). Its CSP hash source is
// written to FILE.html.csp, which parley-host adds to that page's script-src.
const inlined = new Set();
function inlineScripts(f, html) {
  const hashes = [];
  const out = html.replace(/<script src="(\/[^"]+)" data-parley-inline><\/script>/g, (all, ref) => {
    const code = fs.readFileSync(path.join(webOut, ref.slice(1)), 'utf8').trim();
    if (/<\/script|<!--/i.test(code)) throw new Error(`bundle.mjs: ${ref} cannot be inlined into ${f}: it holds "</script" or "<!--"`);
    hashes.push(`'sha256-${createHash('sha256').update(code, 'utf8').digest('base64')}'`);
    inlined.add(ref.slice(1));
    return `<script>${code}</script>`;
  });
  if (/data-parley-inline/.test(out)) throw new Error(`bundle.mjs: ${f}: a data-parley-inline script is not written <script src="/NAME.js" data-parley-inline></script>`);
  if (hashes.length) fs.writeFileSync(path.join(webOut, `${f}.csp`), `${hashes.join(' ')}\n`);
  else fs.rmSync(path.join(webOut, `${f}.csp`), { force: true });
  return out;
}
for (const f of webFiles.filter((f) => f.endsWith('.html'))) {
  const html = inlineScripts(f, rewrite(fs.readFileSync(path.join(web, f), 'utf8')));
  for (const [, ref] of html.matchAll(/(?:src|href)="(\/[^"]*\.(?:m?js|css))"/g))
    if (!HASHED.test(ref) && ref !== '/embed.js')
      throw new Error(`bundle.mjs: ${f} refers to ${ref}, which is neither in web/ nor in the SDK`);
  write(webOut, f, html);
}
// An inlined script is served inside its page only.
for (const name of inlined) {
  fs.rmSync(path.join(webOut, name));
  served[webOut].delete(name);
}
for (const [plain, hashed] of rewrites)
  if (!plain.startsWith('/sdk/') && !inlined.has(hashed.slice(1))) assets[plain.slice(1)] = hashed.slice(1);
fs.writeFileSync(path.join(outDir, 'assets.json'), `${JSON.stringify({ sdk: Object.fromEntries(Object.entries(assets).filter(([k]) => k.startsWith('parley'))), web: Object.fromEntries(Object.entries(assets).filter(([k]) => !k.startsWith('parley'))) }, null, 2)}\n`);

// --- 4: compressed copies, and the clean-up ---------------------------------------------------
function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    console.error(`bundle.mjs: ${cmd} ${argv.join(' ')} failed: ${r.error ? r.error.message : r.stderr}` +
                  (r.error && r.error.code === 'ENOENT' ? ` (install Debian's ${cmd}: scripts/setup.sh)` : ''));
    process.exit(1);
  }
}
for (const [dir, names] of Object.entries(served)) {
  for (const name of fs.readdirSync(dir)) {
    const base = name.replace(/\.(gz|br)$/, '');
    if (HASHED.test(base) && !names.has(base)) fs.rmSync(path.join(dir, name));  // an earlier build's
  }
  // README.md and package.json are the npm package's, not pages' (npm would pack README.md.br).
  const files = [...names].filter((n) => n !== 'README.md' && n !== 'package.json').map((n) => path.join(dir, n));
  // -n: no name or time stamp inside, so the same input gives the same bytes.
  run('gzip', ['-9', '-n', '-k', '-f', ...files]);
  run('brotli', ['-q', '11', '-k', '-f', ...files]);
  // The copies carry the time they were made: the host sends a copy only when it is not older
  // than its file (brotli copies the file's time rounded down to the second, which would make
  // it look stale).
  const now = new Date();
  for (const f of files) for (const ext of ['.gz', '.br']) fs.utimesSync(f + ext, now, now);
}
printSizes(outDir, webOut);
