// One full garbage collection once the operator's transfers are over and it has been quiet
// for a while (the image runs Node with --expose-gc; without it this does nothing).
//
// Why: what a burst of transfers left behind (their objects, V8 heap pages grown for them)
// is given back only by a full collection, and V8 starts one when the program allocates,
// which an idle operator hardly does: measured after 150 ServerImages, 171-180 MiB RSS with
// 49 MiB of a 77 MiB heap in use, 148-150 MiB after a forced collection (docs/benchmarks.md,
// "The operator's memory"). One collection per quiet spell, of a heap of tens of MiB, is a pause
// of tens of milliseconds.

/** How long after the last transfer ends: a transfer starting meanwhile puts it off. */
const QUIET_MS = 10_000;

export class IdleCollection {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly quietMs = QUIET_MS,
    private readonly collect: (() => void) | undefined = fullCollection(),
  ) {}

  /** Work started: no collection until it is over. */
  busy(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The work is over: collect once it has stayed so for quietMs. */
  idle(): void {
    if (!this.collect) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.collect?.();
    }, this.quietMs);
    // A pending collection never keeps the process alive.
    this.timer.unref();
  }
}

/** V8's most thorough collection (the one it runs before giving up on memory), if exposed. */
function fullCollection(): (() => void) | undefined {
  const gc = globalThis.gc;
  if (!gc) return undefined;
  return () => gc({ type: 'major', flavor: 'last-resort' });
}
