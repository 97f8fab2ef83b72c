import { PlainReporter, TtyReporter, progressReporter } from '../../../src/cli/progress/reporter.js';
import { MiB, activeImage, condition, recorder, savingImage, storedImage } from './fixtures.js';

function clock(start = 0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('plain: one line per change, the step only when it changed, rate and ETA from the updates', () => {
  const out = recorder(false);
  const time = clock();
  const reporter = new PlainReporter(out, time.now);
  reporter.update(storedImage());
  reporter.update(storedImage());
  time.advance(1000);
  reporter.update(savingImage(0));
  time.advance(1000);
  reporter.update(savingImage(8 * MiB));
  reporter.update(savingImage(8 * MiB));
  time.advance(1000);
  reporter.update(savingImage(16 * MiB));
  reporter.update(activeImage());
  reporter.stop();
  expect(out.text().split('\n')).toEqual([
    '[+0s] Accepted',
    '[+1s] Saving   0% 0.0/64.0 MiB - Pushing: Pushing rootdisk to reg.example.com/vms/web-01',
    '[+2s] Saving  12% 8.0/64.0 MiB 8.0 MiB/s ETA 7s',
    '[+3s] Saving  25% 16.0/64.0 MiB 8.0 MiB/s ETA 6s',
    '[+3s] Active 100% 64.0/64.0 MiB - Active: Image reg.example.com/vms/web-01:web-01-nightly is active',
    '',
  ]);
});

test('terminal: redraws in place, keeps a finished step on its own line, ends on a fresh line', () => {
  const out = recorder(true);
  const time = clock();
  const reporter = new TtyReporter(out, time.now, () => 200, 60_000);
  const queued = (message: string) =>
    storedImage({ phase: 'Queued', conditions: [condition('Ready', 'False', 'WaitingForServer', message)] });
  reporter.update(queued('VirtualMachine web-01 not found'));
  reporter.update(queued('VirtualMachine web-01 not found, still'));
  reporter.update(savingImage(0));
  time.advance(1000);
  reporter.update(savingImage(32 * MiB));
  reporter.stop();
  const screen = out.text();
  // Every draw clears the line first; a new step starts a new line, a new message does not.
  expect(out.chunks.filter((c) => c.startsWith('\r\x1b[2K'))).toHaveLength(4);
  expect(screen.split('\n').map((line) => line.split('\r\x1b[2K').at(-1))).toEqual([
    'Queued        0s  WaitingForServer: VirtualMachine web-01 not found, still',
    'Saving        1s  [============>           ]   50%  32.0/64.0 MiB  32.0 MiB/s  ETA 1s  Pushing: Pushing rootdisk to reg.example.com/vms/web-01',
    '',
  ]);
});

test('the kind follows isTTY', () => {
  const tty = progressReporter(recorder(true), () => 80);
  const plain = progressReporter(recorder(false), () => 80);
  expect(tty).toBeInstanceOf(TtyReporter);
  expect(plain).toBeInstanceOf(PlainReporter);
  tty.stop();
});

test('the next volume starts a fresh rate: the pause between volumes is not a slow transfer', () => {
  const out = recorder(false);
  const time = clock();
  const reporter = new PlainReporter(out, time.now);
  // The first volume (32 MiB) at 8 MiB/s; the total then covers it alone.
  for (let done = 0; done <= 32 * MiB; done += 8 * MiB) {
    reporter.update(savingImage(done, 32 * MiB));
    time.advance(1000);
  }
  // 40 s of setting up the second export, then the total grows by its 64 MiB and bytes flow again.
  time.advance(40_000);
  reporter.update(savingImage(32 * MiB, 96 * MiB));
  time.advance(1000);
  reporter.update(savingImage(40 * MiB, 96 * MiB));
  const lines = out.text().trim().split('\n');
  // Without the reset this line said "0 B/s" and the next a rate diluted by the pause.
  expect(lines.at(-2)).toMatch(/ 33% 32\.0\/96\.0 MiB$/);
  expect(lines.at(-1)).toMatch(/40\.0\/96\.0 MiB 8\.0 MiB\/s ETA 7s$/);
});
