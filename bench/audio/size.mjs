// Prints what the audio part adds to a -Oz wasm, gzipped (-9), from the size entries that
// bench/audio/CMakeLists.txt builds in a wasm build tree.
//   node bench/audio/size.mjs <wasm build dir>/bench/audio
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const dir = path.resolve(process.argv[2] ?? 'build/wasm/bench/audio');
const size = (variant, ext) => {
  const bytes = fs.readFileSync(path.join(dir, `parley-audio-size-${variant}.${ext}`));
  return { raw: bytes.length, gzip: zlib.gzipSync(bytes, { level: 9 }).length };
};
const rows = ['empty', 'audio', 'core', 'core-audio'].map((v) => [v, size(v, 'wasm'), size(v, 'js')]);
console.log('| entry (-Oz) | wasm bytes | wasm gzip | js gzip |');
console.log('|---|---:|---:|---:|');
for (const [v, w, j] of rows) console.log(`| ${v} | ${w.raw} | ${w.gzip} | ${j.gzip} |`);
const by = Object.fromEntries(rows.map(([v, w, j]) => [v, w.gzip + j.gzip]));
console.log(`\nAudio added to the metadata core: ${by['core-audio'] - by.core} bytes gzip (wasm + js).`);
console.log(`Audio alone over an empty module (brings its own malloc, strings, math): ${by.audio - by.empty} bytes gzip.`);
