import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Project } from '../config/project';
import type { TableDefinition } from '../config/schema';
import { isObject } from '../config/json';
import { ingestScheduleId, maintainScheduleId, tableName, type TableChanges } from '../shared';
import { msToNumber } from '@temporalio/common/lib/time';
import { durationMillis } from '../config/duration';
import type { RunModelsInput } from '../workflows/models';
import { describeModel, modelRunInput } from './models';
import { applyIngestSchedule, applyMaintainSchedule, applyModelsSchedule, findSchedule } from './schedule';

/**
 * `icetide plan` / `apply`: the difference between the project file and what exists (tables on the engine, Schedules
 * in Temporal), and making it so. Schedules icetide owns are those with its id prefixes on the project's task queue;
 * a table gone from the file loses its schedules, never its data.
 */
export type PlannedChange =
  | { action: 'create-table' | 'alter-table'; table: string; statements: string[] }
  | { action: 'create-schedule'; table?: string; scheduleId: string }
  | { action: 'update-schedule'; table?: string; scheduleId: string; differences: string[] }
  | { action: 'remove-schedule'; scheduleId: string };

export interface ProjectPlan {
  changes: PlannedChange[];
  upToDate: string[];
  /** Every model, templates expanded, in build order (describeModel). */
  models: string[];
}

const OWNED_PREFIXES = ['icetide:ingest:', 'icetide:maintain:', 'icetide:models:'];

/** The schedule of the project's models (one per task queue). */
export const modelsScheduleId = (taskQueue: string): string => `icetide:models:${taskQueue}`;

/** The arguments of the models schedule: every model, the alert link pointing at the schedule. */
const scheduledModels = (project: Project): RunModelsInput => {
  const scheduleId = modelsScheduleId(project.runtime.ICETIDE_TASK_QUEUE);
  const link = `${project.runtime.ICETIDE_TEMPORAL_UI}/namespaces/${encodeURIComponent(project.runtime.temporal.namespace)}/schedules/${encodeURIComponent(scheduleId)}`;
  return modelRunInput(project, project.models, link);
};

export async function planProject(client: Client, project: Project): Promise<ProjectPlan> {
  const taskQueue = project.runtime.ICETIDE_TASK_QUEUE;
  if (project.tables.length) await requireWorker(client, taskQueue);
  const changes: PlannedChange[] = [];
  const upToDate: string[] = [];
  const wanted = new Set<string>();
  for (const def of project.tables) {
    const name = tableName(def);
    const before = changes.length;
    const table: TableChanges = await client.workflow.execute('planTable', {
      taskQueue,
      workflowId: `icetide:plan:${name}:${randomUUID()}`,
      args: [def],
    });
    if (table.statements.length)
      changes.push({ action: table.exists ? 'alter-table' : 'create-table', table: name, statements: table.statements });
    for (const scheduleId of [ingestScheduleId(def), maintainScheduleId(def)]) {
      wanted.add(scheduleId);
      const existing = await scheduledDefinition(client, scheduleId);
      if (!existing) changes.push({ action: 'create-schedule', table: name, scheduleId });
      else {
        const differences = differencesOf(existing.table, def, '');
        if (existing.taskQueue !== taskQueue) differences.push(`task queue: ${existing.taskQueue} → ${taskQueue}`);
        if (differences.length) changes.push({ action: 'update-schedule', table: name, scheduleId, differences });
      }
    }
    if (changes.length === before) upToDate.push(name);
  }
  const { every } = project.settings.modelRuns;
  if (every && project.models.length) {
    const scheduleId = modelsScheduleId(taskQueue);
    wanted.add(scheduleId);
    const existing = await findSchedule(client, scheduleId);
    if (!existing) changes.push({ action: 'create-schedule', scheduleId });
    else {
      const [input] = existing.action.args as [unknown];
      const differences = differencesOf(input, scheduledModels(project), '');
      const spec = existing.spec.intervals?.[0]?.every;
      if (durationMillis(every) !== (spec === undefined ? undefined : msToNumber(spec))) differences.push(`every: → ${every}`);
      if (differences.length) changes.push({ action: 'update-schedule', scheduleId, differences });
    }
  }
  for await (const summary of client.schedule.list()) {
    const { scheduleId } = summary;
    if (wanted.has(scheduleId) || !OWNED_PREFIXES.some((prefix) => scheduleId.startsWith(prefix))) continue;
    if ((await scheduledDefinition(client, scheduleId))?.taskQueue === taskQueue) changes.push({ action: 'remove-schedule', scheduleId });
  }
  return { changes, upToDate, models: project.models.map((model) => describeModel(model, project)) };
}

/** Carries out a plan: tables first, so that no schedule fires before its table exists. */
export async function applyPlan(client: Client, project: Project, plan: ProjectPlan, report: (line: string) => void): Promise<void> {
  const taskQueue = project.runtime.ICETIDE_TASK_QUEUE;
  const byName = new Map(project.tables.map((def) => [tableName(def), def]));
  const definition = (name: string): TableDefinition => byName.get(name) as TableDefinition;
  for (const change of plan.changes) {
    if (change.action !== 'create-table' && change.action !== 'alter-table') continue;
    await client.workflow.execute('ensureTable', {
      taskQueue,
      workflowId: `icetide:ddl:${change.table}`,
      args: [definition(change.table)],
    });
    report(`${change.action === 'create-table' ? 'created' : 'altered'} table ${change.table}`);
  }
  for (const change of plan.changes) {
    if ((change.action === 'create-schedule' || change.action === 'update-schedule') && !change.table) {
      await applyModelsSchedule(client, change.scheduleId, scheduledModels(project), project.settings.modelRuns.every!, taskQueue);
      report(`${change.action === 'create-schedule' ? 'created' : 'updated'} schedule ${change.scheduleId}`);
    } else if (change.action === 'create-schedule' || change.action === 'update-schedule') {
      const def = definition(change.table!);
      await (change.scheduleId === ingestScheduleId(def) ? applyIngestSchedule : applyMaintainSchedule)(client, def, taskQueue);
      report(`${change.action === 'create-schedule' ? 'created' : 'updated'} schedule ${change.scheduleId}`);
    } else if (change.action === 'remove-schedule') {
      await client.schedule.getHandle(change.scheduleId).delete();
      report(`removed schedule ${change.scheduleId} (the table and its data are kept)`);
    }
  }
}

/** The plan as a reader scans it: + create, ~ update, - remove, with each table's DDL indented under it. */
export function describePlan(plan: ProjectPlan): string[] {
  const lines: string[] = [];
  for (const change of plan.changes) {
    switch (change.action) {
      case 'create-table':
      case 'alter-table':
        lines.push(`${change.action === 'create-table' ? '+ create' : '~ alter'} table ${change.table}:`);
        lines.push(...change.statements.map((sql) => `    ${sql}`));
        break;
      case 'create-schedule':
        lines.push(`+ create schedule ${change.scheduleId}`);
        break;
      case 'update-schedule':
        lines.push(`~ update schedule ${change.scheduleId}: ${change.differences.join('; ')}`);
        break;
      case 'remove-schedule':
        lines.push(`- remove schedule ${change.scheduleId} (its table and data are kept)`);
        break;
    }
  }
  for (const name of plan.upToDate) lines.push(`= ${name} is up to date`);
  for (const model of plan.models) lines.push(`  model ${model}`);
  return lines;
}

/** A worker started a moment ago (the demo's, one in another shell) may not have polled yet: give it this long. */
const FIRST_POLL_WAIT_MS = 5_000;

async function requireWorker(client: Client, taskQueue: string): Promise<void> {
  const deadline = Date.now() + FIRST_POLL_WAIT_MS;
  for (;;) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: 1, // workflow tasks
    });
    if (pollers?.length) return;
    if (Date.now() >= deadline)
      throw new Error(
        `no worker polls task queue ${taskQueue}, and tables are read and changed through one: ` +
          `start it in another shell with \`npx icetide worker\` (same settings and project file), then run this again`,
      );
    await delay(250);
  }
}

/** The table definition and task queue a schedule of icetide's runs with, or undefined when there is no such schedule. */
async function scheduledDefinition(client: Client, scheduleId: string): Promise<{ table: unknown; taskQueue: string } | undefined> {
  const schedule = await findSchedule(client, scheduleId);
  if (!schedule) return undefined;
  const [input] = schedule.action.args as [{ table?: unknown } | undefined];
  return { table: input?.table, taskQueue: schedule.action.taskQueue };
}

/** `key.path: old → new` for every value that differs between a scheduled definition and the file's. */
function differencesOf(before: unknown, after: unknown, path: string): string[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => differencesOf(before[key], after[key], path ? `${path}.${key}` : key));
  }
  const text = (v: unknown) => (v === undefined ? '(none)' : JSON.stringify(v));
  return text(before) === text(after) ? [] : [`${path || 'definition'}: ${text(before)} → ${text(after)}`];
}
