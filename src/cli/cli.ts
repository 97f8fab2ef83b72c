// The `serverimage` command; installed also as `kubectl-serverimage`, which kubectl runs
// for `kubectl serverimage ...`. Ctrl-C while waiting stops the wait, not the ServerImage.
import { processIo } from './io.js';
import { runCli } from './run.js';
import { programName } from './usage.js';

const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());

const code = await runCli(process.argv.slice(2), processIo(), programName(process.argv[1]), interrupt.signal);
// Exit at once: a watch or keep-alive socket must not hold the process open.
process.exit(code);
