// The transfer Pods' image: --transfer-image when given; else the operator's own Pod's
// image (read through the API: a real API server in test/integration); outside a Pod, with
// no flag, a refusal at start-up that names the flag.
import { KubeConfig } from '@kubernetes/client-node';
import { resolveTransferImage, TransferSettingError } from '../../../src/transfer/check-settings.js';

const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
  users: [{ name: 'u' }],
  contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
  currentContext: 'x',
});

test('the flag wins, no API call', async () => {
  expect(await resolveTransferImage(kc, { transferImage: 'reg/op:1' }, {}, 'ns')).toBe('reg/op:1');
});

test('no flag outside a Pod: refused, naming the flag (exit 2)', async () => {
  const refused = resolveTransferImage(kc, { transferImage: '' }, {}, 'ns');
  await expect(refused).rejects.toThrow(TransferSettingError);
  await expect(refused).rejects.toThrow(/--transfer-image is not set.*does not run in a Pod/);
  await expect(refused).rejects.toMatchObject({ invalid: true });
});

test('no flag, its Pod not readable: refused in one line, with the cause', async () => {
  const refused = resolveTransferImage(kc, { transferImage: '' }, { POD_NAME: 'op-1' }, 'ops');
  await expect(refused).rejects.toThrow(
    /own Pod ops\/op-1 cannot be read for its image \(.+\): set --transfer-image/,
  );
  await expect(refused).rejects.toMatchObject({ invalid: false });
});
