import { bar, renderBarLine, renderPlainLine } from '../../../src/cli/progress/render.js';
import { progressView, sameView } from '../../../src/cli/progress/view.js';
import { MiB, activeImage, condition, savingImage, storedImage } from './fixtures.js';

test('bar', () => {
  expect(bar(0, 10)).toBe('[>         ]');
  expect(bar(0.5, 10)).toBe('[=====>    ]');
  expect(bar(1, 10)).toBe('[==========]');
  expect(bar(1.7, 10)).toBe('[==========]');
  expect(bar(-1, 4)).toBe('[>   ]');
});

test('the view takes the phase and the Ready condition, and the bytes', () => {
  expect(progressView(savingImage(16 * MiB))).toEqual({
    phase: 'Saving',
    reason: 'Pushing',
    message: 'Pushing rootdisk to reg.example.com/vms/web-01',
    bytesDone: 16 * MiB,
    bytesTotal: 64 * MiB,
  });
  expect(progressView(storedImage())).toEqual({ phase: 'Accepted' });
});

test('sameView compares what a reader sees', () => {
  const a = progressView(savingImage(1));
  expect(sameView(undefined, a)).toBe(false);
  expect(sameView(a, progressView(savingImage(1)))).toBe(true);
  expect(sameView(a, progressView(savingImage(2)))).toBe(false);
});

describe('terminal line', () => {
  const measures = { bytesPerSecond: 4 * MiB, etaSeconds: 12, elapsedMs: 7_000 };

  test('phase, elapsed, bar, percent, bytes, rate, ETA and the step', () => {
    expect(renderBarLine(progressView(savingImage(16 * MiB)), measures, 200)).toBe(
      'Saving        7s  [======>                 ]   25%  16.0/64.0 MiB  4.0 MiB/s  ETA 12s  ' +
        'Pushing: Pushing rootdisk to reg.example.com/vms/web-01',
    );
  });

  test('cut to the terminal width so that it never wraps', () => {
    const line = renderBarLine(progressView(savingImage(16 * MiB)), measures, 60);
    expect(line).toHaveLength(59);
    expect(line.endsWith('...')).toBe(true);
  });

  test('before any bytes: the step only', () => {
    const queued = storedImage({
      phase: 'Queued',
      conditions: [condition('Ready', 'False', 'WaitingForServer', 'VirtualMachine web-01 not found')],
    });
    expect(renderBarLine(progressView(queued), { elapsedMs: 65_000 }, 200)).toBe(
      'Queued     1m05s  WaitingForServer: VirtualMachine web-01 not found',
    );
  });

  test('no rate or ETA once Active', () => {
    expect(renderBarLine(progressView(activeImage()), measures, 200)).toBe(
      'Active        7s  [========================]  100%  64.0/64.0 MiB  ' +
        'Active: Image reg.example.com/vms/web-01:web-01-nightly is active',
    );
  });
});

describe('plain line', () => {
  test('elapsed, phase, bytes, rate, ETA, step', () => {
    expect(
      renderPlainLine(progressView(savingImage(32 * MiB)), {
        bytesPerSecond: 2 * MiB,
        etaSeconds: 16,
        elapsedMs: 3_000,
      }),
    ).toBe(
      '[+3s] Saving  50% 32.0/64.0 MiB 2.0 MiB/s ETA 16s - Pushing: Pushing rootdisk to reg.example.com/vms/web-01',
    );
  });

  test('without the step when asked, and without bytes before there are any', () => {
    expect(renderPlainLine(progressView(savingImage(0)), { elapsedMs: 0 }, false)).toBe(
      '[+0s] Saving   0% 0.0/64.0 MiB',
    );
    expect(renderPlainLine(progressView(storedImage()), { elapsedMs: 0 })).toBe('[+0s] Accepted');
  });
});
