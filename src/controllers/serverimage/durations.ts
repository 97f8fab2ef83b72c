/** 90000 -> "1m30s", for messages people read. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [h && `${h}h`, m && `${m}m`, (s % 60 || (!h && !m)) && `${s % 60}s`].filter(Boolean);
  return parts.join('');
}
