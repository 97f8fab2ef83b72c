// The transfer Pods' settings the API server alone can check, checked when the operator
// starts rather than at the first transfer: a priority class that does not exist would
// have every transfer Pod refused at creation (the Priority admission plugin), image after
// image, long after whoever set the flag has gone home.
import { SchedulingV1Api, type KubeConfig } from '@kubernetes/client-node';
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
