// Parses WWW-Authenticate challenges (RFC 7235): `Bearer realm="...",service="...",
// scope="repository:a/b:pull,push",error="invalid_token"` or `Basic realm="..."`.
// Quoted values may contain commas and escaped quotes; several challenges may share one
// header, separated by commas before the next scheme name.

export interface AuthChallenge {
  /** Lower-cased scheme: 'basic', 'bearer', ... */
  scheme: string;
  /** Parameters with lower-cased names. */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+\-.^_`|~0-9A-Za-z]+/y;

export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  if (header === undefined) return [];
  const values = Array.isArray(header) ? header : [header];
  return values.flatMap(parseOne);
}

function parseOne(input: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let pos = 0;
  const skip = (chars: RegExp) => {
    while (pos < input.length && chars.test(input[pos]!)) pos++;
  };
  const token = (): string | undefined => {
    TOKEN.lastIndex = pos;
    const match = TOKEN.exec(input);
    if (!match) return undefined;
    pos += match[0].length;
    return match[0];
  };
  const quoted = (): string => {
    let value = '';
    pos++; // opening quote
    while (pos < input.length && input[pos] !== '"') {
      if (input[pos] === '\\' && pos + 1 < input.length) pos++;
      value += input[pos];
      pos++;
    }
    pos++; // closing quote
    return value;
  };

  for (;;) {
    skip(/[\s,]/);
    const scheme = token();
    if (!scheme) break;
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skip(/[\s,]/);
      const start = pos;
      const name = token();
      if (!name) break;
      skip(/\s/);
      if (input[pos] !== '=') {
        // Not a parameter: the name of the next challenge (or a token68 we ignore).
        pos = start;
        break;
      }
      pos++;
      skip(/\s/);
      const value = input[pos] === '"' ? quoted() : (token() ?? '');
      challenge.params[name.toLowerCase()] = value;
    }
  }
  return challenges;
}
