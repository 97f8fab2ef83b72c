// The compression pool's worker thread (compression-pool.ts starts it): encodes
// the blocks it is sent with one block encoder of its own and sends both buffers
// back, transferred. Its imports within src end in .ts (see block-encoder.ts).
//
// About every CPU_REPORT_MS of work, a result also says how much CPU the thread
// got over the jobs since the last report. The CPU time is the kernel's own count
// for this thread (Linux's schedstat): process.threadCpuUsage() (getrusage)
// counted a third of it here. Where the file cannot be read, no CPU is reported
// and the pool does not grow.
import { readFileSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { createBlockEncoder, type EncodeOptions } from './block-encoder.ts';

/** What the pool posts. */
export interface WorkerJob {
  input: ArrayBuffer;
  length: number;
  output: ArrayBuffer;
  options: EncodeOptions;
}

/** What the worker posts back. */
export interface WorkerReply {
  input: ArrayBuffer;
  output: ArrayBuffer;
  /** Bytes of `output` written. */
  length: number;
  /** CPU time the thread got (ms) over the last overBusyMs it spent on jobs; now and then. */
  cpu?: { ms: number; overBusyMs: number };
  error?: string;
}

const CPU_REPORT_MS = 20;

function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

if (!parentPort) throw new Error('compression-worker.ts runs as a worker thread (compression-pool.ts)');
const port = parentPort;
const encoder = createBlockEncoder();
let cpuAtReport = threadCpuMs();
let busySinceReport = 0;

port.on('message', (job: WorkerJob) => {
  let length = 0;
  let error: string | undefined;
  const started = performance.now();
  try {
    length = encoder.encodeBlock(Buffer.from(job.input, 0, job.length), Buffer.from(job.output), job.options);
  } catch (err) {
    error = String((err instanceof Error && err.stack) || err);
  }
  busySinceReport += performance.now() - started;
  let cpu: WorkerReply['cpu'];
  if (busySinceReport >= CPU_REPORT_MS && !Number.isNaN(cpuAtReport)) {
    const now = threadCpuMs();
    cpu = { ms: now - cpuAtReport, overBusyMs: busySinceReport };
    cpuAtReport = now;
    busySinceReport = 0;
  }
  const reply: WorkerReply = { input: job.input, output: job.output, length, cpu, error };
  port.postMessage(reply, [job.input, job.output]);
});
