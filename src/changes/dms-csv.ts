import type { TableDefinition } from '../config/schema';

/** One change as AWS DMS writes it to S3: Op, commit timestamp, then the row's columns in definition order. */
export interface ChangeEvent {
  op: 'I' | 'U' | 'D';
  /** `yyyy-MM-dd HH:mm:ss.ffffff` */
  ts: string;
  values: Record<string, string | number | null>;
}

const field = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

/** Renders change events as a DMS CSV change file (no header, NULL as the table's null value). */
export function renderDmsCsv(def: TableDefinition, events: ChangeEvent[]): string {
  return events
    .map((e) =>
      [
        e.op,
        e.ts,
        ...def.columns.map((c) => {
          const v = e.values[c.name];
          return v === null || v === undefined ? def.staging.nullValue : String(v);
        }),
      ]
        .map(field)
        .join(','),
    )
    .map((line) => `${line}\n`)
    .join('');
}
