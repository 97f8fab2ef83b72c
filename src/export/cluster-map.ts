// Which clusters of a raw disk hold anything but zeros: one bit per cluster
// (200 KiB for 100 GiB at 64 KiB clusters), filled while the disk streams past
// (the first of the two qcow2 passes), then read to lay out and fill the qcow2 file.
/** 64 KiB, QEMU's default for qcow2: one L2 table maps 512 MiB, one refcount block 2 GiB. */
export const DEFAULT_CLUSTER_BITS = 16;

export class ClusterMap {
  readonly clusterSize: number;
  /** Clusters of the disk, the last one possibly partial. */
  readonly clusters: number;
  private readonly bits: Uint8Array;
  private allocated = 0;

  constructor(
    readonly diskSize: number,
    readonly clusterBits = DEFAULT_CLUSTER_BITS,
  ) {
    this.clusterSize = 2 ** clusterBits;
    this.clusters = Math.ceil(diskSize / this.clusterSize);
    this.bits = new Uint8Array(Math.ceil(this.clusters / 8));
  }

  /** Non-zero clusters. */
  get count(): number {
    return this.allocated;
  }

  has(cluster: number): boolean {
    return ((this.bits[cluster >> 3]! >> (cluster & 7)) & 1) === 1;
  }

  set(cluster: number): void {
    if (cluster < 0 || cluster >= this.clusters)
      throw new RangeError(`cluster ${cluster} is outside the disk`);
    if (this.has(cluster)) return;
    this.bits[cluster >> 3]! |= 1 << (cluster & 7);
    this.allocated++;
  }

  /** Non-zero clusters in [from, to). */
  countIn(from: number, to: number): number {
    let n = 0;
    const end = Math.min(to, this.clusters);
    for (let c = from; c < end;) {
      // Whole bytes at a time where the range allows.
      if ((c & 7) === 0 && c + 8 <= end) {
        n += POPCOUNT[this.bits[c >> 3]!]!;
        c += 8;
      } else {
        if (this.has(c)) n++;
        c++;
      }
    }
    return n;
  }

  /** Runs of consecutive non-zero clusters, in order, as [first, end) cluster indexes. */
  *runs(): Generator<{ first: number; end: number }> {
    let c = 0;
    while (c < this.clusters) {
      if (this.bits[c >> 3] === 0 && (c & 7) === 0) {
        c += 8;
        continue;
      }
      if (!this.has(c)) {
        c++;
        continue;
      }
      const first = c;
      while (c < this.clusters && this.has(c)) c++;
      yield { first, end: c };
    }
  }
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let n = 0;
  for (let v = b; v; v >>= 1) n += v & 1;
  return n;
});

const ZEROS = Buffer.alloc(2 ** 16);

/** True if bytes [start, end) of `chunk` are all zeros (memcmp against a zero buffer). */
export function isZero(chunk: Buffer, start: number, end: number): boolean {
  for (let at = start; at < end; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, end - at);
    if (ZEROS.compare(chunk, at, at + n, 0, n) !== 0) return false;
  }
  return true;
}

/**
 * Marks the clusters of `map` that `chunk`, starting at disk offset `position`,
 * shows to be non-zero. Chunks may start and end anywhere in a cluster.
 */
export function markNonZero(map: ClusterMap, position: number, chunk: Buffer): void {
  const size = map.clusterSize;
  let at = 0;
  while (at < chunk.length) {
    const cluster = Math.floor((position + at) / size);
    const n = Math.min((cluster + 1) * size - (position + at), chunk.length - at);
    if (!map.has(cluster) && !isZero(chunk, at, at + n)) map.set(cluster);
    at += n;
  }
}
