import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadProject } from '../../src/config/project';
import { iamPolicy, type IamPolicy } from '../../src/starters/iam-policy';

/** IAM's own matching (the reference): `*` any run of characters, `?` one; StringLike on a request key, ForAnyValue:StringEquals. */
const glob = (pattern: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );

function allows(policy: IamPolicy, action: string, resource: string, context: Record<string, string | string[]> = {}): boolean {
  return policy.Statement.some(({ Action, Resource, Condition }) => {
    if (!Action.includes(action) || !Resource.some((r) => glob(r).test(resource))) return false;
    return Object.entries(Condition ?? {}).every(([operator, keys]) =>
      Object.entries(keys).every(([key, values]) => {
        const given = ([] as string[]).concat(context[key] ?? []);
        if (operator === 'StringLike') return given.length === 1 && values.some((v) => glob(v).test(given[0]));
        if (operator === 'ForAnyValue:StringEquals') return given.some((g) => values.includes(g));
        throw new Error(`the reference does not know ${operator}`);
      }),
    );
  });
}

const example = (file: string) => loadProject(join(__dirname, '../../examples', file), {});

describe('icetide iam-policy (from the project examples)', () => {
  it('Trino (examples/icetide.yaml): S3 on the staging and quarantine prefixes only; no Athena, Glue or KMS', async () => {
    const policy = iamPolicy(await example('icetide.yaml'));
    const object = (key: string) => `arn:aws:s3:::icetide-staging/${key}`;
    for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']) {
      assert.ok(allows(policy, action, object('dms/shop/orders/2026/12/01/20261201-120000000.csv')), action);
      assert.ok(allows(policy, action, object('dms/shop/orders__quarantine/a.csv')), `${action} in quarantine`);
      assert.ok(!allows(policy, action, object('dms/shop/orders_other/a.csv')), `${action} beside the prefix`);
      assert.ok(!allows(policy, action, object('dms/shop/customers/a.csv')), `${action} on another table`);
    }
    const list = (prefix: string) => allows(policy, 's3:ListBucket', 'arn:aws:s3:::icetide-staging', { 's3:prefix': prefix });
    assert.ok(list('dms/shop/orders/') && list('dms/shop/orders__quarantine/'));
    assert.ok(!list('dms/shop/') && !list('') && !allows(policy, 's3:ListBucket', 'arn:aws:s3:::icetide-staging'), 'no listing above it');
    // The warehouse is Trino's to write, with its own credentials.
    assert.deepEqual(
      policy.Statement.flatMap((s) => s.Action).filter((a) => !a.startsWith('s3:')),
      [],
    );
  });

  it('Athena (examples/athena.yaml): its prefixes, workgroup, Glue databases and KMS keys, the retired key decrypt-only', async () => {
    const policy = iamPolicy(await example('athena.yaml'), { account: '123456789012' });
    const granted = (bucket: string, key: string) =>
      ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'].every((a) => allows(policy, a, `arn:aws:s3:::${bucket}/${key}`));
    assert.ok(granted('acme-dms', 'shop/orders/f.csv'), 'staging');
    assert.ok(granted('acme-dms', 'shop/orders__quarantine/f.csv'), 'quarantine (badInput: quarantine from the defaults)');
    assert.ok(!granted('acme-dms', 'crm/customers__quarantine/f.csv'), 'no quarantine for a table that fails on bad input');
    assert.ok(granted('acme-dms-archive', 'shop/orders/2026/f.csv'), 'archive');
    assert.ok(
      granted('acme-lake', 'warehouse/shop/orders/data/f.parquet') && granted('acme-lake', 'models/daily_revenue/f.parquet'),
      'warehouse',
    );
    assert.ok(granted('acme-athena-results', 'icetide/q.csv'), 'query results');
    assert.ok(!granted('acme-lake', 'warehouse/other/t/f.parquet') && !granted('acme-dms', 'other/f.csv'));
    assert.ok(!granted('acme-lake', 'models-private/f.parquet'), 'a location without its slash is still a folder');

    const arn = (service: string, resource: string) => `arn:aws:${service}:eu-west-1:123456789012:${resource}`;
    assert.ok(allows(policy, 'athena:StartQueryExecution', arn('athena', 'workgroup/icetide')));
    assert.ok(!allows(policy, 'athena:StartQueryExecution', arn('athena', 'workgroup/primary')));
    for (const db of ['shop', 'crm', 'analytics']) {
      assert.ok(allows(policy, 'glue:GetDatabase', arn('glue', `database/${db}`)), db);
      assert.ok(allows(policy, 'glue:UpdateTable', arn('glue', `table/${db}/orders`)), db);
    }
    assert.ok(!allows(policy, 'glue:GetTable', arn('glue', 'table/finance/ledger')));

    const current = arn('kms', 'key/11111111-2222-3333-4444-555555555555');
    const retired = arn('kms', 'key/0b8c6e1a-5f2d-4c3b-9a7e-1d2c3b4a5f6e');
    const viaAlias = { 'kms:ResourceAliases': ['alias/icetide-payloads'] };
    assert.ok(
      allows(policy, 'kms:GenerateDataKey', current, viaAlias) && allows(policy, 'kms:Decrypt', current, viaAlias),
      'the key behind the alias',
    );
    assert.ok(!allows(policy, 'kms:GenerateDataKey', current), 'not a key without that alias');
    assert.ok(allows(policy, 'kms:Decrypt', retired) && !allows(policy, 'kms:GenerateDataKey', retired), 'the retired key only decrypts');
  });
});
