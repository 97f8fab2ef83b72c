// The transfer slots are counted from the cluster (exports and live transfer Pods, the
// caches) plus what this process granted and the caches do not show yet: a new process
// counts what its predecessor started, and a freed slot wakes the images waiting for one.
import { Slots } from '../../../src/controllers/serverimage/slots.js';

function slots(limit: number, inCluster: string[] = []) {
  const woken: string[] = [];
  const cluster = [...inCluster];
  const s = new Slots(
    limit,
    () => cluster,
    (key) => woken.push(key),
  );
  return { s, woken, cluster };
}

test('a new process counts the exports and Pods its predecessor left: no slot beyond the limit', () => {
  const { s, woken, cluster } = slots(2, ['ns/a', 'ns/b']);
  expect(s.reserve('ns/a')).toBe(true); // holds one already
  expect(s.reserve('ns/c')).toBe(false);
  // ns/b's export goes (its image is Active): the waiter is woken and gets the slot.
  cluster.splice(cluster.indexOf('ns/b'), 1);
  s.changed();
  expect(woken).toEqual(['ns/c']);
  expect(s.reserve('ns/c')).toBe(true);
  expect(s.holders()).toEqual(new Set(['ns/a', 'ns/c']));
});

test('a slot granted here counts before the cache shows its export, and until it is released', () => {
  const { s, woken } = slots(1);
  expect(s.reserve('ns/a')).toBe(true);
  expect(s.reserve('ns/b')).toBe(false);
  s.changed(); // nothing freed: nobody woken
  expect(woken).toEqual([]);
  s.release('ns/a');
  expect(woken).toEqual(['ns/b']);
  expect(s.reserve('ns/b')).toBe(true);
  expect(s.peakHeld()).toBe(1);
});
