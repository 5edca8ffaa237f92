import assert from 'node:assert/strict';
import { comparePosition, isChangeFile, selectBatch, settleWindow, type BatchBounds } from '../../src/changes/select';
import { debeziumJson } from '../../src/formats/debezium-json';
import { dmsCsv } from '../../src/formats/dms-csv';
import type { StagedFile } from '../../src/storage/staging';

const P = 's3://bucket/cdc/orders/';
const f = (name: string, lastModified: number, size = 100): StagedFile => ({ uri: P + name, size, lastModified });
const wide: BatchBounds = { location: P, format: dmsCsv, cutoff: 1_000, maxFiles: 100, maxBytes: 1e9, maxListBytes: 1e6 };
const names = (files: StagedFile[]) => files.map((x) => x.uri.slice(P.length));

describe('selectBatch', () => {
  it('takes the oldest first by (lastModified, uri)', () => {
    const listing = [f('c.csv', 30), f('b.csv', 10), f('z.csv', 20), f('a.csv', 10)];
    const sel = selectBatch(listing, wide);
    assert.deepEqual(names(sel.files), ['a.csv', 'b.csv', 'z.csv', 'c.csv']);
    assert.equal(sel.deferred, 0);
    assert.deepEqual(sel.ignored, []);
  });

  it('excludes files newer than the cutoff (a file at the cutoff is taken)', () => {
    const sel = selectBatch([f('a.csv', 10), f('b.csv', 50), f('c.csv', 51)], { ...wide, cutoff: 50 });
    assert.deepEqual(names(sel.files), ['a.csv', 'b.csv']);
    assert.equal(sel.deferred, 1);
  });

  it('ignores objects that are not .csv / .csv.gz and never selects them', () => {
    const listing = [f('a.csv', 1), f('b.csv.gz', 2), f('c.parquet', 0), f('d.csv.tmp', 0), f('_SUCCESS', 0), f('e.CSV', 0)];
    const sel = selectBatch(listing, wide);
    assert.deepEqual(names(sel.files), ['a.csv', 'b.csv.gz']);
    assert.deepEqual(sel.ignored, [P + 'c.parquet', P + 'd.csv.tmp', P + '_SUCCESS', P + 'e.CSV']);
    assert.equal(sel.deferred, 0);
    assert.equal(isChangeFile(P + 'x.csv.gz', P, dmsCsv), true);
    assert.equal(isChangeFile(P + 'x.csv.gz.part', P, dmsCsv), false);
  });

  it("takes the names of the table's format: JSON lines for Debezium and DynamoDB", () => {
    const listing = [f('a.json', 1), f('b.jsonl.gz', 2), f('c.ndjson', 3), f('d.csv', 4), f('manifest-summary.json.tmp', 5)];
    const sel = selectBatch(listing, { ...wide, format: debeziumJson });
    assert.deepEqual(names(sel.files), ['a.json', 'b.jsonl.gz', 'c.ndjson']);
    assert.deepEqual(sel.ignored, [P + 'd.csv', P + 'manifest-summary.json.tmp']);
  });

  it('leaves alone names the engines hide (a leading _ or . in a file or folder under staging)', () => {
    const listing = [f('_a.csv', 1), f('.b.csv', 2), f('2026/_tmp/c.csv', 3), f('2026/.d/e.csv', 4), f('2026/11/f_g.csv', 5)];
    const sel = selectBatch(listing, wide);
    assert.deepEqual(names(sel.files), ['2026/11/f_g.csv']);
    assert.deepEqual(sel.ignored.length, 4);
    // Only what lies under staging counts: a prefix such as s3://b/_raw/ is the table's own location.
    assert.equal(isChangeFile('s3://b/_raw/orders/x.csv', 's3://b/_raw/orders/', dmsCsv), true);
    assert.equal(isChangeFile('s3://b/other/x.csv', P, dmsCsv), false);
  });

  it('maxFiles cuts the batch', () => {
    const sel = selectBatch([f('a.csv', 1), f('b.csv', 2), f('c.csv', 3), f('d.csv', 4)], { ...wide, maxFiles: 3 });
    assert.deepEqual(names(sel.files), ['a.csv', 'b.csv', 'c.csv']);
    assert.equal(sel.deferred, 1);
  });

  it('maxBytes cuts the batch (a batch can be exactly maxBytes), and stops at the first file that does not fit', () => {
    const listing = [f('a.csv', 1, 40), f('b.csv', 2, 60), f('c.csv', 3, 1), f('d.csv', 4, 1)];
    assert.deepEqual(names(selectBatch(listing, { ...wide, maxBytes: 100 }).files), ['a.csv', 'b.csv']);
    const sel = selectBatch(listing, { ...wide, maxBytes: 99 });
    assert.deepEqual(names(sel.files), ['a.csv'], 'no skipping ahead to smaller, newer files');
    assert.equal(sel.deferred, 3);
  });

  it('a single file larger than maxBytes forms a batch alone', () => {
    const sel = selectBatch([f('big.csv', 1, 10_000), f('small.csv', 2, 1)], { ...wide, maxBytes: 100 });
    assert.deepEqual(names(sel.files), ['big.csv']);
    assert.equal(sel.deferred, 1);
  });

  it('maxListBytes cuts the batch by the length of the quoted file list', () => {
    const listing = [f('a.csv', 1), f('b.csv', 2), f('c.csv', 3)];
    const entry = Buffer.byteLength(P + 'a.csv') + 4;
    assert.deepEqual(names(selectBatch(listing, { ...wide, maxListBytes: 2 * entry }).files), ['a.csv', 'b.csv']);
    assert.deepEqual(names(selectBatch(listing, { ...wide, maxListBytes: 2 * entry - 1 }).files), ['a.csv']);
    assert.deepEqual(names(selectBatch(listing, { ...wide, maxListBytes: 1 }).files), ['a.csv'], 'never an empty batch');
  });

  it('after: excludes files at or before the position, ties on lastModified broken by uri', () => {
    const listing = [f('a.csv', 10), f('b.csv', 10), f('c.csv', 10), f('d.csv', 5), f('e.csv', 11)];
    const sel = selectBatch(listing, { ...wide, after: { lastModified: 10, uri: P + 'b.csv' } });
    assert.deepEqual(names(sel.files), ['c.csv', 'e.csv']);
    assert.equal(comparePosition({ lastModified: 10, uri: 'a' }, { lastModified: 10, uri: 'b' }) < 0, true);
    assert.equal(comparePosition({ lastModified: 9, uri: 'z' }, { lastModified: 10, uri: 'a' }) < 0, true);
    assert.equal(comparePosition({ lastModified: 10, uri: 'a' }, { lastModified: 10, uri: 'a' }), 0);
  });

  it('key order (retain mode, names sort by arrival): after the position by name, never past a file still landing', () => {
    const listing = [
      f('2026/01/b.csv', 30),
      f('2026/01/a.csv', 40),
      f('2026/01/c.csv', 10),
      f('2026/02/d.csv', 5_000),
      f('2026/02/e.csv', 5),
    ];
    const bounds = { ...wide, order: 'key' as const, after: { lastModified: 40, uri: P + '2026/01/a.csv' } };
    const sel = selectBatch(listing, bounds);
    assert.deepEqual(names(sel.files), ['2026/01/b.csv', '2026/01/c.csv'], 'e.csv waits behind d.csv, which is too new');
    assert.equal(sel.deferred, 2);
    assert.equal(comparePosition({ lastModified: 99, uri: 'a' }, { lastModified: 1, uri: 'b' }, 'key') < 0, true);
  });

  it('deferred counts change files not taken (cutoff and bounds), never ignored objects', () => {
    const listing = [f('a.csv', 1), f('b.csv', 2), f('c.csv', 3), f('new.csv', 5_000), f('x.json', 1)];
    const sel = selectBatch(listing, { ...wide, maxFiles: 2 });
    assert.deepEqual(names(sel.files), ['a.csv', 'b.csv']);
    assert.equal(sel.deferred, 2);
    assert.equal(sel.ignored.length, 1);
  });

  it('an empty listing, or nothing old enough, selects nothing', () => {
    assert.deepEqual(selectBatch([], wide), { files: [], deferred: 0, ignored: [] });
    const sel = selectBatch([f('a.csv', 2_000)], wide);
    assert.deepEqual(sel.files, []);
    assert.equal(sel.deferred, 1);
  });

  it('arrival order with a settle window: a multipart file landing behind the position is taken, once, and the window moves on', () => {
    const arrival: BatchBounds = { ...wide, format: debeziumJson, order: 'arrival', cutoff: 1_000 };
    const settle = 100;
    // A small file put at 20 is taken first; a multipart upload started at 10 is not visible yet.
    const small = f('small.json', 20);
    const first = selectBatch([small], arrival);
    const window1 = settleWindow([small], first.files, arrival, settle)!;
    assert.deepEqual(window1, { from: { lastModified: -80, uri: '' }, names: [small.uri] });
    // The multipart upload completes: its LastModified (10, when it started) lies behind the position (20).
    const big = f('big.json', 10);
    const afterSmall = { ...arrival, after: { lastModified: 20, uri: small.uri } };
    assert.deepEqual(names(selectBatch([small, big], afterSmall).files), [], 'a position alone passes it for good');
    const second = selectBatch([small, big], { ...afterSmall, recent: window1 });
    assert.deepEqual(names(second.files), ['big.json']);
    const window2 = settleWindow([small, big], second.files, { ...afterSmall, recent: window1 }, settle)!;
    assert.deepEqual(window2, { from: window1.from, names: [big.uri, small.uri] });
    // Nothing is taken twice.
    assert.deepEqual(selectBatch([small, big], { ...afterSmall, recent: window2 }).files, []);
    // A file a whole window later moves the window on: what lies before its start is dropped from the names.
    const later = f('later.json', 500);
    const third = selectBatch([small, big, later], { ...afterSmall, recent: window2 });
    assert.deepEqual(names(third.files), ['later.json']);
    assert.deepEqual(settleWindow([small, big, later], third.files, { ...afterSmall, recent: window2 }, settle), {
      from: { lastModified: 400, uri: '' },
      names: [later.uri],
    });
    // A watermark from before the settle window: it starts at the position, so nothing taken before is taken again.
    assert.deepEqual(settleWindow([small, big], [], afterSmall, settle), { from: afterSmall.after, names: [] });
  });
});
