/**
 * What the enrollment endpoint and its status need from the store (STYLE rule 1: the consumer declares the
 * port; every backend implements it and passes test/store/conformance-enroll.ts).
 */
import type { DeviceRecord, ProfileRecord, ProfileState } from '../reconcile/ports.js';

/** How one enrollment attempt ended. */
export type EnrollmentOutcome = 'enrolled' | 'refused' | 'held-for-update' | 'bad-request';

/** Every outcome, in the order status shows them. */
export const ENROLLMENT_OUTCOMES: readonly EnrollmentOutcome[] = ['enrolled', 'refused', 'held-for-update', 'bad-request'];

/** One POST to /enroll/PROFILE, as recorded. */
export interface EnrollmentAttempt {
  at: Date;
  /** The profile named in the path (as sent, at most 63 characters). */
  profile: string;
  /** The verified serial; null when the body could not be verified. */
  serial: string | null;
  /** The MdmServer that holds the serial in the store, when one does. */
  server: string | null;
  outcome: EnrollmentOutcome;
  /** A fixed reason code (`enrolled`, `unknown-serial`, `wrong-profile`, `os-too-old`, `bad-signature`…). */
  reason: string;
  product: string | null;
  osVersion: string | null;
  /** The OS build (MachineInfo VERSION). */
  build: string | null;
}

/** A stored attempt with its sequence number. */
export interface EnrollmentAttemptRecord extends EnrollmentAttempt {
  id: number;
}

/** Attempts per profile and outcome. */
export interface EnrollmentCount {
  profile: string;
  outcome: EnrollmentOutcome;
  count: number;
}

/** The store as the enrollment endpoint and status see it. */
export interface EnrollStore {
  /** A stored device (enrollment reads the store only: no Apple call). */
  getDevice(server: string, serial: string): Promise<DeviceRecord | undefined>;
  /** The server's profiles (to name the profile a device's UUID belongs to). */
  listProfiles(server: string, filter?: { state?: ProfileState }): Promise<ProfileRecord[]>;
  /** Records an attempt and its audit entry (action `enroll`) together. */
  recordEnrollmentAttempt(attempt: EnrollmentAttempt): Promise<EnrollmentAttemptRecord>;
  /** Attempts newest first, optionally for one serial (tests, `status`). */
  listEnrollmentAttempts(query: { serial?: string; limit: number }): Promise<EnrollmentAttemptRecord[]>;
  /** Attempts grouped by profile and outcome. */
  countEnrollmentAttempts(): Promise<EnrollmentCount[]>;
  /**
   * Devices of `server` whose DEP profile status is `pushed` (the device fetched its DEP profile in Setup
   * Assistant) and whose serial has no `enrolled` attempt, grouped by profile UUID.
   */
  countPushedNeverEnrolled(server: string): Promise<Map<string | null, number>>;
}
