// The bed's DataVolume registry imports: a host alias (as cluster DNS would resolve a
// manifest's registry name) replaces the host only.
import { reachableRegistryUrl } from '../../harness/kubevirt/registry-import.js';

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
