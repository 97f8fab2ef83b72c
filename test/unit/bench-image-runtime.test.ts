// The benches run our code as the image does (test/bench/image-runtime.ts): the same Node
// flags and environment as the Dockerfile's final stage.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMAGE_ENV, IMAGE_NODE_FLAGS } from '../bench/image-runtime.js';

const dockerfile = readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'Dockerfile'),
  'utf8',
);
const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

describe('the benches run Node as the image does', () => {
  it('with the ENTRYPOINT flags', () => {
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(finalStage)![1]!) as string[];
    expect(entrypoint).toEqual(['node', ...IMAGE_NODE_FLAGS, 'dist/main.js']);
  });

  it('with the ENV', () => {
    const env = Object.fromEntries(
      [...finalStage.matchAll(/^ENV (\S+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!] as [string, string]),
    );
    expect(env).toEqual(IMAGE_ENV);
  });
});
