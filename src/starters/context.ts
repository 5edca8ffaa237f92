import { existsSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { projectDataConverter } from '../codec/converter';
import { DEFAULT_PROJECT_FILE, loadProject, type Project } from '../config/project';
import { loadRuntimeConfig } from '../config/runtime';

/**
 * The project a command works on: the file named by --config, else ./icetide.yaml when there is one, else no tables
 * and the environment's settings (enough for `worker` and for commands that need only Temporal).
 */
export async function openProject(file: string | undefined): Promise<Project> {
  if (file || existsSync(DEFAULT_PROJECT_FILE)) return loadProject(file ?? DEFAULT_PROJECT_FILE);
  return {
    file: '(no project file)',
    settings: { version: 1, modelRuns: { parallelism: 4 } },
    runtime: loadRuntimeConfig(),
    tables: [],
    models: [],
  };
}

/**
 * Runs `fn` with a Temporal client for the project's namespace, encrypting and decrypting payloads as its workers do;
 * the connection is closed after.
 */
export async function withClient<T>(project: Project, fn: (client: Client) => Promise<T>): Promise<T> {
  const { connectionOptions, namespace } = project.runtime.temporal;
  const dataConverter = projectDataConverter(project.runtime.encryption);
  const connection = await Connection.connect(connectionOptions);
  try {
    return await fn(new Client({ connection, namespace, dataConverter }));
  } finally {
    await connection.close();
  }
}

/** The Temporal UI page of a workflow run. */
export const runLink = (project: Project, workflowId: string, runId?: string): string =>
  `${project.runtime.ICETIDE_TEMPORAL_UI}/namespaces/${encodeURIComponent(project.runtime.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}${runId ? `/${runId}` : ''}`;
