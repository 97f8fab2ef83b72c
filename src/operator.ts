// The operator process: settings, logger, Kubernetes client, the ServerImage controller,
// optional leader election, graceful shutdown. SIGTERM stops taking work and exits; the
// transfer Pods go on, and a restart (or another leader) continues from the objects'
// status and children, the transfer Pods among them.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
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
import { waitForApiServer } from './kube/api-warm-up.js';
import { describeClientError, isUnreachable, unreachableMessage } from './kube/client-error.js';
import { ClusterConfigError, loadClusterConfig, serverOf } from './kube/cluster-config.js';
import { OperatorMetrics } from './metrics.js';
import {
  checkTransferSettings,
  resolveTransferImage,
  TransferSettingError,
} from './transfer/check-settings.js';

/** The cluster's client; all its API calls and watches share one connection pool (shared-connections.ts). */
function kubeConfigFor(config: Config): KubeConfig {
  return shareConnections(loadClusterConfig(config.kubeconfig));
}

/** The pod's namespace in a cluster (for the Lease), else "default". */
function ownNamespace(): string {
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
  } catch {
    return process.env.POD_NAMESPACE ?? 'default';
  }
}

/** The API server's address once the kubeconfig is read, for a message when it cannot be reached. */
let server = 'the API server';

/** One line for a start-up failure: the address and network cause, or the server's words. */
function startFailure(err: unknown): string {
  return isUnreachable(err) ? unreachableMessage(server, err) : describeClientError(err);
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
      process.stderr.write(
        `serverimage-operator: invalid settings:\n${err.message}\nSee serverimage-operator --help for the flags.\n`,
      );
      process.exit(2);
    }
    throw err;
  }
  const logger = pino({ level: config.logLevel, base: { pid: process.pid } });
  const kubeConfig = kubeConfigFor(config);
  server = serverOf(kubeConfig);
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

  // Fail at once, in one line, when the API server cannot be reached; wait while it warms up.
  await waitForApiServer(kubeConfig, { logger, signal: shutdown.signal });
  // Before the lease too: a standby replica with a setting the cluster refuses says so now.
  await checkTransferSettings(kubeConfig, config);
  config = {
    ...config,
    transferImage: await resolveTransferImage(kubeConfig, config, process.env, ownNamespace()),
  };
  logger.info({ transferImage: config.transferImage }, 'transfer Pods run this image');
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
        logger.error({ error: startFailure(err) }, 'controller failed to start');
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

// Exit codes (docs/troubleshooting.md): 2 for settings or a missing cluster configuration,
// 1 for a failure to start or run. One line, no stack trace: the reader is whoever runs
// the Pod, and the cause (address, ECONNREFUSED, a certificate) is what they need.
main().catch((err: unknown) => {
  // Its message names the flag (the cause's words are in it already).
  if (err instanceof TransferSettingError) {
    process.stderr.write(`serverimage-operator: ${err.message}\n`);
    process.exit(err.invalid ? 2 : 1);
  }
  if (err instanceof ClusterConfigError) {
    process.stderr.write(`serverimage-operator: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`serverimage-operator: ${startFailure(err)}\n`);
  process.exit(1);
});
