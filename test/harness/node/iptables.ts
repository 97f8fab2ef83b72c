// Rules the bed itself puts into the real node's iptables (netns.ts), beside kube-proxy's:
// the fault seams that must act on a Pod's traffic (the Service fault proxy's DNAT, a
// refused readiness probe). Each rule carries a comment of the bed's, and is inserted at
// the head of a built-in chain: kube-proxy (iptables mode) only checks that its own jump
// rules exist in the built-in chains (`-C`, inserting them when missing) and rewrites its
// own KUBE-* chains with `iptables-restore --noflush`, so it never removes or reorders a
// rule of ours; deleting the namespace deletes them all.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { NodeNetwork } from './netns.js';

const execFileAsync = promisify(execFile);

export interface NodeRule {
  table: 'nat' | 'filter';
  chain: string;
  /** The match, then the target from `-j` on; the comment goes between. */
  spec: string[];
  comment: string;
}

function iptables(network: NodeNetwork, ...rest: string[]) {
  return execFileAsync('nsenter', [`--net=${network.path}`, '--', 'iptables', '-w', ...rest]);
}

/** Inserts the rule first in its chain. */
export async function insertRule(network: NodeNetwork, rule: NodeRule): Promise<void> {
  await iptables(network, '-t', rule.table, '-I', rule.chain, '1', ...ruleArgs(rule));
}

/** Deletes the rule (nothing if it is not there, e.g. the namespace went first). */
export async function deleteRule(network: NodeNetwork, rule: NodeRule): Promise<void> {
  await iptables(network, '-t', rule.table, '-D', rule.chain, ...ruleArgs(rule)).catch(() => undefined);
}

/** The rule's words: its match, the bed's comment, then its target (from `-j` on). */
function ruleArgs(rule: NodeRule): string[] {
  const target = rule.spec.indexOf('-j');
  if (target < 0) throw new Error(`iptables rule without a target: ${rule.spec.join(' ')}`);
  return [
    ...rule.spec.slice(0, target),
    '-m',
    'comment',
    '--comment',
    rule.comment,
    ...rule.spec.slice(target),
  ];
}

/** The chain's rules as `iptables -S` prints them (for tests). */
export async function listRules(
  network: NodeNetwork,
  table: NodeRule['table'],
  chain: string,
): Promise<string[]> {
  const { stdout } = await iptables(network, '-t', table, '-S', chain);
  return stdout.split('\n').filter(Boolean);
}
