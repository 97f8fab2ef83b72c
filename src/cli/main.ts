#!/usr/bin/env node
// The `serverimage` command's entry: check the Node.js version first, then load the CLI
// (its imports break on an older Node before any code of ours could say why).
import { requireNode } from '../node-version.js';

requireNode('serverimage');
await import('./cli.js');
