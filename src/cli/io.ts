// What a command writes to and reads from, passed in so that the output decisions
// (terminal or not, width) are made in one place and commands stay plain functions.

export interface OutputStream {
  write(text: string): unknown;
  /** True on a terminal: progress is a redrawn bar there, and one line per change elsewhere. */
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  env: NodeJS.ProcessEnv;
  now(): Date;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, now: () => new Date() };
}

/** The terminal width: the stream's, else $COLUMNS (a pty without a size reports 0), else 80. */
export function terminalColumns(out: OutputStream, env: NodeJS.ProcessEnv): number {
  return out.columns || Number(env.COLUMNS) || 80;
}
