import assert from 'node:assert/strict';
import { parseTableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { checkChangeFile } from '../../src/changes/validate';
import { shopOrders } from './fixtures';

const base = shopOrders({ name: 'day', type: 'date' }, { name: 'note', type: 'string' });
const def = (over: Partial<TableDefinitionInput> = {}) => parseTableDefinition({ ...base, ...over });
const URI = 's3://bucket/cdc/orders/f.csv';
const check = (text: string, d = def()) => checkChangeFile(d, URI, text);

describe('checkChangeFile', () => {
  it('counts rows of a good file and keeps the newest commit time, normalized to 6 digits', () => {
    const c = check(
      ['I,2024-01-01 00:00:01.5,1,2024-01-01,hello', 'U,2024-01-01 00:00:02,1,2024-01-02,', 'D,2024-01-01 00:00:01.999999,1,,'].join('\n') +
        '\n',
    );
    assert.deepEqual(c, {
      uri: URI,
      rows: 3,
      maxCommitTs: '2024-01-01 00:00:02.000000',
      keyRange: { column: 'id', min: '1', max: '1' },
      problems: [],
    });
    assert.equal(check('I,2024-01-01 00:00:01.5,1,2024-01-01,x\n').maxCommitTs, '2024-01-01 00:00:01.500000');
  });

  it('keeps the range of an integer first key column, comparing as numbers', () => {
    const c = check('I,2024-01-01 00:00:01,9,,\nI,2024-01-01 00:00:01,10,,\nI,2024-01-01 00:00:01,-3,,\n');
    assert.deepEqual(c.keyRange, { column: 'id', min: '-3', max: '10' });
  });

  it('compares commit times after normalizing (".5" is later than ".499999")', () => {
    const c = check('I,2024-01-01 00:00:01.5,1,,\nI,2024-01-01 00:00:01.499999,2,,\n');
    assert.equal(c.maxCommitTs, '2024-01-01 00:00:01.500000');
  });

  it('reports an unknown Op with its line', () => {
    const c = check('I,2024-01-01 00:00:01,1,,\nX,2024-01-01 00:00:01,2,,\n');
    assert.deepEqual(c.problems, [{ line: 2, problem: "unknown Op 'X' (expected I, U or D)" }]);
    assert.equal(c.rows, 2);
  });

  it('reports a null primary key (empty field with the default null value)', () => {
    const c = check('I,2024-01-01 00:00:01,,2024-01-01,x\n');
    assert.deepEqual(c.problems, [{ line: 1, problem: 'primary key column id is null' }]);
  });

  it('honours a custom null value', () => {
    const d = def({ staging: { location: 's3://bucket/cdc/orders/', nullValue: 'NULL' } });
    assert.deepEqual(check('I,2024-01-01 00:00:01,1,NULL,NULL\n', d).problems, []);
    assert.deepEqual(check('I,2024-01-01 00:00:01,NULL,NULL,\n', d).problems, [{ line: 1, problem: 'primary key column id is null' }]);
  });

  it('reports a wrong field count', () => {
    const c = check('I,2024-01-01 00:00:01,1,2024-01-01\nI,2024-01-01 00:00:01,1,2024-01-01,x,extra\n');
    assert.equal(c.problems.length, 2);
    assert.deepEqual(c.problems[0], { line: 1, problem: 'expected 5 fields (Op, commit_ts, id, day, note), found 4' });
    assert.equal(c.problems[1].line, 2);
    assert.match(c.problems[1].problem, /found 6$/);
  });

  it('reports a bad commit timestamp and leaves maxCommitTs unset', () => {
    const c = check('I,2024-01-01T00:00:01,1,,\nI,2024-01-01 00:00:01.1234567,2,,\n');
    assert.deepEqual(
      c.problems.map((p) => p.line),
      [1, 2],
    );
    assert.match(c.problems[0].problem, /^commit timestamp '2024-01-01T00:00:01' is not yyyy-MM-dd HH:mm:ss\[\.ffffff\]$/);
    assert.equal(c.maxCommitTs, undefined);
  });

  it('reports values that do not fit their type', () => {
    const c = check('I,2024-01-01 00:00:01,abc,2024-01-01,x\nI,2024-01-01 00:00:01,1,01/02/2024,x\n');
    assert.deepEqual(c.problems, [
      { line: 1, problem: "column id: 'abc' is not a bigint" },
      { line: 2, problem: "column day: '01/02/2024' is not a date" },
    ]);
  });

  it('checks the other types', () => {
    const d = def({
      columns: [
        { name: 'id', type: 'int' },
        { name: 'x', type: 'double' },
        { name: 'b', type: 'boolean' },
        { name: 'm', type: 'decimal(10,2)' },
        { name: 't', type: 'timestamp' },
      ],
    });
    assert.deepEqual(check('I,2024-01-01 00:00:01,-7,1.5e3,TRUE,-12.50,2024-01-01 10:00:00.123\n', d).problems, []);
    const bad = check('I,2024-01-01 00:00:01,1.5,x,yes,1e3,2024-01-01\n', d).problems.map((p) => p.problem);
    assert.deepEqual(bad, [
      "column id: '1.5' is not a int",
      "column x: 'x' is not a double",
      "column b: 'yes' is not a boolean",
      "column m: '1e3' is not a decimal(10,2)",
      "column t: '2024-01-01' is not a timestamp",
    ]);
  });

  it('checks a numeric sequence column', () => {
    const d = def({ columns: [...base.columns, { name: 'seq', type: 'bigint' }], ordering: { sequence: 'seq' } });
    assert.deepEqual(check('I,2024-01-01 00:00:01,1,,,42\n', d).problems, []);
    assert.deepEqual(check('I,2024-01-01 00:00:01,1,,,-1\n', d).problems, [
      { line: 1, problem: "sequence column seq: '-1' is not a non-negative integer" },
    ]);
  });

  it('gives true 1-based file lines, across blank lines and a quoted field containing a newline', () => {
    const text =
      ['I,2024-01-01 00:00:01,1,,"two', 'lines"', '', 'X,2024-01-01 00:00:01,2,,', 'I,2024-01-01 00:00:01,abc,,'].join('\n') + '\n';
    const c = check(text);
    assert.equal(c.rows, 3);
    // Row 2 starts on file line 4, row 3 on line 5 (line 2 is the quoted field's continuation, line 3 is blank).
    assert.deepEqual(c.problems, [
      { line: 4, problem: "unknown Op 'X' (expected I, U or D)" },
      { line: 5, problem: "column id: 'abc' is not a bigint" },
    ]);
  });

  it('handles CRLF line endings', () => {
    const c = check('I,2024-01-01 00:00:01,1,,\r\nX,2024-01-01 00:00:01,2,,\r\n');
    assert.equal(c.rows, 2);
    assert.deepEqual(
      c.problems.map((p) => p.line),
      [2],
    );
  });

  it('keeps at most 10 problems but counts every row', () => {
    const text = Array.from({ length: 15 }, (_, i) => `X,2024-01-01 00:00:01,${i + 1},,`).join('\n');
    const c = check(text);
    assert.equal(c.rows, 15);
    assert.equal(c.problems.length, 10);
    assert.deepEqual(
      c.problems.map((p) => p.line),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
  });

  it('an empty file has 0 rows and no problems', () => {
    assert.deepEqual(check(''), { uri: URI, rows: 0, problems: [] });
  });

  it('parses a quoted field containing a comma and a doubled quote', () => {
    const c = check('I,2024-01-01 00:00:01,1,2024-01-01,"a, ""b"""\n');
    assert.deepEqual(c.problems, []);
    assert.equal(c.rows, 1);
  });

  it('reports unparseable CSV as one problem with its line', () => {
    const c = check('I,2024-01-01 00:00:01,1,,\nI,2024-01-01 00:00:01,2,,"open\n');
    assert.equal(c.problems.length, 1);
    assert.equal(c.problems[0].line, 2);
    assert.match(c.problems[0].problem, /^not a CSV change file: /);
  });

  it('refuses a change older than the tombstone purge horizon (it could resurrect a purged delete), naming the line', () => {
    const text = 'U,2026-11-20 10:00:00,1,2026-11-20,late\nU,2026-11-24 10:00:00,2,2026-11-24,fresh\n';
    const late = checkChangeFile(def(), URI, text, '2026-11-21 00:00:00.000000');
    assert.deepEqual(late.problems, [
      {
        line: 1,
        problem:
          'commit time 2026-11-20 10:00:00.000000 is older than the tombstone purge horizon 2026-11-21 00:00:00.000000: it could resurrect a deleted row',
      },
    ]);
    assert.deepEqual(checkChangeFile(def(), URI, text).problems, [], 'no horizon, no purge yet: nothing is too late');
  });
});
