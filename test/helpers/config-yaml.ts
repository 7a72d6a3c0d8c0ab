/**
 * The small config repository most integration tests use: one MdmServer `main` (token and key under `main/`
 * in the secrets directory) and one EnrollmentProfile `ipads` that every iPad gets through the match rule of
 * the Assignment `all-ipads`.
 */

/** The `main` MdmServer document. */
export const MAIN_SERVER_YAML = `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: main }
spec:
  token: { file: main/token.p7m }
  privateKey: { file: main/key.pem }
`;

/** The `main` MdmServer whose unassigned devices get the `macs` profile (its default). */
export const MAIN_SERVER_DEFAULT_MACS_YAML = `${MAIN_SERVER_YAML}  defaultProfile: macs
  unassignedDevices: default
`;

/** The `paris` MdmServer and an `ipads` profile on it: the smallest valid configuration of the unit tests. */
export const PARIS_IPADS_YAML = `apiVersion: depctl/v1
kind: MdmServer
metadata: { name: paris }
spec:
  token: { file: paris/token.p7m }
  privateKey: { file: paris/key.pem }
---
apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [paris]
  profile: { profile_name: iPads, url: "https://mdm.example.com/enroll" }
`;

/** The `ipads` profile on `main` and the `all-ipads` match assignment; `department` is added when given. */
export function ipadsYaml(department?: string): string {
  const dept = department === undefined ? '' : `, department: "${department}"`;
  return `apiVersion: depctl/v1
kind: EnrollmentProfile
metadata: { name: ipads }
spec:
  servers: [main]
  profile: { profile_name: iPads, url: "https://mdm.example.com/enroll", is_supervised: true${dept} }
---
apiVersion: depctl/v1
kind: Assignment
metadata: { name: all-ipads }
spec:
  profile: ipads
  match: { device_family: [iPad] }
`;
}
