// The export faults of annotations.ts, turned into what the proxy in front of one
// export's server does to a new connection (export-proxy.ts). fault-http-errors=K
// counts down per value set: the next K connections get the error; setting the same
// value again does nothing, removing it and setting it again (or another K) re-arms it.
import { Ann, faultNumber, faultValue } from './annotations.js';
import type { Obj } from './api.js';
import type { ConnectionFaults } from './export-proxy.js';

export class ExportFaults {
  private armed: string | undefined;
  private remaining = 0;

  /** `sources`: the objects whose annotations carry the faults (the export, then its VM). */
  constructor(private readonly sources: () => Array<Obj | undefined>) {}

  forConnection(): ConnectionFaults {
    const sources = this.sources();
    return {
      dropAfterBytes: faultNumber(Ann.faultDropAfterBytes, ...sources),
      bytesPerSecond: faultNumber(Ann.faultBytesPerSecond, ...sources) || undefined,
      httpStatus: this.takeHttpError(sources),
    };
  }

  private takeHttpError(sources: Array<Obj | undefined>): number | undefined {
    const armed = faultValue(Ann.faultHttpErrors, ...sources);
    if (armed !== this.armed) {
      this.armed = armed;
      this.remaining = Number(armed) || 0;
    }
    if (armed === undefined || this.remaining <= 0) return undefined;
    this.remaining--;
    return faultNumber(Ann.faultHttpStatus, ...sources) ?? 503;
  }
}
