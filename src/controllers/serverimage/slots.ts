// Slots: how many ServerImages may hold a costly thing at once, operator-wide. Counted from
// the cluster, not kept in memory, so that a restarted or newly elected operator counts
// what its predecessor started: a ServerImage holds a slot while a child object of it that
// counts exists (the informers' caches), and from the moment this process grants one until
// the caches show what it made. Two kinds (controller.ts):
//
// - transfer slots (--max-concurrent-exports): an export of ours or a transfer Pod that has
//   not ended. A slot is taken before the image's VirtualMachineExport is made and given
//   back once the export is deleted, so exports (exporter Pods, restored PVCs) never
//   outnumber the slots: images waiting for a slot hold only their snapshot (an export made
//   before its slot sat idle with its exporter Pod and restored PVCs: 142 of them for 4
//   slots were seen).
// - verification slots (--max-concurrent-verifications): a throw-away VMI booting an image
//   (spec.verify.boot), so a schedule over a fleet does not boot the whole fleet at once.

export class Slots {
  /** Granted by this process and not given back yet (the caches may not show the export yet). */
  private readonly granted = new Set<string>();
  /** Keys refused a slot, woken when one frees up (no polling). */
  private readonly waiting = new Set<string>();
  private peak = 0;

  constructor(
    private readonly limit: number,
    /** The keys of the ServerImages that hold a slot's object in the cluster now. */
    private readonly inCluster: () => Iterable<string>,
    private readonly wake: (key: string) => void,
  ) {}

  /** Every key holding a slot now. */
  holders(): Set<string> {
    const keys = new Set(this.inCluster());
    for (const key of this.granted) keys.add(key);
    return keys;
  }

  /** The most slots held at once, as this process saw it. */
  peakHeld(): number {
    return this.peak;
  }

  /** Takes a slot for `key` (true; also when it holds one already), or queues it to be woken (false). */
  reserve(key: string): boolean {
    const held = this.holders();
    if (held.has(key)) {
      this.waiting.delete(key);
      return true;
    }
    if (held.size >= this.limit) {
      this.waiting.add(key);
      return false;
    }
    this.waiting.delete(key);
    this.granted.add(key);
    this.peak = Math.max(this.peak, held.size + 1);
    return true;
  }

  /** Gives the slot back (its object is deleted) and wakes the keys waiting for one. */
  release(key: string): void {
    this.waiting.delete(key);
    this.granted.delete(key);
    this.changed();
  }

  /** Something that holds slots changed in the cluster (an object went): wake the waiters if one is free. */
  changed(): void {
    if (this.waiting.size === 0 || this.holders().size >= this.limit) return;
    for (const key of this.waiting) this.wake(key);
  }
}
