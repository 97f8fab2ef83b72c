// The operator's entry: check the Node.js version first, then load the operator (its
// imports break on an older Node before any code of ours could say why).
import { requireNode } from './node-version.js';

requireNode('serverimage-operator');
await import('./operator.js');
