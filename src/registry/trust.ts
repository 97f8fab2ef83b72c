// The TLS trust for a registry with a CA bundle of its own: the public roots plus that
// bundle, as one SecureContext shared by every connection and client that trusts it.
//
// Why shared: given `ca`, each TLS connection builds a SecureContext of its own (tls.connect
// calls createSecureContext), here with the ~150 public roots parsed again: OpenSSL memory
// outside V8's heap, freed only once V8 collects the context's JavaScript object. The
// operator makes a registry client per reconcile that talks to the registry and several
// connections per push.
import { createHash } from 'node:crypto';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';

/** Distinct CA bundles kept; a cluster names a handful (one per registry with its own CA). */
const KEPT = 16;
const contexts = new Map<string, SecureContext>();

/** The shared context trusting the public roots and `caPem`; throws on a PEM that does not parse. */
export function trustingAlso(caPem: string): SecureContext {
  const key = createHash('sha256').update(caPem).digest('hex');
  let context = contexts.get(key);
  if (context) {
    // Most recently used last: the first one is dropped when there are too many.
    contexts.delete(key);
  } else {
    context = createSecureContext({ ca: [...rootCertificates, caPem] });
    if (contexts.size >= KEPT) contexts.delete(contexts.keys().next().value!);
  }
  contexts.set(key, context);
  return context;
}
