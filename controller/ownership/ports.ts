/**
 * What the ownership engine (issue 15) needs from its surroundings, declared by it (STYLE.md rule 1): the
 * part of the Business API client it calls, and the store of the activities it issued. The store backends
 * implement `ActivityStore` (controller/store/{memory,sqlite,postgres}/abm-activities.ts).
 */
import type { AbmClient } from '../abm/client.js';
import type { AuditEntry } from '../reconcile/ports.js';

/** The Business API calls the engine makes. */
export type OwnershipAbmClient = Pick<AbmClient, 'listMdmServers' | 'listServerDeviceSerials' | 'listOrgDevices' | 'createActivity' | 'getActivity' | 'readActivityResults' | 'createMdmServer' | 'updateMdmServer'>;

/** One serial's outcome in a finished activity (Apple's result file, or depctl's verdict when there is none). */
export interface ActivitySerialResult {
  serial: string;
  /** Apple's per-serial status (`SUCCESS`, `FAILED`…), or the activity's status when Apple gave no file. */
  status: string;
  message?: string;
}

/**
 * An activity depctl created, as stored (migration 9). The same table keeps, as closed rows without serials,
 * the ABM id of each declared server depctl created (`CREATE_SERVER`) or saw by name (`SERVER_SEEN`), so a
 * later change of abmServerName renames that server by id.
 */
export interface ActivityRecord {
  /** The Organization's metadata.name. */
  organization: string;
  /** Apple's activity id. */
  activityId: string;
  /** `ASSIGN_DEVICES`, or a server record: `CREATE_SERVER`, `SERVER_SEEN`. */
  type: string;
  /** The ABM server id the devices go to. */
  serverId: string;
  /** The depctl MdmServer name (metadata.name) the devices go to. */
  serverName: string;
  serials: string[];
  /** Apple's last known status: IN_PROGRESS, COMPLETED, FAILED, STOPPED (or NOT_FOUND once Apple forgot it). */
  status: string;
  subStatus: string | null;
  createdAt: Date;
  updatedAt: Date;
  /** Set when depctl closed the row (read the outcome); null while the activity is open. */
  completedAt: Date | null;
  /** Per-serial outcomes once closed. */
  results: ActivitySerialResult[] | null;
}

/** How an open activity changes. */
export interface ActivityUpdate {
  status: string;
  subStatus: string | null;
  updatedAt: Date;
  /** Closes the row (with the per-serial results). */
  completedAt?: Date;
  results?: readonly ActivitySerialResult[];
}

/** The activity table (migration 9). */
export interface ActivityStore {
  /** Stores a new activity (right after Apple's 201); storing one id twice keeps the first row. */
  recordActivity(activity: ActivityRecord): Promise<void>;
  /**
   * Updates an open activity; with `completedAt` closes it. The audit entries are written in the same
   * transaction, so a crash keeps the outcome and its audit, or neither (the next pass reads Apple again).
   * Returns false when the row is unknown or already closed (nothing is written then).
   */
  updateActivity(organization: string, activityId: string, update: ActivityUpdate, audit?: readonly AuditEntry[]): Promise<boolean>;
  /** Activities of an organization, oldest first: the open ones only, or all of them (newest `limit`). */
  listActivities(organization: string, opts: { open: boolean; limit?: number }): Promise<ActivityRecord[]>;
  /** Audit entries written before a write (`pending`) and after it. */
  appendAudit(entries: readonly AuditEntry[]): Promise<void>;
}
