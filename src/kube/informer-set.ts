// Informers of one kind over several namespaces (the operator's --watch-namespaces),
// read through one cache interface. Empty list = one informer for all namespaces.
import type { KubernetesObject } from '@kubernetes/client-node';
import { Informer, type InformerHandlers, type InformerOptions } from './informer.js';
import { splitKey } from './keys.js';

export type ObjectCache<T extends KubernetesObject> = Pick<Informer<T>, 'get' | 'getByKey' | 'list'>;

export class InformerSet<T extends KubernetesObject> implements ObjectCache<T> {
  private readonly informers: Map<string | undefined, Informer<T>>;

  constructor(options: Omit<InformerOptions, 'namespace'>, namespaces: string[]) {
    const scopes = namespaces.length > 0 ? namespaces : [undefined];
    this.informers = new Map(scopes.map((ns) => [ns, new Informer<T>({ ...options, namespace: ns })]));
  }

  private informerFor(namespace: string | undefined): Informer<T> | undefined {
    return this.informers.get(undefined) ?? this.informers.get(namespace);
  }

  addHandlers(handlers: InformerHandlers<T>): void {
    for (const informer of this.informers.values()) informer.addHandlers(handlers);
  }

  start(): void {
    for (const informer of this.informers.values()) informer.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  hasSynced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced());
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informerFor(namespace)?.get(name, namespace);
  }

  getByKey(key: string): T | undefined {
    const { namespace, name } = splitKey(key);
    return this.get(name, namespace);
  }

  list(namespace?: string): T[] {
    if (namespace !== undefined) return this.informerFor(namespace)?.list(namespace) ?? [];
    return [...this.informers.values()].flatMap((i) => i.list());
  }
}
