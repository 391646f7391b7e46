// Build step of the browser SDK: bundles the hand-written modules (wasm/js) into one minified
// ES module (there is no Emscripten glue: see wasm/src/bindings.cpp), minifies the worklet,
// and writes the package
// directory (parley.mjs, parley-core.wasm, parley-worklet.js, parley.d.ts, package.json,
// README.md). Then prints the gzip sizes (wasm/tools/sizes.mjs).
//
//   node wasm/tools/bundle.mjs SOURCE_DIR WASM_DIR OUT_DIR
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { printSizes } from './sizes.mjs';

const [sourceDir, wasmDir, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node bundle.mjs SOURCE_DIR WASM_DIR OUT_DIR');
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
fs.mkdirSync(outDir, { recursive: true });

await esbuild.build({
  entryPoints: [path.join(js, 'parley.mjs')],
  outfile: path.join(outDir, 'parley.mjs'),
  bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
  minify: true, legalComments: 'none', external: ['node:*'],
  logLevel: 'warning',
});
const worklet = await esbuild.transform(fs.readFileSync(path.join(js, 'parley-worklet.js'), 'utf8'),
                                        { minify: true, target: 'es2020', legalComments: 'none' });
fs.writeFileSync(path.join(outDir, 'parley-worklet.js'), worklet.code);
fs.copyFileSync(path.join(wasmDir, 'parley-core.wasm'), path.join(outDir, 'parley-core.wasm'));
fs.copyFileSync(path.join(js, 'parley.d.ts'), path.join(outDir, 'parley.d.ts'));
fs.copyFileSync(path.join(js, 'package.json'), path.join(outDir, 'package.json'));
fs.copyFileSync(path.join(js, 'README.md'), path.join(outDir, 'README.md'));
printSizes(outDir, path.join(sourceDir, 'web'));
