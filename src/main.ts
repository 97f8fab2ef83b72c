// The operator process: settings, logger, Kubernetes client, the ServerImage controller,
// optional leader election, graceful shutdown. SIGTERM stops taking work, cancels running
// transfers (their upload sessions are deleted) and exits; a restart continues from the
// objects' status and children.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { ConfigError, loadConfig, usage, type Config } from './config.js';
import {
  startServerImageController,
  type RunningServerImageController,
} from './controllers/serverimage/controller.js';
import {
  startScheduleController,
  type RunningScheduleController,
} from './controllers/serverimageschedule/controller.js';
import { serveEndpoints } from './http-server.js';
import { LeaderElector, shareConnections } from './kube/index.js';
import { OperatorMetrics } from './metrics.js';

/** The cluster's client; all its API calls and watches share one connection pool (shared-connections.ts). */
function kubeConfigFor(config: Config): KubeConfig {
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();
  return shareConnections(kc);
}

/** The pod's namespace in a cluster (for the Lease), else "default". */
function ownNamespace(): string {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return process.env.POD_NAMESPACE ?? 'default';
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--help')) {
    process.stdout.write(
      `serverimage-operator [flags]\n\nFlag                           Environment                  Meaning\n${usage()}\n`,
    );
    return;
  }
  let config: Config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`serverimage-operator: invalid settings:\n${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { pid: process.pid } });
  const kubeConfig = kubeConfigFor(config);
  const identity = process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  const shutdown = new AbortController();
  const metrics = new OperatorMetrics();
  let running: RunningServerImageController | undefined;
  let scheduling: RunningScheduleController | undefined;
  let standingBy = false;
  // Ready: informers synced; a replica waiting for the lease is ready too (it can take over).
  const ready = () => ((running?.hasSynced() ?? false) && (scheduling?.hasSynced() ?? false)) || standingBy;
  metrics.countReadiness(ready);
  await serveEndpoints(config.healthProbeBindAddress, { ready });
  await serveEndpoints(config.metricsBindAddress, { metrics: metrics.registry });

  const stopWork = async () => {
    const current = [running, scheduling];
    running = undefined;
    scheduling = undefined;
    await Promise.all(current.map((c) => c?.stop()));
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      shutdown.abort();
      void stopWork().then(() => process.exit(0));
    });
  }

  const startWork = async () => {
    running = await startServerImageController({ kubeConfig, config, logger, metrics, instance: identity });
    // The system clock decides when backups are due (tests use seconds-field schedules).
    scheduling = await startScheduleController({
      kubeConfig,
      config,
      logger,
      instance: identity,
      metrics,
    });
  };

  if (!config.leaderElect) {
    await startWork();
    return;
  }
  standingBy = true;
  const leading = metrics.leadership(config.leaderElectionId);
  const elector = new LeaderElector({
    kubeConfig,
    namespace: config.leaderElectionNamespace ?? ownNamespace(),
    name: config.leaderElectionId,
    identity,
    logger,
    onStartedLeading: (signal) => {
      logger.info({ identity }, 'became leader');
      standingBy = false;
      leading(true);
      signal.addEventListener('abort', () => void stopWork());
      void startWork().catch((err: unknown) => {
        logger.error({ err }, 'controller failed to start');
        process.exit(1);
      });
    },
    onStoppedLeading: () => {
      // Losing the lease stops the work at once; a fresh process is the clean way back.
      logger.warn({ identity }, 'lost leadership; exiting');
      leading(false);
      void stopWork().then(() => process.exit(shutdown.signal.aborted ? 0 : 1));
    },
  });
  await elector.run(shutdown.signal);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `serverimage-operator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
