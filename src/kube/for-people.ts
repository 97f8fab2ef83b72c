// Text for people (conditions, events) must not tell a cluster user to restart a process
// with a runtime flag: Node's TLS errors end in "; if the root CA is installed locally,
// try running Node.js with --use-system-ca", which is advice for the operator's developer,
// not for whoever reads `kubectl describe` (the fix there is spec.registry.caBundleSecretRef).

/** `message` without clauses that advise a command-line flag of a runtime. */
export function withoutRuntimeHints(message: string): string {
  return message.replace(
    /[;,.]?\s*(?:if [^;,.()]*,\s*)?try (?:running|starting) [^;()]*?--[a-z][a-z0-9-]*[^;.()]*\.?/gi,
    '',
  );
}
