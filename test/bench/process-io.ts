// What this process has written and read through system calls so far (Linux
// /proc/self/io: wchar/rchar count write()/read() on every descriptor, sockets included,
// over all threads). A push's wchar is, within its HTTP headers and TLS overhead, the
// bytes it sent: the bench's measure of "bytes uploaded" that does not take the push's
// own word for it. Undefined where /proc is missing.
import { readFileSync } from 'node:fs';

export interface ProcessIo {
  writtenBytes: number;
  readBytes: number;
}

export function processIo(): ProcessIo | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/io', 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { writtenBytes: field('wchar'), readBytes: field('rchar') };
}
