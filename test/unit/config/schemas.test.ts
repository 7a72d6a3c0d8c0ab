import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { compileSchemas, enumFromSchema, readSchemaFiles, SCHEMA_DIR } from '../../../controller/config/schemas.js';

describe('JSON Schemas', () => {
  const files = readSchemaFiles();

  it('are draft 2020-12 with an $id each, and compile in ajv strict mode', () => {
    for (const [name, schema] of Object.entries(files)) {
      expect(schema['$schema'], name).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schema['$id'], name).toEqual(expect.any(String));
    }
    // compileSchemas uses strict: true; a broken or loose schema throws here.
    expect(() => compileSchemas(files)).not.toThrow();
  });

  it('config schemas have their file name as a relative $id, so editors resolve them where they were read', () => {
    // A relative $id resolves against the schema's own location (file or URL), so the $refs between the
    // files find their siblings; an absolute https:// $id sends editors to a host nobody serves.
    // plan.schema.json belongs to the plan renderer (PLAN_SCHEMA_ID) and is not a config schema.
    for (const [name, schema] of Object.entries(files)) {
      if (name === 'plan.schema.json') continue;
      expect(schema['$id'], name).toBe(name);
    }
  });

  it('every $ref outside its own file names a sibling schema file that exists', () => {
    const refs: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref' && typeof v === 'string') refs.push(v);
          else walk(v);
        }
      }
    };
    walk(files);
    const external = refs.filter((r) => !r.startsWith('#')).map((r) => r.split('#')[0]!);
    expect(external.length).toBeGreaterThan(0);
    for (const file of external) {
      expect(file, file).toMatch(/^[a-z-]+\.schema\.json$/);
      expect(Object.keys(files), file).toContain(file);
    }
  });

  it('rejects a schema that strict mode would flag (the check is real)', () => {
    const ajv = new Ajv2020({ strict: true });
    expect(() => ajv.compile({ type: 'object', properties: { a: { type: 'string' } }, required: ['b'], anyOf: [{ required: ['c'] }] })).toThrow(/strict mode/);
  });

  it('document.schema.json dispatches every kind and rejects unknown kinds', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    ajv.addKeyword({ keyword: 'x-depctl-secret', schemaType: 'boolean' });
    for (const schema of Object.values(files)) if (schema['$id'] !== files['document.schema.json']?.['$id']) ajv.addSchema(schema);
    ajv.addFormat('uri', true).addFormat('email', true);
    const validate = ajv.compile(files['document.schema.json']!);
    expect(validate({ apiVersion: 'depctl/v1', kind: 'Assignment', metadata: { name: 'a' }, spec: { profile: 'p', serials: ['F9FXK1ABCD12'] } })).toBe(true);
    expect(validate({ apiVersion: 'depctl/v1', kind: 'Assignment', metadata: { name: 'a' }, spec: { profile: 'p' } })).toBe(false);
    expect(validate({ apiVersion: 'depctl/v1', kind: 'Nope', metadata: { name: 'a' }, spec: {} })).toBe(false);
  });

  it('SkipKey lists every key Apple has listed: current, deprecated and removed ones', () => {
    const file = 'enrollment-profile.schema.json';
    const all = enumFromSchema(files, file, 'SkipKey');
    const current = enumFromSchema(files, file, 'CurrentSkipKey');
    const deprecated = enumFromSchema(files, file, 'DeprecatedSkipKey');
    const removed = enumFromSchema(files, file, 'RemovedSkipKey');
    expect([...all].sort()).toEqual([...current, ...deprecated, ...removed].sort());
    // The lists themselves: dep-protocol.md "SkipKeys" (Apple's SkipKeys page), plus AdditionalPrivacySettings
    // (macOS 26+, petarov/apple-mdm-clients ProfileSkipItem.java).
    expect([...deprecated].sort()).toEqual(['DisplayTone', 'HomeButtonSensitivity', 'OnBoarding', 'Zoom']);
    expect([...removed].sort()).toEqual(['IntendedUser', 'OSShowcase', 'Wallpaper', 'WebContentFiltering']);
    expect([...current].sort()).toEqual(
      [
        'Accessibility', 'AccessibilityAppearance', 'ActionButton', 'AdditionalPrivacySettings', 'Android', 'Appearance', 'AppleID', 'AppStore',
        'Biometric', 'CameraButton', 'DeviceFeaturesTour', 'DeviceToDeviceMigration', 'Diagnostics', 'EnableLockdownMode', 'FileVault',
        'iCloudDiagnostics', 'iCloudStorage', 'iMessageAndFaceTime', 'Intelligence', 'Keyboard', 'LiquidGlass', 'Location',
        'MessagingActivationUsingPhoneNumber', 'Multitasking', 'Passcode', 'Payment', 'Privacy', 'Restore', 'RestoreCompleted', 'Safety',
        'SafetyAndHandling', 'ScreenSaver', 'ScreenTime', 'SIMSetup', 'Siri', 'SoftwareUpdate', 'SpokenLanguage', 'TapToSetup', 'TermsOfAddress',
        'Tips', 'TOS', 'TVHomeScreenSync', 'TVProviderSignIn', 'TVRoom', 'UnlockWithWatch', 'UpdateCompleted', 'WatchMigration', 'Welcome',
      ].sort(),
    );
  });

  it('skip_setup_items takes any string (SkipKey findings are warnings), but not other types', () => {
    const { validators } = compileSchemas(files);
    const doc = (items: unknown[]): unknown => ({
      apiVersion: 'depctl/v1',
      kind: 'EnrollmentProfile',
      metadata: { name: 'p' },
      spec: { servers: ['s'], profile: { profile_name: 'P', url: 'https://mdm.example.com/enroll', skip_setup_items: items } },
    });
    expect(validators.EnrollmentProfile(doc(['Siri', 'Wallpaper', 'NoSuchKey', 'Siri']))).toBe(true);
    expect(validators.EnrollmentProfile(doc(['Siri', 5]))).toBe(false);
  });

  it('covers every Apple profile key from the protocol reference, with limits and defaults', () => {
    const profile = (files['enrollment-profile.schema.json']!['$defs'] as Record<string, { properties: Record<string, Record<string, unknown>> }>)['Profile']!;
    const keys = Object.keys(profile.properties);
    const apple = ['profile_name', 'url', 'allow_pairing', 'is_supervised', 'is_multi_user', 'is_mandatory', 'await_device_configured', 'is_mdm_removable', 'support_phone_number', 'support_email_address', 'org_magic', 'anchor_certs', 'supervising_host_certs', 'skip_setup_items', 'department', 'language', 'region', 'configuration_web_url', 'auto_advance_setup', 'do_not_use_profile_from_backup', 'is_return_to_service'];
    expect(keys.sort()).toEqual(apple.sort());
    expect(profile.properties['profile_name']!['maxLength']).toBe(125);
    expect(profile.properties['support_phone_number']!['maxLength']).toBe(50);
    expect(profile.properties['support_email_address']!['maxLength']).toBe(250);
    expect(profile.properties['org_magic']!['maxLength']).toBe(256);
    expect(profile.properties['department']!['maxLength']).toBe(125);
    expect(profile.properties['is_mdm_removable']!['default']).toBe(true);
    expect(profile.properties['allow_pairing']!['default']).toBe(true);
    expect(profile.properties['is_supervised']!['default']).toBe(false);
  });

  it('every schema file on disk is valid JSON', () => {
    for (const f of readdirSync(SCHEMA_DIR).filter((x) => x.endsWith('.json'))) {
      expect(() => JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')), f).not.toThrow();
    }
  });
});
