import { IdleCollection } from '../../src/idle-collection.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('IdleCollection', () => {
  it('collects once the work has been over for the quiet time, and not while work runs', async () => {
    let collections = 0;
    const idle = new IdleCollection(50, () => collections++);
    idle.busy();
    await sleep(100);
    expect(collections).toBe(0);
    idle.idle();
    await sleep(10);
    idle.busy(); // another transfer started: put off
    await sleep(100);
    expect(collections).toBe(0);
    idle.idle();
    idle.idle(); // told twice: one collection
    await sleep(150);
    expect(collections).toBe(1);
  });

  it('does nothing where gc() is not exposed', async () => {
    const idle = new IdleCollection(10, undefined);
    idle.idle();
    await sleep(30);
    expect(() => idle.busy()).not.toThrow();
  });
});
