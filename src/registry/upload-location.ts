// The two headers that steer a chunked upload: `Location` (where the next request goes;
// may be relative, and Distribution rotates a _state token in it, so always the newest
// one) and `Range: 0-<end>` (how many bytes the registry has; used to resume).

/** Resolves a Location header against the URL of the request that returned it. */
export function resolveLocation(location: string | undefined, requestUrl: string): string {
  if (!location) throw new Error('the registry answered without a Location header');
  return new URL(location, requestUrl).toString();
}

/**
 * Bytes the registry holds for an upload, from `Range: 0-<end>` (inclusive end, no
 * "bytes=" prefix in the distribution spec, though some registries add it). No header
 * means nothing stored. Distribution answers "0-0" both for 0 and for 1 byte stored;
 * we read it as 0, and a wrong guess is corrected by the 416 that follows.
 */
export function storedBytesFromRange(range: string | undefined): number {
  if (range === undefined || range.trim() === '') return 0;
  const match = /^(?:bytes=)?\s*0-(\d+)\s*$/.exec(range.trim());
  if (!match) throw new Error(`the registry answered an unreadable Range header "${range}"`);
  const end = Number(match[1]);
  return end === 0 ? 0 : end + 1;
}

/** Content-Range for a PATCH of `length` bytes at `offset` (inclusive end, no unit). */
export function contentRange(offset: number, length: number): string {
  return `${offset}-${offset + length - 1}`;
}

/** Adds `digest=` to an upload Location for the closing PUT, keeping its other query. */
export function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url.toString();
}
