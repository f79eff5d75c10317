// Writes a brotli (.br) and a gzip (.gz) copy beside each front-end file given, at the highest
// settings: they are made once per build and sent to every browser that accepts them.
//   node scripts/precompress.mjs target/site/pkg/gatehouse.wasm …
import { readFileSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

for (const file of process.argv.slice(2)) {
  const bytes = readFileSync(file);
  const text = !file.endsWith('.wasm');
  const br = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_MODE]: text ? constants.BROTLI_MODE_TEXT : constants.BROTLI_MODE_GENERIC,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  const gz = gzipSync(bytes, { level: 9 });
  writeFileSync(`${file}.br`, br);
  writeFileSync(`${file}.gz`, gz);
  console.log(`${file}: ${bytes.length} bytes, brotli ${br.length}, gzip ${gz.length}`);
}
