import { withoutRuntimeHints } from '../../../src/kube/for-people.js';

test("Node's TLS hint to run with --use-system-ca is dropped, the rest kept", () => {
  expect(
    withoutRuntimeHints(
      "PUT x (r/y): the registry's TLS certificate is not trusted (connection failed (DEPTH_ZERO_SELF_SIGNED_CERT): " +
        'self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca); check the CA bundle',
    ),
  ).toBe(
    "PUT x (r/y): the registry's TLS certificate is not trusted (connection failed (DEPTH_ZERO_SELF_SIGNED_CERT): " +
      'self-signed certificate); check the CA bundle',
  );
  expect(withoutRuntimeHints('plain message; nothing to drop')).toBe('plain message; nothing to drop');
});
