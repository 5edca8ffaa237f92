import type { ChangeEvent } from '../../src/changes/producers';

/**
 * The test's own model of what the table must hold, written from the documented rule and not from icetide's SQL:
 * for each key, the newest change ever delivered wins. An initial copy (a row of a DMS full-load file, LOAD*) is older
 * than every captured change of its key; then the later commit time is newer; then the larger position (Debezium's
 * LSN, DynamoDB's SequenceNumber; else the seq column), as a number. A change with a position is the same change
 * wherever its file lies; only changes without one are told apart by file name, then D over U over I. A key whose
 * newest change is a delete is absent.
 */
export interface DeliveredChange {
  event: ChangeEvent;
  file: string;
}

const OP_RANK = { I: 1, U: 2, D: 3 } as const;

const isInitial = (c: DeliveredChange): boolean => /(^|\/)LOAD[^/]*$/.test(c.file);
const positionOf = (c: DeliveredChange): bigint | undefined => {
  const position = c.event.position ?? c.event.values.seq;
  return position === undefined || position === null ? undefined : BigInt(position);
};

function newer(a: DeliveredChange, b: DeliveredChange): boolean {
  if (isInitial(a) !== isInitial(b)) return isInitial(b);
  const ta = a.event.ts.padEnd(26, '0');
  const tb = b.event.ts.padEnd(26, '0');
  if (ta !== tb) return ta > tb;
  const [sa, sb] = [positionOf(a), positionOf(b)];
  if (sa !== sb) return (sa ?? -1n) > (sb ?? -1n);
  if (sa === undefined && a.file !== b.file) return a.file > b.file;
  return OP_RANK[a.event.op] > OP_RANK[b.event.op];
}

export class ReferenceTable {
  private readonly latest = new Map<string, DeliveredChange>();

  constructor(private readonly key: string[]) {}

  deliver(file: string, events: ChangeEvent[]): void {
    for (const event of events) {
      const id = this.key.map((k) => String(event.values[k])).join('\u0000');
      const current = this.latest.get(id);
      const candidate = { event, file };
      if (!current || newer(candidate, current)) this.latest.set(id, candidate);
    }
  }

  /** Live rows, values as strings for comparison, sorted by key. */
  rows(columns: string[]): Record<string, string | null>[] {
    return [...this.latest.values()]
      .filter((c) => c.event.op !== 'D')
      .map((c) => Object.fromEntries(columns.map((col) => [col, c.event.values[col] === null ? null : String(c.event.values[col])])))
      .sort((a, b) => compareKeys(a, b, this.key));
  }

  maxCommitTs(): string | undefined {
    return [...this.latest.values()]
      .map((c) => c.event.ts)
      .sort()
      .at(-1);
  }
}

function compareKeys(a: Record<string, string | null>, b: Record<string, string | null>, key: string[]): number {
  for (const k of key) {
    const [x, y] = [a[k] ?? '', b[k] ?? ''];
    if (x !== y) return /^\d+$/.test(x) && /^\d+$/.test(y) ? Number(x) - Number(y) : x < y ? -1 : 1;
  }
  return 0;
}

/** Rows read from Trino as strings (decimals come back as strings already; numbers do not). */
export const asStrings = (rows: Record<string, unknown>[], columns: string[]): Record<string, string | null>[] =>
  rows.map((r) => Object.fromEntries(columns.map((c) => [c, r[c] === null ? null : String(r[c])])));
