// The layout of a qcow2 file made from a raw disk and its map of non-zero
// clusters, decided before any byte is written: a tar entry needs its size
// first, so the whole file must follow from the map alone.
//
// Fields from QEMU's docs/interop/qcow2.txt (version 3), all big-endian:
//   header   magic "QFI\xfb", version 3, no backing file, cluster_bits 16 (64 KiB
//            clusters), size (virtual bytes), crypt_method 0, l1_size,
//            l1_table_offset, refcount_table_offset, refcount_table_clusters,
//            nb_snapshots 0, incompatible/compatible/autoclear features all 0
//            (so no dirty bit, no lazy refcounts, no external data file, zlib),
//            refcount_order 4 (16-bit refcounts), header_length 104 (the v3
//            minimum, a multiple of 8), then the header extension end marker
//            (type 0, length 0).
//   L1/L2    64-bit entries: bits 9-55 the host offset of an L2 table (L1) or of
//            a data cluster (L2), bit 63 "copied" (refcount exactly 1, which
//            `qemu-img check` verifies); 0 = unallocated, which reads as zeros
//            without a backing file. An L2 table has cluster_size/8 entries.
//   refcount table  64-bit offsets of refcount blocks; a refcount block holds
//            cluster_size*8/2^refcount_order 16-bit counts, one per host cluster.
//
// The file, cluster by cluster (every cluster has refcount 1):
//   0            header (and the extension end marker)
//   L1 table     l1Clusters
//   L2 tables    one per L1 entry that covers a non-zero cluster, in guest order
//   refcount table, then refcount blocks, covering every cluster of the file
//   data         the non-zero clusters, in guest order
// so a reader such as CDI's importer or `qemu-img convert` reads it front to back.
import type { ClusterMap } from './cluster-map.js';

export const QCOW2_MAGIC = 0x514649fb;
const REFCOUNT_ORDER = 4;
const HEADER_LENGTH = 104;
const COPIED = 1n << 63n;

export interface Qcow2Layout {
  clusterBits: number;
  clusterSize: number;
  /** The disk's bytes; the virtual size rounds it up to whole 512-byte sectors (what QEMU reads of a raw file). */
  diskSize: number;
  virtualSize: number;
  l1Size: number;
  /** Cluster indexes in the file, and counts. */
  l1Start: number;
  l1Clusters: number;
  l2Start: number;
  l2Tables: number;
  refcountTableStart: number;
  refcountTableClusters: number;
  refcountBlockStart: number;
  refcountBlocks: number;
  dataStart: number;
  dataClusters: number;
  /** Clusters in the file; its size is clusters * clusterSize. */
  clusters: number;
  fileSize: number;
  /** Non-zero guest clusters per L2 table (per L1 entry). */
  allocatedPerL2: Uint32Array;
}

export function qcow2Layout(map: ClusterMap): Qcow2Layout {
  const clusterBits = map.clusterBits;
  const clusterSize = 2 ** clusterBits;
  const entriesPerTable = clusterSize / 8;
  const virtualSize = Math.ceil(map.diskSize / 512) * 512;
  const l1Size = Math.max(1, Math.ceil(map.clusters / entriesPerTable));
  const l1Clusters = Math.ceil((l1Size * 8) / clusterSize);
  const allocatedPerL2 = new Uint32Array(l1Size);
  for (let i = 0; i < l1Size; i++) {
    allocatedPerL2[i] = map.countIn(i * entriesPerTable, (i + 1) * entriesPerTable);
  }
  const l2Tables = allocatedPerL2.reduce((n, count) => n + (count > 0 ? 1 : 0), 0);
  const dataClusters = map.count;
  // The refcount structures count themselves: grow them until they cover the file.
  const countsPerBlock = (clusterSize * 8) / 2 ** REFCOUNT_ORDER;
  const fixed = 1 + l1Clusters + l2Tables + dataClusters;
  let refcountBlocks = 1;
  let refcountTableClusters = 1;
  for (;;) {
    const total = fixed + refcountTableClusters + refcountBlocks;
    const blocks = Math.ceil(total / countsPerBlock);
    const tableClusters = Math.ceil((blocks * 8) / clusterSize);
    if (blocks <= refcountBlocks && tableClusters <= refcountTableClusters) break;
    refcountBlocks = Math.max(refcountBlocks, blocks);
    refcountTableClusters = Math.max(refcountTableClusters, tableClusters);
  }
  const l1Start = 1;
  const l2Start = l1Start + l1Clusters;
  const refcountTableStart = l2Start + l2Tables;
  const refcountBlockStart = refcountTableStart + refcountTableClusters;
  const dataStart = refcountBlockStart + refcountBlocks;
  const clusters = dataStart + dataClusters;
  return {
    clusterBits,
    clusterSize,
    diskSize: map.diskSize,
    virtualSize,
    l1Size,
    l1Start,
    l1Clusters,
    l2Start,
    l2Tables,
    refcountTableStart,
    refcountTableClusters,
    refcountBlockStart,
    refcountBlocks,
    dataStart,
    dataClusters,
    clusters,
    fileSize: clusters * clusterSize,
    allocatedPerL2,
  };
}

/** Cluster 0: the header and the end of its (empty) list of extensions. */
export function headerCluster(layout: Qcow2Layout): Buffer {
  const h = Buffer.alloc(layout.clusterSize);
  h.writeUInt32BE(QCOW2_MAGIC, 0);
  h.writeUInt32BE(3, 4); // version
  // 8: backing_file_offset, 16: backing_file_size: none
  h.writeUInt32BE(layout.clusterBits, 20);
  h.writeBigUInt64BE(BigInt(layout.virtualSize), 24);
  // 32: crypt_method 0
  h.writeUInt32BE(layout.l1Size, 36);
  h.writeBigUInt64BE(offsetOf(layout, layout.l1Start), 40);
  h.writeBigUInt64BE(offsetOf(layout, layout.refcountTableStart), 48);
  h.writeUInt32BE(layout.refcountTableClusters, 56);
  // 60: nb_snapshots, 64: snapshots_offset, 72/80/88: incompatible, compatible, autoclear features
  h.writeUInt32BE(REFCOUNT_ORDER, 96);
  h.writeUInt32BE(HEADER_LENGTH, 100);
  // 104: header extension end marker, type 0 and length 0 (already zeros).
  return h;
}

/**
 * The L1 table, L2 tables, refcount table and refcount blocks, one cluster at a
 * time and in file order. The buffer is reused: each is valid until the next one
 * is requested. Memory: one cluster, whatever the disk's size.
 */
export function* metadataClusters(layout: Qcow2Layout, map: ClusterMap): Generator<Buffer> {
  const cluster = Buffer.alloc(layout.clusterSize);
  const entries = layout.clusterSize / 8;

  // L1: the n-th non-empty L2 range points at the n-th L2 table.
  let table = 0;
  for (let c = 0; c < layout.l1Clusters; c++) {
    cluster.fill(0);
    for (let k = 0; k < entries; k++) {
      const i = c * entries + k;
      if (i >= layout.l1Size) break;
      if (layout.allocatedPerL2[i]! > 0) {
        cluster.writeBigUInt64BE(offsetOf(layout, layout.l2Start + table++) | COPIED, k * 8);
      }
    }
    yield cluster;
  }

  // L2: the n-th non-zero guest cluster is the n-th data cluster.
  let data = 0;
  for (let i = 0; i < layout.l1Size; i++) {
    if (layout.allocatedPerL2[i] === 0) continue;
    cluster.fill(0);
    for (let k = 0; k < entries; k++) {
      if (map.has(i * entries + k)) {
        cluster.writeBigUInt64BE(offsetOf(layout, layout.dataStart + data++) | COPIED, k * 8);
      }
    }
    yield cluster;
  }

  for (let c = 0; c < layout.refcountTableClusters; c++) {
    cluster.fill(0);
    for (let k = 0; k < entries; k++) {
      const block = c * entries + k;
      if (block >= layout.refcountBlocks) break;
      cluster.writeBigUInt64BE(offsetOf(layout, layout.refcountBlockStart + block), k * 8);
    }
    yield cluster;
  }

  // Every cluster of the file is used exactly once; the rest of the last block counts 0.
  const counts = layout.clusterSize / 2;
  for (let b = 0; b < layout.refcountBlocks; b++) {
    cluster.fill(0);
    const used = Math.min(counts, layout.clusters - b * counts);
    for (let k = 0; k < used; k++) cluster.writeUInt16BE(1, k * 2);
    yield cluster;
  }
}

function offsetOf(layout: Qcow2Layout, clusterIndex: number): bigint {
  return BigInt(clusterIndex) * BigInt(layout.clusterSize);
}
