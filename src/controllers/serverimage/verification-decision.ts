// The verification's rule, pure (unit-tested): from the status kept on the ServerImage (its
// start time holds the deadline across restarts), the check asked for and the VMI as it is
// now, what to do next.
import type { VerifySpec } from '../../api/serverimage.js';
import { formatDuration } from './durations.js';
import { describeVmiState, type VmiState } from './verification-vmi.js';

export type BootCheck = NonNullable<VerifySpec['boot']>['check'];

export type VerificationStep =
  /** Nothing begun: create the VMI and record the start. */
  | { action: 'start' }
  /** The VMI is not there (not seen yet, or deleted by someone) within the deadline: create it again. */
  | { action: 'create' }
  /** Booting: look again at the latest when the deadline passes (the VMI's changes wake us earlier). */
  | { action: 'wait'; requeueAfterMs: number }
  | { action: 'verified'; message: string }
  | { action: 'failed'; message: string };

/** "5m", "1h30m", "90s" (the API's pattern) in ms. */
export function parseApiDuration(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') throw new Error(`"${text}" is not a duration like 90s, 5m or 1h`);
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

const isTrue = (state: VmiState, type: string) =>
  state.conditions.some((c) => c.type === type && c.status === 'True');

export function decideVerification(input: {
  now: Date;
  /** status.verification.startTime; undefined when nothing was begun. */
  startTime?: string;
  timeoutMs: number;
  check: BootCheck;
  /** The VMI as the cache holds it; undefined when absent. */
  vmi?: VmiState;
  /** The latest failure to create the VMI, if any (retried within the deadline). */
  lastError?: string;
}): VerificationStep {
  const { now, startTime, timeoutMs, check, vmi } = input;
  if (!startTime) return { action: 'start' };
  const elapsed = now.getTime() - new Date(startTime).getTime();
  if (vmi && !vmi.deleting) {
    if (check === 'GuestAgent' && isTrue(vmi, 'AgentConnected')) {
      return {
        action: 'verified',
        message: `Booted: the guest agent connected after ${formatDuration(elapsed)}`,
      };
    }
    if (check === 'Running' && isTrue(vmi, 'Ready')) {
      return {
        action: 'verified',
        message: `Booted: the VMI is running (Ready) after ${formatDuration(elapsed)}`,
      };
    }
    if (vmi.phase === 'Failed' || vmi.phase === 'Succeeded') {
      return {
        action: 'failed',
        message: `The VMI ended (${describeVmiState(vmi)}) before the ${check === 'GuestAgent' ? 'guest agent connected' : 'VMI was Ready'}`,
      };
    }
  }
  if (elapsed >= timeoutMs) {
    const what = check === 'GuestAgent' ? 'the guest agent did not connect' : 'the VMI did not become Ready';
    const why = input.lastError
      ? `; the VMI could not be created: ${input.lastError}`
      : `; ${describeVmiState(vmi)}`;
    return { action: 'failed', message: `Did not boot within ${formatDuration(timeoutMs)}: ${what}${why}` };
  }
  if (!vmi) return { action: 'create' };
  return { action: 'wait', requeueAfterMs: Math.max(1000, timeoutMs - elapsed) };
}
