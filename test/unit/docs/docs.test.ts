// The documentation keeps up with the code: every relative link in the README,
// ARCHITECTURE.md, the chart's README and docs/ leads somewhere (a file, and a heading
// where it names one), and every flag the operator and the CLI accept is documented.
// The flags come from the tables the programs parse with, so a new flag without docs fails.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLAGS } from '../../../src/cli/flags.js';
import { operatorFlags } from '../../../src/config.js';
import { anchorsOf, brokenLinks, linksOf, markdownFiles, slug } from './markdown.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const at = (...parts: string[]) => path.join(root, ...parts);

const linked = [
  at('README.md'),
  at('ARCHITECTURE.md'),
  at('charts', 'serverimage-operator', 'README.md'),
  ...markdownFiles(at('docs')),
];
const userDocs = [at('README.md'), ...markdownFiles(at('docs'))];

test('docs/ has the pages the README sends readers to', () => {
  const pages = markdownFiles(at('docs')).map((f) => path.basename(f));
  expect(pages).toEqual(
    expect.arrayContaining(['README.md', 'getting-started.md', 'operating.md', 'cli.md']),
  );
});

test.each(linked.map((f) => [path.relative(root, f), f]))('every relative link in %s resolves', (_, file) => {
  expect(brokenLinks(file)).toEqual([]);
});

/** The flags of `table` that no page of the README or docs/ writes as `--flag`. */
function undocumented(flags: string[]): string[] {
  const text = userDocs.map((f) => readFileSync(f, 'utf8')).join('\n');
  return flags.filter((flag) => !new RegExp(`${flag}(?![\\w-])`).test(text));
}

test('every operator flag is documented', () => {
  const flags = operatorFlags();
  expect(flags).toContain('--max-concurrent-exports');
  expect(undocumented(flags)).toEqual([]);
});

test('every CLI flag is documented', () => {
  const flags = Object.keys(FLAGS).map((name) => `--${name}`);
  expect(flags).toContain('--from-namespace');
  expect(undocumented(flags)).toEqual([]);
});

describe('the check itself', () => {
  test('finds links outside code only', () => {
    const markdown = [
      'See [a](a.md), [b](docs/b.md#part "title") and ![c](img.png).',
      '`[not](inline.md)`',
      '```',
      '[not](fenced.md)',
      '```',
      '[ref]: ref.md',
    ].join('\n');
    expect(linksOf(markdown).map((l) => l.target)).toEqual(['a.md', 'docs/b.md#part', 'img.png', 'ref.md']);
  });

  test("makes GitHub's anchors", () => {
    expect(slug('The request (`spec`, immutable)')).toBe('the-request-spec-immutable');
    expect(slug("The operator's memory")).toBe('the-operators-memory');
    expect(slug('Scheduled backups: `ServerImageSchedule`')).toBe('scheduled-backups-serverimageschedule');
    expect([...anchorsOf('# A\n## B\n```\n# not\n```\n## B\n')]).toEqual(['a', 'b', 'b-1']);
  });

  test('reports a missing file and a missing heading, and passes a good link', () => {
    const files: Record<string, string> = {
      [at('README.md')]: readFileSync(at('README.md'), 'utf8'),
      [at('x.md')]:
        '# X\n\n[gone](docs/no-such-page.md) [bad anchor](README.md#no-such-heading) [ok](README.md#status) [self](#x)\n',
    };
    const broken = brokenLinks(at('x.md'), {
      exists: (f) => f in files || existsSync(f),
      read: (f) => files[f] ?? readFileSync(f, 'utf8'),
    });
    expect(broken).toHaveLength(2);
    expect(broken[0]).toMatch(/no-such-page\.md \(no such file\)/);
    expect(broken[1]).toMatch(/#no-such-heading \(no heading #no-such-heading\)/);
  });

  test('reports a flag no page mentions', () => {
    expect(undocumented(['--no-such-flag', '--workers'])).toEqual(['--no-such-flag']);
  });
});
