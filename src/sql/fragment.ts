/**
 * User SQL (a model's SELECT, a custom data test) is embedded inside statements icetide renders. It must be one
 * closed fragment: ending inside a string, a quoted name or a block comment would swallow the SQL after it, and a
 * `;` would start a statement of its own. A line comment is harmless: the fragment is always followed by a line break.
 */
export function fragmentProblem(sql: string): string | undefined {
  const text = sql.trim().replace(/;\s*$/, ''); // its own trailing semicolon is dropped where it is embedded
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "'" || ch === '"') {
      // Trino doubles a quote inside a literal or a name; two in a row just continue it.
      for (i++; i < text.length && !(text[i] === ch && text[i + 1] !== ch); i += text[i] === ch ? 2 : 1);
      if (i >= text.length) return ch === "'" ? 'a string literal is never closed' : 'a quoted name is never closed';
    } else if (ch === '-' && text[i + 1] === '-') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) return 'a /* comment is never closed';
      i = end + 1;
    } else if (ch === ';') {
      return 'one statement only: a ; outside quotes and comments would start another';
    }
  }
  return undefined;
}

/** The fragment as it goes inside a statement: trailing semicolon dropped, on lines of its own. */
export const embedFragment = (sql: string): string => `\n${sql.trim().replace(/;\s*$/, '')}\n`;
