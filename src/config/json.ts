/** A JSON object (not an array, not null): what parsed YAML and JSON records are checked with. */
export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
