import assert from 'node:assert/strict';
import { modelDefinitionSchema } from '../../src/config/models';
import { loadRuntimeConfig } from '../../src/config/runtime';
import { parseTableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { renderFailingRows } from '../../src/sql/data-tests';
import { renderTableDdl } from '../../src/sql/ddl';
import { athenaDialect, trinoDialect, type Dialect } from '../../src/sql/dialect';
import { fragmentProblem } from '../../src/sql/fragment';
import { hiveString, quoteString } from '../../src/sql/identifiers';

/**
 * Reference readers of a string literal at `start`, written from each grammar rather than from our quoting: what the
 * engine would take the literal to be, and where the statement goes on after it.
 */
function readTrinoLiteral(text: string, start: number): { value: string; end: number } {
  assert.equal(text[start], "'", `a literal starts at ${start}: ${text.slice(start, start + 20)}`);
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] !== "'") value += text[i];
    else if (text[i + 1] === "'") value += text[++i];
    else return { value, end: i + 1 };
  }
  throw new Error('literal never closed');
}

/** Hive's StringLiteral: ('\'' (~('\''|'\\') | '\\' .)* '\'')+ — a backslash escapes the next character, adjacent literals concatenate. */
function readHiveLiteral(text: string, start: number): { value: string; end: number } {
  let value = '';
  let i = start;
  assert.equal(text[i], "'", `a literal starts at ${start}: ${text.slice(start, start + 20)}`);
  while (text[i] === "'") {
    for (i++; ; i++) {
      if (i >= text.length) throw new Error('literal never closed');
      if (text[i] === '\\') value += text[++i];
      else if (text[i] === "'") break;
      else value += text[i];
    }
    i++;
  }
  return { value, end: i };
}

const HOSTILE = [
  "it's",
  "a\\'b",
  "a\\\\'b",
  'ends with a backslash\\',
  "'; DROP TABLE shop.orders; --",
  "' || '",
  '/* not a comment */',
  'ünïcödé 🧊 %41',
  "''''",
];

describe('string literals, each dialect its own', () => {
  it('a Trino literal reads back as exactly the value, and ends where the literal ends', () => {
    for (const value of HOSTILE) {
      const literal = quoteString(value);
      assert.deepEqual(readTrinoLiteral(literal + ' rest', 0), { value, end: literal.length }, literal);
    }
  });

  it('a Hive DDL literal reads back as exactly the value, and ends where the literal ends', () => {
    for (const value of HOSTILE) {
      const literal = hiveString(value);
      assert.deepEqual(readHiveLiteral(literal + ' rest', 0), { value, end: literal.length }, literal);
    }
  });

  it('SQL quoting read as Hive DDL is wrong: why Athena DDL takes its own', () => {
    assert.equal(readHiveLiteral(quoteString("s3://bucket/it's/"), 0).value, 's3://bucket/its/');
    // A backslash before the doubled quote escapes the first: the literal ends early and the rest is SQL.
    const broken = quoteString("s3://bucket/a\\'b/");
    assert.deepEqual(readHiveLiteral(broken, 0), { value: "s3://bucket/a'", end: broken.indexOf('b/') });
  });
});

const base: TableDefinitionInput = {
  database: 'shop',
  table: 'orders',
  location: 's3://lake/warehouse/shop/orders/',
  staging: { location: 's3://bucket/cdc/orders/' },
  columns: [
    { name: 'id', type: 'bigint' },
    { name: 'note', type: 'string' },
  ],
  primaryKey: ['id'],
};

/** Every literal after `keyword` in `statement`, read by `read`: its value, and the statement with the literal replaced by `?`. */
function literalsAfter(statement: string, keyword: string, read: (t: string, i: number) => { value: string; end: number }) {
  const values: string[] = [];
  let shape = statement;
  for (let at = shape.indexOf(keyword); at >= 0; at = shape.indexOf(keyword, at + keyword.length)) {
    const start = at + keyword.length;
    const { value, end } = read(shape, start);
    values.push(value);
    shape = `${shape.slice(0, start)}?${shape.slice(end)}`;
  }
  return { values, shape };
}

describe('hostile locations in DDL', () => {
  const hostile = "s3://bucket/cdc/it's' || 'x/-- /*;/";
  const formats = ['dms-csv', 'dms-parquet', 'debezium-json'] as const;
  const cases: [Dialect, string, (t: string, i: number) => { value: string; end: number }][] = [
    [trinoDialect(), 'location = ', readTrinoLiteral],
    [athenaDialect(), 'LOCATION ', readHiveLiteral],
  ];

  for (const [dialect, keyword, read] of cases) {
    it(`${dialect.kind}: each location reads back whole, and the statements around it are those of a plain location`, () => {
      for (const format of formats) {
        const render = (location: string) =>
          renderTableDdl(parseTableDefinition({ ...base, location, staging: { location, format } }), dialect, { warehouse: location });
        const plain = render('s3://bucket/plain/');
        const odd = render(hostile);
        assert.equal(odd.length, plain.length);
        odd.forEach((statement, i) => {
          // Trino names the staging table's location external_location: the keyword ends the same way.
          const mine = literalsAfter(statement, keyword, read);
          const theirs = literalsAfter(plain[i], keyword, read);
          assert.equal(mine.shape, theirs.shape, statement);
          for (const value of mine.values) assert.ok(value.startsWith(hostile), `${value} in ${statement}`);
          assert.equal(mine.values.length, theirs.values.length);
        });
      }
    });
  }
});

describe('locations a quote cannot make safe are refused at validation', () => {
  const refused = ['s3://bucket/a\\b/', 's3://bucket/a\nb/', 's3://bucket/a\u0000b/', 's3://bucket/a?b/', 's3://bucket/a#b/'];
  const message = /a location without control characters, backslashes, \? or #/;

  it('staging, archive and table locations', () => {
    for (const location of refused) {
      assert.throws(() => parseTableDefinition({ ...base, staging: { location } }), message, JSON.stringify(location));
      assert.throws(() => parseTableDefinition({ ...base, location }), message);
      assert.throws(() => parseTableDefinition({ ...base, cleanup: { mode: 'archive', location } }), message);
    }
    assert.equal(parseTableDefinition({ ...base, staging: { location: "s3://bucket/it's/" } }).staging.location, "s3://bucket/it's/");
  });

  it('model locations and the warehouse', () => {
    const model = { name: 'm', database: 'analytics', materialization: 'table', sql: 'SELECT 1' };
    for (const location of refused) {
      assert.match(modelDefinitionSchema.safeParse({ ...model, location }).error?.message ?? '', message);
      assert.throws(() => loadRuntimeConfig({ ICETIDE_WAREHOUSE: location }), message);
    }
  });
});

describe('user SQL embedded in icetide statements', () => {
  it('must be one closed fragment', () => {
    assert.equal(fragmentProblem("SELECT 'it''s', \"a\"\"b\" FROM t -- a comment with ' and ;\n;"), undefined);
    assert.equal(fragmentProblem('SELECT 1 /* ; */ ;'), undefined);
    assert.match(fragmentProblem("SELECT 'open") ?? '', /string literal is never closed/);
    assert.match(fragmentProblem('SELECT "open') ?? '', /quoted name is never closed/);
    assert.match(fragmentProblem('SELECT 1 /* open') ?? '', /comment is never closed/);
    assert.match(fragmentProblem('SELECT 1; DROP TABLE shop.orders') ?? '', /one statement only/);
    const model = { name: 'm', database: 'analytics', materialization: 'table' };
    assert.match(modelDefinitionSchema.safeParse({ ...model, sql: 'SELECT 1; DROP TABLE x' }).error?.message ?? '', /one statement only/);
    assert.match(
      modelDefinitionSchema.safeParse({ ...model, sql: 'SELECT 1', tests: [{ sql: "SELECT 'x" }] }).error?.message ?? '',
      /never closed/,
    );
  });

  it('a trailing line comment ends before the statement goes on', () => {
    const sql = renderFailingRows({ sql: 'SELECT * FROM {{ this }} -- the failing rows' }, '"t"', trinoDialect());
    assert.equal(sql.split('\n').at(-1), '');
    assert.equal(`(${sql}) AS failing`.split('\n').at(-1), ') AS failing');
  });
});
