// Where a bench child's memory is at the moment its RSS peaks (JS heap, Buffers and
// ArrayBuffers), sampled every 50 ms: tells a garbage problem from a buffer-size problem.
const MiB = 1024 * 1024;

/** Starts sampling; the returned function gives the sample of highest RSS, in MiB. */
export function samplePeakMemory(): () => Record<string, number> {
  let peak = process.memoryUsage();
  const sampler = setInterval(() => {
    const now = process.memoryUsage();
    if (now.rss > peak.rss) peak = now;
  }, 50);
  sampler.unref();
  return () => Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round(v / MiB)]));
}
