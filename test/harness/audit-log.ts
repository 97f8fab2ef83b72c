// The API server's audit log (control-plane.ts turns it on): what was written, by whom,
// as the server itself saw it. Tests count the operator's and the stand-ins' writes here.
// The server writes it in batches of up to a second: read it again after that to see all.
import { readFileSync } from 'node:fs';

export interface AuditEvent {
  verb: string;
  stage: string;
  userAgent?: string;
  requestReceivedTimestamp: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/**
 * Every completed request of the control plane this test file uses (the KubeVirt bed
 * points SERVERIMAGE_TESTBED_AUDIT_LOG at its own).
 */
export function completedRequests(): AuditEvent[] {
  const file = process.env.SERVERIMAGE_TESTBED_AUDIT_LOG;
  if (!file) throw new Error('SERVERIMAGE_TESTBED_AUDIT_LOG is not set: run integration tests through jest');
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter((e) => e.stage === 'ResponseComplete');
}

/** Whether a request came from a @kubernetes/client-node client (the operator, the bed's stand-ins). */
export const byClientNode = (e: AuditEvent): boolean =>
  e.userAgent?.startsWith('kubernetes-client-javascript/') ?? false;
