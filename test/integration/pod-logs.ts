// Container logs of a namespace's Pods on the bed's real node, read where its kubelet
// writes them (<pod-logs>/<namespace>_<pod>_<uid>/<container>/<n>.log, the CRI format).
// Read while the Pods live: a transfer Pod is deleted as soon as its ServerImage is
// Active, and the kubelet then removes its logs, so `kubectl logs` afterwards finds
// nothing. Polling the files keeps the longest text seen of each.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface PodLogs {
  /** Stops reading; the lines of each container log seen, by Pod name. */
  stop(): Map<string, string[]>;
}

/** The message lines of a CRI log (`<time> <stream> <P|F> <text>`), partial lines joined. */
export function criLines(text: string): string[] {
  const lines: string[] = [];
  let partial = '';
  for (const raw of text.split('\n')) {
    const match = /^\S+ (?:stdout|stderr) ([PF]) ?(.*)$/.exec(raw);
    if (!match) continue;
    partial += match[2];
    if (match[1] === 'F') {
      lines.push(partial);
      partial = '';
    }
  }
  return lines;
}

export function collectPodLogs(podLogsDir: string, namespace: string, everyMs = 200): PodLogs {
  const texts = new Map<string, { pod: string; text: string }>();
  const read = () => {
    if (!existsSync(podLogsDir)) return;
    for (const podDir of readdirSync(podLogsDir).filter((d) => d.startsWith(`${namespace}_`))) {
      const pod = podDir.split('_')[1]!;
      try {
        for (const container of readdirSync(path.join(podLogsDir, podDir)))
          for (const file of readdirSync(path.join(podLogsDir, podDir, container))) {
            const key = path.join(podDir, container, file);
            const text = readFileSync(path.join(podLogsDir, key), 'utf8');
            if (text.length >= (texts.get(key)?.text.length ?? 0)) texts.set(key, { pod, text });
          }
      } catch {
        // Removed by the kubelet while read: what was read before stays.
      }
    }
  };
  const timer = setInterval(read, everyMs);
  return {
    stop() {
      clearInterval(timer);
      read();
      const byPod = new Map<string, string[]>();
      for (const { pod, text } of texts.values())
        byPod.set(pod, [...(byPod.get(pod) ?? []), ...criLines(text)]);
      return byPod;
    },
  };
}
