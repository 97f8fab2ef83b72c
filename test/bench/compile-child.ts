// The benches' children (push-child.ts, chunked-push-child.ts) run compiled JavaScript on
// plain Node, as the operator ships. They are compiled into the work tree's own .bench/
// (tsconfig.child.json), not under node_modules: work trees that share one node_modules
// would overwrite each other's child mid-run.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Compiles the children; returns the folder of their .js files (.bench/test/bench). */
export function compileChildren(): string {
  const outDir = path.join(here, '..', '..', '.bench');
  execFileSync(process.execPath, [
    path.join(here, '..', '..', 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    path.join(here, 'tsconfig.child.json'),
  ]);
  writeFileSync(path.join(outDir, 'package.json'), '{"type":"module"}\n');
  return path.join(outDir, 'test', 'bench');
}
