// The text of one progress report: a bar line redrawn in place on a terminal, or one
// plain line per change for logs and pipes. Pure functions of the view and the numbers.
import { formatBytePair, formatEta, formatRate, percent } from '../format/units.js';
import type { ProgressView } from './view.js';

export interface Measures {
  bytesPerSecond?: number;
  etaSeconds?: number;
  elapsedMs: number;
}

const BAR_WIDTH = 24;
const PHASE_WIDTH = 8;

/** [=========>          ] for a fraction 0..1. */
export function bar(fraction: number, width = BAR_WIDTH): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const full = Math.floor(clamped * width);
  if (full >= width) return `[${'='.repeat(width)}]`;
  return `[${'='.repeat(full)}>${' '.repeat(width - full - 1)}]`;
}

function step(view: ProgressView): string {
  if (!view.reason) return view.message ?? '';
  return view.message ? `${view.reason}: ${view.message}` : view.reason;
}

/** Byte count, rate and ETA, or nothing before the first progress report. */
function transfer(view: ProgressView, measures: Measures, separator: string): string[] {
  if (view.bytesTotal === undefined || view.bytesDone === undefined) return [];
  const parts = [
    `${String(percent(view.bytesDone, view.bytesTotal)).padStart(3)}%`,
    formatBytePair(view.bytesDone, view.bytesTotal),
  ];
  if (view.phase === 'Saving') {
    if (measures.bytesPerSecond !== undefined) parts.push(formatRate(measures.bytesPerSecond));
    if (measures.etaSeconds !== undefined) parts.push(`ETA ${formatEta(measures.etaSeconds)}`);
  }
  return [parts.join(separator)];
}

function elapsed(ms: number): string {
  return formatEta(ms / 1000);
}

/** One terminal line, cut to the terminal width so that \r redraws never wrap. */
export function renderBarLine(view: ProgressView, measures: Measures, columns = 80): string {
  const parts = [view.phase.padEnd(PHASE_WIDTH), elapsed(measures.elapsedMs).padStart(6)];
  if (view.bytesTotal !== undefined && view.bytesDone !== undefined) {
    parts.push(bar(view.bytesTotal > 0 ? view.bytesDone / view.bytesTotal : 0));
  }
  parts.push(...transfer(view, measures, '  '));
  const detail = step(view);
  if (detail) parts.push(detail);
  const line = parts.join('  ');
  const max = Math.max(20, columns - 1);
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/**
 * One line per change, for logs: elapsed time, phase, bytes, and the current step when
 * `withStep` (the reporter leaves out a step it printed on the line before).
 */
export function renderPlainLine(view: ProgressView, measures: Measures, withStep = true): string {
  const head = [`[+${elapsed(measures.elapsedMs)}]`, view.phase, ...transfer(view, measures, ' ')].join(' ');
  const detail = withStep ? step(view) : '';
  return detail ? `${head} - ${detail}` : head;
}
