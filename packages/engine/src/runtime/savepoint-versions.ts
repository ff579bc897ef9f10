import { z } from 'zod';

/**
 * The artifact versions of one app, kept in its seed (small, replicated with it): every
 * version's jar in the app's jar store, which one runs, and the one `sluice update`
 * replaced with the savepoint taken on the way (what `sluice rollback` restarts from).
 * Version 1 is what `sluice submit` uploaded (jar app.mjs); update N stores app-vN.mjs and
 * its config under the app's config id `_app.vN`.
 */
const MAX_VERSIONS = 50;
const MAX_EVENTS = 20;

const versionSchema = z.object({
  version: z.number().int().min(1),
  jar: z.string().min(1).max(128),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.number(),
});

const eventSchema = z.object({
  at: z.number(),
  kind: z.enum(['update', 'rescale', 'rollback']),
  from: z.number().int(),
  to: z.number().int(),
  savepoint: z.string().max(200),
  t: z.number(),
  /** A rollback the master made by itself (the updated version failed). */
  auto: z.boolean().optional(),
  reason: z.string().max(4000).optional(),
});

export const appVersionsSchema = z.object({
  current: z.number().int().min(1),
  /** The version the current one replaced, and the savepoint the update took of it. */
  previous: z.object({ version: z.number().int().min(1), savepoint: z.string().max(200), t: z.number() }).optional(),
  /** Roll back by itself if the current version ends `failed` (set by update, cleared by a rollback). */
  autoRollback: z.boolean().optional(),
  versions: z.array(versionSchema).max(MAX_VERSIONS),
  events: z.array(eventSchema).max(MAX_EVENTS),
});

export type AppVersions = z.infer<typeof appVersionsSchema>;
export type AppVersion = z.infer<typeof versionSchema>;
export type VersionEvent = z.infer<typeof eventSchema>;

export const FIRST_JAR = 'app.mjs';
export const jarOfVersion = (v: number): string => (v === 1 ? FIRST_JAR : `app-v${v}.mjs`);
/** Config id a version's config is kept under (the running one is also under `_app`). */
export const configIdOfVersion = (v: number): string => `_app.v${v}`;

/** The record of an app that was never updated: version 1 is what it runs. */
export function versionsOf(seed: { jar: string; sha256: string; createdAt: number; versions?: AppVersions | undefined }): AppVersions {
  return seed.versions ?? { current: 1, versions: [{ version: 1, jar: seed.jar, sha256: seed.sha256, createdAt: seed.createdAt }], events: [] };
}

export function versionEntry(v: AppVersions, version: number): AppVersion | undefined {
  return v.versions.find((x) => x.version === version);
}

/** Appends an event, keeping the newest MAX_EVENTS. */
export function withEvent(v: AppVersions, e: VersionEvent): AppVersions['events'] {
  return [...v.events, e].slice(-MAX_EVENTS);
}

/** Keeps the newest MAX_VERSIONS entries, never dropping the current or previous one. */
export function withVersion(v: AppVersions, e: AppVersion): AppVersions['versions'] {
  const all = [...v.versions, e];
  while (all.length > MAX_VERSIONS) {
    const i = all.findIndex((x) => x.version !== e.version && x.version !== v.current);
    if (i < 0) break;
    all.splice(i, 1);
  }
  return all;
}
