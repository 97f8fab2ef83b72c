// kustomize and helm cannot reach files outside their own folder, so deploy/crds/ and the
// chart's crds/ hold copies of crds/ (generated from src/api). They must stay identical.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CRDS_DIR } from '../harness/crds.js';
import { CHART_DIR, DEPLOY_DIR, helm, parseManifests } from './install-fixtures.js';

const generated = readdirSync(CRDS_DIR).filter((f) => f.endsWith('.yaml'));
const copies = [path.join(DEPLOY_DIR, 'crds'), path.join(CHART_DIR, 'crds')];

test('crds/ has CRDs to copy', () => {
  expect(generated).toContain('serverimage.io_serverimages.yaml');
});

describe.each(copies)('%s', (dir) => {
  test('holds exactly the files of crds/', () => {
    expect(readdirSync(dir).sort()).toEqual([...generated].sort());
  });

  test.each(generated)('%s is byte-identical to crds/ (copy it again after npm run generate)', (file) => {
    expect(readFileSync(path.join(dir, file), 'utf8')).toBe(readFileSync(path.join(CRDS_DIR, file), 'utf8'));
  });
});

test('deploy/kustomization.yaml lists every CRD copy', () => {
  const kustomization = readFileSync(path.join(DEPLOY_DIR, 'kustomization.yaml'), 'utf8');
  for (const file of generated) expect(kustomization).toContain(`crds/${file}`);
});

test('helm template --include-crds renders the CRDs', async () => {
  const rendered = parseManifests(await helm(['template', 'crds', CHART_DIR, '--include-crds']));
  const crds = rendered.filter((m) => m.kind === 'CustomResourceDefinition').map((m) => m.metadata.name);
  expect(crds).toEqual(['serverimages.serverimage.io', 'serverimageschedules.serverimage.io']);
});
