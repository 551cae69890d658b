/** A token of one assembly line, with its 1-based column. */
export interface Token {
  kind: 'ident' | 'number' | 'punct' | 'string';
  text: string;
  column: number;
}

// Longest first, so `s>>=` wins over `s>` and `<<=` over `<<`.
const PUNCT = [
  's>>=', '<<=', '>>=', 's/=', 's%=', 's>=', 's<=',
  '+=', '-=', '*=', '/=', '|=', '&=', '%=', '^=', '==', '!=', '>=', '<=', 's>', 's<',
  '=', '(', ')', '*', '[', ']', '+', '-', ',', ':', '%', '<', '>', '&', ';',
];

/** Tokenizes one line (comments already removed). Unknown characters become one-char punct tokens. */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    const column = i + 1;
    if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j++;
      out.push({ kind: 'string', text: line.slice(i + 1, j), column });
      i = Math.min(j + 1, line.length);
      continue;
    }
    // `s>`-style signed operators begin with a letter; try them before identifiers.
    if (c === 's') {
      const p = PUNCT.find((q) => q[0] === 's' && line.startsWith(q, i));
      if (p) {
        out.push({ kind: 'punct', text: p, column });
        i += p.length;
        continue;
      }
    }
    if (/[A-Za-z_.$]/.test(c)) {
      let j = i + 1;
      while (j < line.length && /[A-Za-z0-9_.$@]/.test(line[j])) j++;
      out.push({ kind: 'ident', text: line.slice(i, j), column });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < line.length && /[0-9A-Za-z_]/.test(line[j])) j++;
      out.push({ kind: 'number', text: line.slice(i, j), column });
      i = j;
      continue;
    }
    const p = PUNCT.find((q) => q[0] !== 's' && line.startsWith(q, i));
    const text = p ?? c;
    out.push({ kind: 'punct', text, column });
    i += text.length;
  }
  return out;
}

/** Removes a comment that starts with any of `markers`, outside double quotes. */
export function stripComment(line: string, markers: readonly string[]): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"') inString = !inString;
    if (!inString && markers.some((m) => line.startsWith(m, i))) return line.slice(0, i);
  }
  return line;
}
