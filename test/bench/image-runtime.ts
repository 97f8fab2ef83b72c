// How the operator's image runs Node (Dockerfile: ENTRYPOINT's flags, ENV), for the benches
// that run our code as the image would. test/unit/bench-image-runtime.test.ts checks that
// the Dockerfile says the same.

/**
 * ENTRYPOINT's Node flags (the transfer Pods' command has the same): a 1 MiB young
 * generation keeps the heap, and so RSS, flat over long pushes.
 */
export const IMAGE_NODE_FLAGS = ['--max-semi-space-size=1'];

/**
 * ENV. The MALLOC_ ones matter where Node runs on glibc (the benches here, an image built
 * on a Debian base): glibc raises its mmap threshold to the size of each large block freed,
 * so after a transfer's first 1-4 MiB buffers come and go the next ones come from its heap
 * and stay there when freed; fixed, buffers above 128 KiB are mapped and unmapped. And it
 * keeps an arena per thread that ever allocated (up to 8 per core), which the compression
 * threads, started anew for each burst of transfers, leave behind; two are enough here.
 * musl (the Alpine image) ignores both. docs/benchmarks.md, "The operator's memory", has the
 * measurements.
 */
export const IMAGE_ENV: Record<string, string> = {
  NODE_ENV: 'production',
  MALLOC_MMAP_THRESHOLD_: '131072',
  MALLOC_ARENA_MAX: '2',
};
