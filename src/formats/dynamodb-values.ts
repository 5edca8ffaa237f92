import type { FileCheckRecorder } from '../changes/validate';
import type { Column } from '../config/schema';
import { isObject } from '../config/json';
import { jsonPath, jsonText, jsonValueProblem } from './json-lines';

/**
 * DynamoDB's typed attribute values (`{"S": "x"}`, `{"N": "9.5"}`, ...) as column values, shared by the stream and
 * export formats: the SQL that reads one and the check that accepts exactly what it converts.
 */

/** Attribute-value types read as a scalar, in order; the rest (sets, lists, maps, binary) are kept as JSON text. */
const SCALAR_TYPES = ['S', 'N', 'BOOL'] as const;
const STRUCTURE_TYPES = ['B', 'M', 'L', 'SS', 'NS', 'BS'] as const;

/** SQL: the attribute at `members` of `json` as text: the first scalar type present, or a structure's JSON for strings. */
export function attributeText(json: string, members: string[], column: Column): string {
  const at = (type: string) => jsonPath(...members, type);
  const scalars = SCALAR_TYPES.map((t) => jsonText(json, at(t)));
  const structures = column.type === 'string' ? STRUCTURE_TYPES.map((t) => jsonText(json, at(t), true)) : [];
  return `coalesce(${[...scalars, ...structures].join(', ')})`;
}

/** A typed attribute value as the plain JSON value castJsonText converts, or a problem. */
function attributeValue(attribute: unknown, column: Column): { value: unknown } | { problem: string } {
  if (!isObject(attribute) || Object.keys(attribute).length !== 1) return { problem: 'not a DynamoDB attribute value' };
  const [[type, value]] = Object.entries(attribute);
  if (type === 'NULL') return { value: null };
  if (type === 'S' || type === 'N')
    return typeof value === 'string' ? { value } : { problem: `a DynamoDB ${type} value that is not a string` };
  if (type === 'BOOL') return typeof value === 'boolean' ? { value } : { problem: 'a DynamoDB BOOL value that is not true or false' };
  if ((STRUCTURE_TYPES as readonly string[]).includes(type)) {
    return column.type === 'string' ? { value: JSON.stringify(value) } : { problem: `a DynamoDB ${type} value is not a ${column.type}` };
  }
  return { problem: 'unknown DynamoDB attribute type' };
}

/** Checks one present attribute against its column; records the first key's value for the key range. */
export function checkAttribute(
  recorder: FileCheckRecorder,
  line: number,
  column: Column,
  key: boolean,
  attribute: unknown,
  firstKey: string,
): void {
  const report = (problem: string) => recorder.report(line, problem);
  const read = attributeValue(attribute, column);
  if ('problem' in read) return report(`column ${column.name}: ${read.problem}`);
  if (key && read.value === null) report(`primary key column ${column.name} is null`);
  if (column.name === firstKey) recorder.firstKey(read.value);
  const problem = jsonValueProblem(column.type, read.value, 'seconds');
  if (problem) report(`column ${column.name}: ${problem}`);
}
