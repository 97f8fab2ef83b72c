// The transfer Pods' settings the API server alone can check, checked when the operator
// starts rather than at the first transfer: a priority class that does not exist would
// have every transfer Pod refused at creation (the Priority admission plugin), image after
// image, long after whoever set the flag has gone home. And the transfer Pods' image when
// --transfer-image is not set: the operator's own, read from its own Pod.
import { CoreV1Api, SchedulingV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config.js';
import { describeClientError } from '../kube/client-error.js';
import { apiStatusCode } from '../kube/errors.js';

/**
 * A transfer setting the cluster refuses (`invalid`: exit 2 like any other invalid setting)
 * or that could not be checked (exit 1). Its message names the flag.
 */
export class TransferSettingError extends Error {
  override name = 'TransferSettingError';
  constructor(
    message: string,
    readonly invalid: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const FLAG = '--transfer-priority-class-name';

export async function checkTransferSettings(
  kubeConfig: KubeConfig,
  config: Pick<Config, 'transferPriorityClassName'>,
): Promise<void> {
  const name = config.transferPriorityClassName;
  if (!name) return;
  try {
    await kubeConfig.makeApiClient(SchedulingV1Api).readPriorityClass({ name });
  } catch (err) {
    const code = apiStatusCode(err);
    if (code === 404)
      throw new TransferSettingError(
        `${FLAG}: PriorityClass "${name}" does not exist in the cluster (kubectl get priorityclasses lists those that do); create it or change the flag (Helm value transfer.priorityClassName)`,
        true,
        { cause: err },
      );
    if (code === 403)
      throw new TransferSettingError(
        `${FLAG}: cannot check PriorityClass "${name}": the operator's ServiceAccount may not get priorityclasses (scheduling.k8s.io); the chart's and deploy/'s ClusterRole grant it`,
        false,
        { cause: err },
      );
    throw new TransferSettingError(
      `${FLAG}: cannot check PriorityClass "${name}": ${describeClientError(err)}`,
      false,
      { cause: err },
    );
  }
}

/**
 * The transfer Pods' image: --transfer-image, else the image of the operator's own Pod
 * (POD_NAME and POD_NAMESPACE, set by the chart and deploy/ from the downward API), since the
 * transfer entry point is in the operator's image. Outside a Pod, with no flag, there is no
 * knowing it: refused at start-up rather than at the first transfer.
 */
export async function resolveTransferImage(
  kubeConfig: KubeConfig,
  config: Pick<Config, 'transferImage'>,
  env: NodeJS.ProcessEnv,
  ownNamespace: string,
): Promise<string> {
  if (config.transferImage) return config.transferImage;
  const name = env.POD_NAME;
  if (!name)
    throw new TransferSettingError(
      "--transfer-image is not set and the operator does not run in a Pod (no POD_NAME), so its own image cannot be read: set --transfer-image to the operator's image (the chart sets it)",
      true,
    );
  const namespace = env.POD_NAMESPACE ?? ownNamespace;
  try {
    const pod = await kubeConfig.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
    const image = pod.spec?.containers[0]?.image;
    if (image) return image;
  } catch (err) {
    throw new TransferSettingError(
      `--transfer-image is not set and the operator's own Pod ${namespace}/${name} cannot be read for its image (${describeClientError(err)}): set --transfer-image to the operator's image`,
      false,
      { cause: err },
    );
  }
  throw new TransferSettingError(
    `--transfer-image is not set and the operator's own Pod ${namespace}/${name} names no image: set --transfer-image to the operator's image`,
    true,
  );
}
