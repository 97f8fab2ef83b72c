// Writes charts/serverimage-operator/values.schema.json from scripts/chart-values-schema.ts
// (whose flag-backed values come from the operator's flag table). With --check, fails
// (exit 1) when the file is stale, as generate-crds.ts does for the CRDs.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import prettier from 'prettier';
import { valuesSchema } from './chart-values-schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const file = path.join(root, 'charts', 'serverimage-operator', 'values.schema.json');
const check = process.argv.includes('--check');

// Formatted as `prettier --check .` wants it, so lint and the drift check agree.
const options = await prettier.resolveConfig(file);
const text = await prettier.format(JSON.stringify(valuesSchema()), { ...options, filepath: file });
let current = '';
try {
  current = readFileSync(file, 'utf8');
} catch {
  // missing counts as stale
}
if (current !== text) {
  if (check) {
    console.error(`stale: ${path.relative(root, file)} (run npm run generate)`);
    process.exit(1);
  }
  writeFileSync(file, text);
  console.log(`wrote ${path.relative(root, file)}`);
}
