/**
 * Columns icetide keeps in every target next to the user's columns.
 * - version: `<commit time ISO>|<sequence>|<file path>|<op rank>`, one string that sorts in change order. A change is
 *   applied only when its version is greater than the row's, so replays, duplicates and out-of-order files are no-ops.
 * - commit_ts: the commit time of the change the row reflects.
 * - deleted: the row is a tombstone (tombstone delete mode): key and version only, hidden by the `_current` view.
 */
export const VERSION_COLUMN = '_icetide_version';
export const COMMIT_TS_COLUMN = '_icetide_commit_ts';
export const DELETED_COLUMN = '_icetide_deleted';
/** The change's operation inside the MERGE's source (not stored). */
export const OP_COLUMN = '_icetide_op';
/** The file columns every DMS change file starts with: Op, then the commit timestamp. */
export const FILE_OP_COLUMN = 'op';
/** Inside the MERGE's source: the change file a change came from, and its position within the format's order. */
export const PATH_COLUMN = '_icetide_path';
export const SEQUENCE_COLUMN = '_icetide_sequence';
/** Inside the MERGE's source: the change is an initial copy of the row (a DMS full-load row, a Debezium snapshot read). */
export const INITIAL_COLUMN = '_icetide_initial';
