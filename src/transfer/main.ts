// The transfer Pod's entry: check the Node.js version first, then load the transfer (its
// imports break on an older Node before any code of ours could say why).
import { requireNode } from '../node-version.js';

requireNode('serverimage-transfer');
const { main } = await import('./transfer.js');
await main();
