import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { parseTableDefinition, type TableDefinition } from './schema';

/** Reads a table definition from YAML (or JSON) and validates it; errors name the file. */
export async function loadTableDefinition(file: string): Promise<TableDefinition> {
  let raw: unknown;
  try {
    raw = parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
  try {
    return parseTableDefinition(raw);
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}
