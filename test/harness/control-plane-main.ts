// Runs the test bed's control plane as its own process until SIGTERM/SIGINT. Prints one
// JSON line {server, kubeconfigPath} on stdout when it is ready. Used by jest's global
// setup and by the demo.
import { startControlPlane } from './control-plane.js';

const started = Date.now();
const controlPlane = await startControlPlane();
process.stdout.write(
  JSON.stringify({
    server: controlPlane.server,
    kubeconfigPath: controlPlane.kubeconfigPath,
    auditLogPath: controlPlane.auditLogPath,
    ms: Date.now() - started,
  }) + '\n',
);
const stop = async () => {
  await controlPlane.stop();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// When our parent goes (even killed), we are re-parented: stop rather than linger.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stop();
}, 1000);
