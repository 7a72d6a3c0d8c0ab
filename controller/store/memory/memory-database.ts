/**
 * The state behind one or more MemoryStore handles: plain maps, with the device serials of each
 * server kept sorted lazily so keyset paging is a binary search instead of a sort per page.
 */
import type { Device } from '../../dep/types.js';
import type { DeviceColumns } from '../codec.js';
import type { EnrollmentAttemptRecord } from '../../enroll/ports.js';
import type { OutboxRow } from '../../notify/ports.js';
import type { AuditRecord, CursorState, DeviceResult, ProfileRecord, RunRecord, ServerRecord } from '../ports.js';

/** One stored device. */
export interface MemoryDevice {
  columns: DeviceColumns;
  device: Device;
  desiredProfile: string | null;
  lastResult: DeviceResult | null;
  retryNotBefore: Date | null;
  observedAt: Date;
  arrivedAt: Date | null;
  attempts: number;
}

/** The devices of one server. */
export interface MemoryDeviceTable {
  rows: Map<string, MemoryDevice>;
  /** Sorted serials, or null when an insert or delete made the cache stale. */
  sorted: string[] | null;
}

/** One server row: identity plus cursor state. */
export interface MemoryServer {
  record: ServerRecord;
  cursor: CursorState;
}

/** Shared in-memory state; pass one instance to several MemoryStores to share data and locks. */
export class MemoryDatabase {
  /** Schema version recorded by migrate(). */
  version = 0;
  /** Servers by name. */
  readonly servers = new Map<string, MemoryServer>();
  /** Profiles by JSON key [server, name, contentHash]. */
  readonly profiles = new Map<string, ProfileRecord>();
  /** Device tables by server. */
  readonly devices = new Map<string, MemoryDeviceTable>();
  /** Runs by id. */
  readonly runs = new Map<number, RunRecord>();
  /** Last run id handed out. */
  lastRunId = 0;
  /** Audit entries; index + 1 is the sequence number. */
  readonly audit: AuditRecord[] = [];
  /** Enrollment attempts (issue 14); index + 1 is the id. */
  readonly enrollmentAttempts: EnrollmentAttemptRecord[] = [];
  /** The notification outbox (issue 18), in id order. */
  readonly outbox: Array<OutboxRow & { active: boolean; sentAt: Date | null }> = [];
  /** Last outbox id handed out. */
  lastOutboxId = 0;
  /** Leadership holders by lock name. */
  readonly leaders = new Map<string, object>();

  /** Returns the server row, creating it (stamped `at`) when missing. */
  server(name: string, at: Date): MemoryServer {
    let row = this.servers.get(name);
    if (!row) {
      row = {
        record: {
          name, tokenFingerprint: null, tokenExpiresAt: null, serverUuid: null, appleServerName: null, orgName: null, orgType: null,
          orgId: null, identityCheckedAt: null, updatedAt: new Date(at), convergedKey: null,
        },
        cursor: { server: name, cursor: null, fetchStartedAt: null, fetchedAt: null, syncedAt: null },
      };
      this.servers.set(name, row);
    }
    return row;
  }

  /** Returns the device table of a server, creating it when missing. */
  deviceTable(server: string): MemoryDeviceTable {
    let table = this.devices.get(server);
    if (!table) {
      table = { rows: new Map(), sorted: null };
      this.devices.set(server, table);
    }
    return table;
  }

  /** The server's serials in byte order (cached until the next insert or delete). */
  sortedSerials(server: string): string[] {
    const table = this.deviceTable(server);
    table.sorted ??= [...table.rows.keys()].sort();
    return table.sorted;
  }
}
