// The CLI's exit codes, documented in its --help, so scripts can tell a failed image
// from a typo and from a wait that ran out of time.

export const ExitCode = {
  /** Done: created, listed, deleted, or the image reached Active. */
  Ok: 0,
  /** The API server refused the request, or the image ended in phase Error. */
  Failed: 1,
  /** Bad command line: unknown flag, missing argument, malformed value. */
  Usage: 2,
  /** --wait ran past --timeout; the ServerImage itself goes on. */
  Timeout: 3,
  /** Interrupted (Ctrl-C) while waiting; the ServerImage itself goes on. */
  Interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one message and an exit code (no stack trace). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.Failed,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.Usage);
    this.name = 'UsageError';
  }
}
