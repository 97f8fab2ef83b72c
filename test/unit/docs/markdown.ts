// What the documentation check reads in a markdown file: its relative links and its
// headings' anchors, as GitHub renders them. Code (fenced blocks and `inline`) is left
// out, since a link or a flag written there is an example, not a link.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** The markdown with code blocks and inline code blanked, line numbers kept. */
export function proseOf(markdown: string): string {
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced;
        return '';
      }
      return fenced ? '' : line.replace(/`[^`]*`/g, '``');
    })
    .join('\n');
}

export interface Link {
  line: number;
  target: string;
}

/** Inline links and images `[text](target)` and reference definitions `[x]: target`. */
export function linksOf(markdown: string): Link[] {
  const links: Link[] = [];
  proseOf(markdown)
    .split('\n')
    .forEach((text, index) => {
      for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
        links.push({ line: index + 1, target: match[1]! });
      }
      const definition = /^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(text);
      if (definition) links.push({ line: index + 1, target: definition[1]! });
    });
  return links;
}

/** GitHub's anchor for a heading's text (github-slugger's rule): lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a file's headings, with GitHub's -1, -2 ... for repeated ones. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** How the check reads files: the disk, or (to test the check) files of its own. */
export interface Files {
  exists(file: string): boolean;
  read(file: string): string;
}

const disk: Files = { exists: existsSync, read: (file) => readFileSync(file, 'utf8') };

/** Every way `file`'s relative links fail to resolve: a missing file, or a missing heading. */
export function brokenLinks(file: string, files: Files = disk): string[] {
  const { exists, read } = files;
  const broken: string[] = [];
  for (const { line, target } of linksOf(read(file))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...
    const [pathPart = '', anchor] = target.split('#', 2);
    const resolved = pathPart === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(pathPart));
    const where = `${file}:${line}: ${target}`;
    if (!exists(resolved)) {
      broken.push(`${where} (no such file)`);
      continue;
    }
    if (anchor && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(anchor)) {
      broken.push(`${where} (no heading #${anchor})`);
    }
  }
  return broken;
}

/** The .md files under `dir`, recursively. */
export function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return markdownFiles(full);
    return name.endsWith('.md') ? [full] : [];
  });
}
