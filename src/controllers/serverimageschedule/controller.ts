// Wires the ServerImageSchedule controller: informers for schedules, for the ServerImages
// schedules made (label serverimage.io/schedule) and for VirtualMachines (selectors are
// evaluated at each run), a work queue on the injected clock, and the reconciler. A
// backup maps back to its schedule through its label, not an owner reference: deleting
// a schedule leaves its backups (as deleting a backup policy does not delete the backups).
import { describeClientError } from '../../kube/client-error.js';
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Config } from '../../config.js';
import type { OperatorMetrics } from '../../metrics.js';
import {
  type Clock,
  Controller,
  EventRecorder,
  InformerSet,
  type Logger,
  WorkQueue,
  enqueueSelf,
  keyOf,
  systemClock,
} from '../../kube/index.js';
import { VIRTUAL_MACHINE } from '../../kubevirt/groups.js';
import { type ServerImageObject } from '../serverimage/types.js';
import { registerScheduleMetrics } from './metrics.js';
import { ScheduleReconciler } from './reconciler.js';
import { type ScheduleObject } from './types.js';
import { SERVERIMAGESCHEDULE_RESOURCE, SERVERIMAGE_RESOURCE } from '../../api/kinds.js';
import { EVENT_COMPONENT, SCHEDULE_LABEL } from '../../api/metadata-keys.js';

const CONTROLLER_NAME = 'serverimageschedule';

export interface ScheduleControllerOptions {
  kubeConfig: KubeConfig;
  config: Config;
  logger: Logger;
  /** Whose time decides when runs are due: the system clock in the operator. */
  clock?: Clock;
  /**
   * Reconcile and work-queue metrics (controller="serverimageschedule"), and
   * serverimage_schedule_last_success_timestamp_seconds in the same registry.
   */
  metrics?: OperatorMetrics;
  /** Event source instance, e.g. the pod name. */
  instance?: string;
}

export interface RunningScheduleController {
  controller: Controller;
  schedules: InformerSet<ScheduleObject>;
  backups: InformerSet<ServerImageObject>;
  hasSynced(): boolean;
  stop(): Promise<void>;
}

export async function startScheduleController(
  options: ScheduleControllerOptions,
): Promise<RunningScheduleController> {
  const { kubeConfig, config, logger } = options;
  const clock = options.clock ?? systemClock;
  const namespaces = config.watchNamespaces;
  const informerOptions = { kubeConfig, logger };
  const schedules = new InformerSet<ScheduleObject>(
    { ...informerOptions, resource: SERVERIMAGESCHEDULE_RESOURCE },
    namespaces,
  );
  const backups = new InformerSet<ServerImageObject>(
    { ...informerOptions, resource: SERVERIMAGE_RESOURCE, labelSelector: SCHEDULE_LABEL },
    namespaces,
  );
  const vms = new InformerSet<KubernetesObject>(
    { ...informerOptions, resource: VIRTUAL_MACHINE },
    namespaces,
  );

  const recorder = new EventRecorder(kubeConfig.makeApiClient(CoreV1Api), {
    component: EVENT_COMPONENT,
    instance: options.instance,
    clock,
    onError: (err, event) =>
      logger.warn({ error: describeClientError(err), reason: event.reason }, 'event not recorded'),
  });
  const reconciler = new ScheduleReconciler(
    { clock, logger, custom: kubeConfig.makeApiClient(CustomObjectsApi), schedules, backups, vms },
    recorder,
  );
  const controller = new Controller({
    name: CONTROLLER_NAME,
    workers: config.workers,
    logger,
    clock,
    metrics: options.metrics?.reconcile(CONTROLLER_NAME),
    queue: new WorkQueue({ clock, metrics: options.metrics?.workQueue(CONTROLLER_NAME) }),
    reconcile: async (key) => {
      try {
        return await reconciler.reconcile(key);
      } catch (err) {
        logger.warn(
          { serverimageschedule: key, error: describeClientError(err) },
          'reconcile failed; retrying with backoff',
        );
        throw err;
      }
    },
  });
  const enqueue = (key: string) => controller.enqueue(key);
  schedules.addHandlers(enqueueSelf(enqueue));
  // A backup changed (Active: rotation may run; Error; deleted): its schedule, by label.
  const bySchedule = (image: ServerImageObject) => {
    const schedule = image.metadata.labels?.[SCHEDULE_LABEL];
    if (schedule) enqueue(keyOf({ namespace: image.metadata.namespace, name: schedule }));
  };
  backups.addHandlers({
    onAdd: bySchedule,
    onUpdate: (_old, image) => bySchedule(image),
    onDelete: bySchedule,
  });
  // A VM came, went or changed labels: the schedules of its namespace list their servers anew.
  const schedulesOf = (vm: KubernetesObject) => {
    for (const s of schedules.list(vm.metadata?.namespace)) enqueue(keyOf(s.metadata));
  };
  vms.addHandlers({
    onAdd: schedulesOf,
    onUpdate: (old, vm) => {
      if (JSON.stringify(old.metadata?.labels) !== JSON.stringify(vm.metadata?.labels)) schedulesOf(vm);
    },
    onDelete: schedulesOf,
  });

  if (options.metrics) registerScheduleMetrics(options.metrics.registry, schedules, backups);
  const informers = [schedules, backups, vms];
  for (const informer of informers) informer.start();
  await Promise.all(informers.map((i) => i.waitForSync()));
  controller.start();
  logger.info(
    { namespaces: namespaces.length > 0 ? namespaces : 'all' },
    'serverimageschedule controller started',
  );
  return {
    controller,
    schedules,
    backups,
    hasSynced: () => informers.every((i) => i.hasSynced()),
    async stop() {
      controller.queue.shutDown();
      await controller.stop();
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
