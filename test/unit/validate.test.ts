import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import { parseTableDefinition, type TableDefinitionInput } from '../../src/config/schema';
import { checkChangeFile } from '../../src/formats/registry';
import { shopOrders } from './fixtures';

const base = shopOrders({ name: 'day', type: 'date' }, { name: 'note', type: 'string' });
const def = (over: Partial<TableDefinitionInput> = {}) => parseTableDefinition({ ...base, ...over });
const URI = 's3://bucket/cdc/orders/f.csv';
const check = (text: string, d = def()) => checkChangeFile(d, URI, text);

describe('checkChangeFile', () => {
  it('counts rows of a good file and keeps the newest commit time, normalized to 6 digits', async () => {
    const c = await check(
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
    assert.equal((await check('I,2024-01-01 00:00:01.5,1,2024-01-01,x\n')).maxCommitTs, '2024-01-01 00:00:01.500000');
  });

  it('keeps the range of an integer first key column, comparing as numbers', async () => {
    const c = await check('I,2024-01-01 00:00:01,9,,\nI,2024-01-01 00:00:01,10,,\nI,2024-01-01 00:00:01,-3,,\n');
    assert.deepEqual(c.keyRange, { column: 'id', min: '-3', max: '10' });
  });

  it('compares commit times after normalizing (".5" is later than ".499999")', async () => {
    const c = await check('I,2024-01-01 00:00:01.5,1,,\nI,2024-01-01 00:00:01.499999,2,,\n');
    assert.equal(c.maxCommitTs, '2024-01-01 00:00:01.500000');
  });

  it('reports an unknown Op with its line', async () => {
    const c = await check('I,2024-01-01 00:00:01,1,,\nX,2024-01-01 00:00:01,2,,\n');
    assert.deepEqual(c.problems, [{ line: 2, problem: 'Op is not I, U or D' }]);
    assert.equal(c.rows, 2);
  });

  it('reports a null primary key (empty field with the default null value)', async () => {
    const c = await check('I,2024-01-01 00:00:01,,2024-01-01,x\n');
    assert.deepEqual(c.problems, [{ line: 1, problem: 'primary key column id is null' }]);
  });

  it('honours a custom null value', async () => {
    const d = def({ staging: { location: 's3://bucket/cdc/orders/', nullValue: 'NULL' } });
    assert.deepEqual((await check('I,2024-01-01 00:00:01,1,NULL,NULL\n', d)).problems, []);
    assert.deepEqual((await check('I,2024-01-01 00:00:01,NULL,NULL,\n', d)).problems, [
      { line: 1, problem: 'primary key column id is null' },
    ]);
  });

  it('reports a wrong field count', async () => {
    const c = await check('I,2024-01-01 00:00:01,1,2024-01-01\nI,2024-01-01 00:00:01,1,2024-01-01,x,extra\n');
    assert.equal(c.problems.length, 2);
    assert.deepEqual(c.problems[0], { line: 1, problem: 'expected 5 fields (Op, commit_ts, id, day, note), found 4' });
    assert.equal(c.problems[1].line, 2);
    assert.equal(
      c.problems[1].problem,
      'found 6 fields, the definition has 5 (Op, commit_ts, id, day, note): the source has gained a column; add it last to columns with added: true, run apply, then merge again',
    );
  });

  it('takes files of the old width while added columns are new to the source, reading them as NULL', async () => {
    const widened = def({
      columns: [...base.columns, { name: 'email', type: 'string', added: true }, { name: 'age', type: 'int', added: true }],
    });
    const c = await check(
      'I,2024-01-01 00:00:01,1,2024-01-01,x\nI,2024-01-01 00:00:01,2,2024-01-01,x,a@b\nI,2024-01-01 00:00:01,3,2024-01-01,x,a@b,x\nI,2024-01-01 00:00:01,4,2024-01-01\n',
      widened,
    );
    assert.deepEqual(c.problems, [
      { line: 3, problem: 'column age: not an int' },
      { line: 4, problem: 'expected 5 to 7 fields (Op, commit_ts, id, day, note, email, age), found 4' },
    ]);
    assert.throws(
      () => def({ columns: [...base.columns, { name: 'email', type: 'string', added: true }, { name: 'age', type: 'int' }] }),
      /added columns come last/,
    );
  });

  it('reports a bad commit timestamp and leaves maxCommitTs unset', async () => {
    const c = await check('I,2024-01-01T00:00:01,1,,\nI,2024-01-01 00:00:01.1234567,2,,\n');
    assert.deepEqual(
      c.problems.map((p) => p.line),
      [1, 2],
    );
    assert.match(c.problems[0].problem, /^commit timestamp is not yyyy-MM-dd HH:mm:ss\[\.ffffff\]$/);
    assert.equal(c.maxCommitTs, undefined);
  });

  it('reports values that do not fit their type', async () => {
    const c = await check('I,2024-01-01 00:00:01,abc,2024-01-01,x\nI,2024-01-01 00:00:01,1,01/02/2024,x\n');
    assert.deepEqual(c.problems, [
      { line: 1, problem: 'column id: not a bigint' },
      { line: 2, problem: 'column day: not a date' },
    ]);
  });

  it('checks the other types', async () => {
    const d = def({
      columns: [
        { name: 'id', type: 'int' },
        { name: 'x', type: 'double' },
        { name: 'b', type: 'boolean' },
        { name: 'm', type: 'decimal(10,2)' },
        { name: 't', type: 'timestamp' },
      ],
    });
    assert.deepEqual((await check('I,2024-01-01 00:00:01,-7,1.5e3,TRUE,-12.50,2024-01-01 10:00:00.123\n', d)).problems, []);
    const bad = (await check('I,2024-01-01 00:00:01,1.5,x,yes,1e3,2024-01-01\n', d)).problems.map((p) => p.problem);
    assert.deepEqual(bad, [
      'column id: not an int',
      'column x: not a double',
      'column b: not a boolean',
      'column m: not a decimal(10,2)',
      'column t: not a timestamp',
    ]);
  });

  it('checks a numeric sequence column', async () => {
    const d = def({ columns: [...base.columns, { name: 'seq', type: 'bigint' }], ordering: { sequence: 'seq' } });
    assert.deepEqual((await check('I,2024-01-01 00:00:01,1,,,42\n', d)).problems, []);
    assert.deepEqual((await check('I,2024-01-01 00:00:01,1,,,-1\n', d)).problems, [
      { line: 1, problem: 'sequence column seq is not a non-negative integer' },
    ]);
  });

  it('gives true 1-based file lines, across blank lines and a quoted field containing a newline', async () => {
    const text =
      ['I,2024-01-01 00:00:01,1,,"two', 'lines"', '', 'X,2024-01-01 00:00:01,2,,', 'I,2024-01-01 00:00:01,abc,,'].join('\n') + '\n';
    const c = await check(text);
    assert.equal(c.rows, 3);
    // Row 2 starts on file line 4, row 3 on line 5 (line 2 is the quoted field's continuation, line 3 is blank).
    assert.deepEqual(c.problems, [
      { line: 4, problem: 'Op is not I, U or D' },
      { line: 5, problem: 'column id: not a bigint' },
    ]);
  });

  it('handles CRLF line endings', async () => {
    const c = await check('I,2024-01-01 00:00:01,1,,\r\nX,2024-01-01 00:00:01,2,,\r\n');
    assert.equal(c.rows, 2);
    assert.deepEqual(
      c.problems.map((p) => p.line),
      [2],
    );
  });

  it('keeps at most 10 problems but counts every row', async () => {
    const text = Array.from({ length: 15 }, (_, i) => `X,2024-01-01 00:00:01,${i + 1},,`).join('\n');
    const c = await check(text);
    assert.equal(c.rows, 15);
    assert.equal(c.problems.length, 10);
    assert.deepEqual(
      c.problems.map((p) => p.line),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
  });

  it('an empty file has 0 rows and no problems', async () => {
    assert.deepEqual(await check(''), { uri: URI, rows: 0, problems: [] });
  });

  it('parses a quoted field containing a comma and a doubled quote', async () => {
    const c = await check('I,2024-01-01 00:00:01,1,2024-01-01,"a, ""b"""\n');
    assert.deepEqual(c.problems, []);
    assert.equal(c.rows, 1);
  });

  it('reports unparseable CSV as one problem with its line', async () => {
    const c = await check('I,2024-01-01 00:00:01,1,,\nI,2024-01-01 00:00:01,2,,"open\n');
    assert.equal(c.problems.length, 1);
    assert.equal(c.problems[0].line, 2);
    assert.match(c.problems[0].problem, /^not a CSV change file \(CSV_[A-Z_]+\)$/);
  });

  it('refuses a change older than the tombstone purge horizon (it could resurrect a purged delete), naming the line', async () => {
    const text = 'U,2026-11-20 10:00:00,1,2026-11-20,late\nU,2026-11-24 10:00:00,2,2026-11-24,fresh\n';
    const late = await checkChangeFile(def(), URI, text, { purgedThrough: '2026-11-21 00:00:00.000000' });
    assert.deepEqual(late.problems, [
      {
        line: 1,
        problem:
          'commit time 2026-11-20 10:00:00.000000 is older than the tombstone purge horizon 2026-11-21 00:00:00.000000: it could resurrect a deleted row',
      },
    ]);
    assert.deepEqual((await checkChangeFile(def(), URI, text)).problems, [], 'no horizon, no purge yet: nothing is too late');
  });

  it('refuses a commit time beyond the worker clock plus limits.maxClockSkew, naming the line and never the value', async () => {
    const text = 'U,2026-11-21 10:59:59.999999,1,2026-11-20,within\nU,2026-11-21 11:00:00.000001,2,2026-11-24,beyond\n';
    const latestCommitTs = { at: '2026-11-21 11:00:00.000000', skew: '1h' };
    const ahead = await checkChangeFile(def(), URI, text, { latestCommitTs });
    assert.deepEqual(ahead.problems, [
      {
        line: 2,
        problem:
          "commit time more than 1h (limits.maxClockSkew) ahead of the worker's clock: a forged or corrupt record would win against every later change of its key",
      },
    ]);
  });

  it('streams: a gzipped file checks like its text; corrupt gzip is a problem of the file; a broken transport is thrown', async () => {
    const text = 'I,2024-01-01 00:00:01,1,2024-01-01,x\nU,2024-01-01 00:00:02,1,2024-01-01,y\n';
    const gunzipped = (bytes: Buffer) => Readable.from([bytes]).pipe(createGunzip());
    assert.deepEqual(await checkChangeFile(def(), URI, gunzipped(gzipSync(text))), await check(text));
    const corrupt = await checkChangeFile(def(), URI, gunzipped(Buffer.from('not gzip at all')));
    assert.match(corrupt.problems[0].problem, /^not a CSV change file \(Z_DATA_ERROR\)$/);
    const broken = new Readable({
      read() {
        this.push('I,2024-01-01 00:00:01,1,2024-01-01,x\n');
        this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      },
    });
    await assert.rejects(checkChangeFile(def(), URI, broken), /socket hang up/);
  });

  it('reports progress while reading a large file, so the activity can heartbeat through it', async () => {
    const text = 'I,2024-01-01 00:00:01,1,2024-01-01,x\n'.repeat(25_000);
    let calls = 0;
    const c = await checkChangeFile(def(), URI, text, { onProgress: () => calls++ });
    assert.equal(c.rows, 25_000);
    assert.equal(calls, 2);
  });
});

describe('checkChangeFile (DMS CSV) on a stream: problems are located by a second read', () => {
  const base2 = shopOrders({ name: 'note', type: 'string' });
  const d = parseTableDefinition(base2);
  const text = 'I,2024-01-01 00:00:01,1,"two\nlines"\n\nI,2024-01-01 00:00:01,x,ok\n';
  it('with a way to open the file again, each problem names the line its record starts on', async () => {
    const c = await checkChangeFile(d, URI, Readable.from([text]), { open: async () => Readable.from([text]) });
    assert.deepEqual(c.problems, [{ line: 4, problem: 'column id: not a bigint' }]);
  });
  it('without one, it keeps the record number', async () => {
    const c = await checkChangeFile(d, URI, Readable.from([text]));
    assert.deepEqual(c.problems, [{ line: 2, problem: 'column id: not a bigint' }]);
  });
});
