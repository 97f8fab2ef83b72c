// A running transfer's progress, served by the Pod at GET /progress on PROGRESS_PORT for
// the operator to poll. Why an endpoint, not Events or a Pod annotation: those are API
// writes, so the Pod would need a ServiceAccount token and RBAC in every tenant namespace,
// and each update would be an etcd write; polling costs the API server nothing, and the Pod
// holds no credential for the cluster. The result does not depend on it: it is the
// termination message (result.ts), which the kubelet writes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { PROGRESS_PATH } from './request.js';

const volumeProgressSchema = z.object({
  volume: z.string(),
  bytesDone: z.number(),
  bytesTotal: z.number(),
  /** Set once the volume's image is pushed and read back. */
  digest: z.string().optional(),
});

export const transferProgressSchema = z.object({
  version: z.literal(1),
  state: z.enum(['running', 'succeeded', 'failed']),
  /** Every volume of the request, in its order; bytes 0 until it starts. */
  volumes: z.array(volumeProgressSchema),
  /** The upload session open right now (a successor cancels it if this Pod dies). */
  uploadSession: z.string().optional(),
  /** When this Pod's transfer started and when the figures last changed (RFC 3339). */
  startedAt: z.string(),
  updatedAt: z.string(),
});

export type TransferProgress = z.infer<typeof transferProgressSchema>;

/** The progress document, updated in place by the transfer. */
export class ProgressBoard {
  readonly current: TransferProgress;

  constructor(
    volumes: string[],
    private readonly now: () => Date = () => new Date(),
  ) {
    const at = this.now().toISOString();
    this.current = {
      version: 1,
      state: 'running',
      volumes: volumes.map((volume) => ({ volume, bytesDone: 0, bytesTotal: 0 })),
      startedAt: at,
      updatedAt: at,
    };
  }

  update(volume: string, change: Partial<Omit<TransferProgress['volumes'][number], 'volume'>>): void {
    const entry = this.current.volumes.find((v) => v.volume === volume);
    if (entry) Object.assign(entry, change);
    this.touch();
  }

  uploadSession(location: string | undefined): void {
    if (location === undefined) delete this.current.uploadSession;
    else this.current.uploadSession = location;
    this.touch();
  }

  finish(state: 'succeeded' | 'failed'): void {
    this.current.state = state;
    this.touch();
  }

  private touch() {
    this.current.updatedAt = this.now().toISOString();
  }
}

/** Serves the board at GET /progress (JSON); anything else is 404. */
export async function serveProgress(
  board: ProgressBoard,
  port: number,
  host = '0.0.0.0',
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === PROGRESS_PATH) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(board.current));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A progress document read back (the operator's side); undefined when it is not one. */
export function decodeProgress(text: string): TransferProgress | undefined {
  try {
    const parsed = transferProgressSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
