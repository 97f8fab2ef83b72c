// The simulator's "did the status change?" compare: the API server sorts a custom
// resource's keys, so what was written and what is read back differ in order only.
import { canonical, sameJson } from '../../harness/kubevirt/same.js';
import { reachableRegistryUrl } from '../../harness/kubevirt/registry-import.js';

test('key order does not count, at any depth', () => {
  const written = [{ name: 'rootdisk', enabled: false, reason: 'x' }];
  const readBack = [{ enabled: false, name: 'rootdisk', reason: 'x' }];
  expect(JSON.stringify(written)).not.toBe(JSON.stringify(readBack));
  expect(sameJson(written, readBack)).toBe(true);
  expect(
    sameJson(
      { links: { internal: { volumes: [{ name: 'a', formats: [] }], cert: 'c' } } },
      {
        links: { internal: { cert: 'c', volumes: [{ formats: [], name: 'a' }] } },
      },
    ),
  ).toBe(true);
});

test('values, array order, and presence still count; null and undefined are absent', () => {
  expect(sameJson({ a: 1 }, { a: 2 })).toBe(false);
  expect(sameJson([1, 2], [2, 1])).toBe(false);
  expect(sameJson({ a: 1 }, { a: 1, b: 'x' })).toBe(false);
  expect(sameJson({ a: 1, b: null, c: undefined }, { a: 1 })).toBe(true);
  expect(canonical({ b: 1, a: [{ d: 1, c: 2 }] })).toBe('{"a":[{"c":2,"d":1}],"b":1}');
});

test('registry URLs: host aliases apply to the host only', () => {
  const aliases = { 'registry:5000': '127.0.0.1:4000' };
  expect(reachableRegistryUrl('docker://registry:5000/kubevirt/demo:devel', aliases)).toBe(
    'docker://127.0.0.1:4000/kubevirt/demo:devel',
  );
  expect(reachableRegistryUrl('docker://quay.io/kubevirt/demo@sha256:ab', aliases)).toBe(
    'docker://quay.io/kubevirt/demo@sha256:ab',
  );
  expect(() => reachableRegistryUrl('http://registry:5000/x', aliases)).toThrow('unsupported registry URL');
});
