// The Node.js the programs need, checked before anything else loads: on an older Node
// the first import of undici already fails with a TypeError that says nothing about
// versions. This module imports nothing and uses no syntax or API newer than Node 12.

export const NEEDED_NODE_MAJOR = 24;

/** Exits with one line when this Node is older than the one the package is built for. */
export function requireNode(program: string): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= NEEDED_NODE_MAJOR) return;
  process.stderr.write(
    `${program}: needs Node.js ${NEEDED_NODE_MAJOR} or newer; this is Node.js ${process.versions.node} (${process.execPath})\n`,
  );
  process.exit(1);
}
