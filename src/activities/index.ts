import type { ActivityDeps } from './deps';
import { createDdlActivities } from './ddl';
import { createIngestActivities } from './ingest';
import { createPlanActivities } from './plan';
import { createMaintainActivities } from './maintain';
import { createModelActivities } from './models';
import { createQueryActivities } from './query';
import { createQuotaActivities } from './quota';

export { quarantineLocation } from './plan';
export type { ActivityDeps, Failpoint } from './deps';

/** Every activity icetide's workflows call; each does its I/O through the adapters in `deps`. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createQueryActivities(deps),
    ...createPlanActivities(deps),
    ...createIngestActivities(deps),
    ...createMaintainActivities(deps),
    ...createDdlActivities(deps),
    ...createQuotaActivities(deps),
    ...createModelActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
