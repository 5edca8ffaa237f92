import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

/** What the project file may say about Temporal; the environment and the Temporal CLI's profiles say it first. */
export interface TemporalSettings {
  address?: string;
  namespace?: string;
  profile?: string;
}

export interface TemporalTarget {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
}

/**
 * Where to connect, the standard way (@temporalio/envconfig): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
 * TEMPORAL_TLS_* and the profiles of the `temporal` CLI's config file, so a worker reaches Temporal Cloud by
 * environment alone. The project file's values fill what those leave open; then the local dev server.
 */
export function temporalTarget(settings: TemporalSettings = {}, env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const overrideEnvVars = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const profile = loadClientConfigProfile({ profile: settings.profile, overrideEnvVars });
  const { connectionOptions, namespace } = toClientOptions({
    ...profile,
    address: profile.address ?? settings.address ?? '127.0.0.1:7233',
    namespace: profile.namespace ?? settings.namespace ?? 'default',
  });
  return { connectionOptions, namespace: namespace ?? 'default' };
}
