// Failures of the data path, each with a reason the reconciler can put in a
// condition and a flag telling it whether trying again later can help.

export type DataPathReason =
  /** The export server cannot be reached, or answers 5xx. */
  | 'ExportUnavailable'
  /** The export server refuses the token (401/403). */
  | 'ExportUnauthorized'
  /** The export server's answer is not a raw disk we can stream (no Content-Length, 404, bad Range answer). */
  | 'ExportInvalid'
  /** The stream ended before Content-Length bytes arrived, even after resuming. */
  | 'ExportTruncated'
  /** The export's bytes differed between the two reads of a qcow2 push (the map no longer fits). */
  | 'ExportChanged'
  /** What the registry stored is not what we computed while streaming. */
  | 'DigestMismatch';

export class DataPathError extends Error {
  override readonly name = 'DataPathError';
  readonly reason: DataPathReason;
  readonly retryable: boolean;

  constructor(reason: DataPathReason, message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.retryable = options.retryable;
  }
}
