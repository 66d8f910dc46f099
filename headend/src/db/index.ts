/**
 * The head-end's persistent storage (docs/headend-storage.md): one schema, numbered SQL
 * migrations, two backends (PGlite embedded, a PostgreSQL server) behind one small port,
 * and the repository written once against it.
 */
export type { Backend, Database, Row, Sql, SqlParam } from "./adapter.ts"
export { DEFAULT_DB_DIR, databaseTarget, describeTarget, openDatabase } from "./open.ts"
export type { DatabaseTarget } from "./open.ts"
export { MIGRATIONS_DIR, loadMigrations, migrate, recordedMigrations } from "./migrate.ts"
export type { Migration } from "./migrate.ts"
export { openPGlite } from "./pglite.ts"
export { openPostgres } from "./postgres.ts"
export { applyFrames, commitFrame, commitFrames, commitFramesWith, isUniqueViolation, recordCloneEvidence, storeRecords } from "./frames.ts"
export type { Aggregate, AlertCount, CloneEvidence, CloneKind, CommandResponse, FrameChange, FrameOutcome, StoredRecord } from "./frames.ts"
export { REPLAY_WINDOW, classifyCounter, loadMeter, readCloneEvidence, readMeterAlerts, readRecords } from "./meter_state.ts"
export type { MeterSnapshot, UplinkWindow } from "./meter_state.ts"
export { DownlinkCounterPool, reserveDownlinkBlocks, reserveDownlinkCounters } from "./downlink.ts"
export type { BlockRequest, CounterPoolOptions, CounterRange } from "./downlink.ts"
export { logCommand, readCommandLog } from "./command_log.ts"
export type { CommandAnswer, LoggedCommand, SentCommand } from "./command_log.ts"
