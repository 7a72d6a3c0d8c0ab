import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildGitInvocation, sshCommand } from '../../../controller/source/git-env.js';
import { GitSourceError, parseRepoUrl } from '../../../controller/source/index.js';

const base = { PATH: '/usr/bin', HOME: '/home/depctl', GIT_DIR: '/elsewhere', GIT_ASKPASS: '/bin/evil', git_ssh_command: 'x', GIT_SSL_CAINFO: '/ca.pem', PAGER: 'less', UNSET: undefined };

describe('buildGitInvocation', () => {
  it('keeps ordinary variables and CA settings, drops variables that steer git, never prompts', () => {
    const { env, unsafe, secrets } = buildGitInvocation(parseRepoUrl('/srv/r.git'), undefined, base);
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/home/depctl', GIT_SSL_CAINFO: '/ca.pem', LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0' });
    expect(unsafe).toEqual({});
    expect(secrets).toEqual([]);
  });

  it('sends an https token as a Basic header scoped to the origin, through environment config', () => {
    const { env, unsafe, secrets } = buildGitInvocation(parseRepoUrl('https://git.example.com/acme/r.git'), { httpsToken: 'tok' }, {});
    const basic = Buffer.from('x-access-token:tok').toString('base64');
    expect(env).toMatchObject({
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.https://git.example.com/.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    });
    expect(unsafe).toEqual({ allowUnsafeConfigEnvCount: true });
    expect(secrets).toEqual(['tok', basic]);
  });

  it('takes the token and user from the URL when no option is given, the option winning otherwise', () => {
    const location = parseRepoUrl('https://oauth2:from-url@gitlab.example.com/r.git');
    expect(buildGitInvocation(location, undefined, {}).env.GIT_CONFIG_VALUE_0).toBe(`Authorization: Basic ${Buffer.from('oauth2:from-url').toString('base64')}`);
    const both = buildGitInvocation(location, { httpsToken: 'opt', httpsUser: 'bot' }, {});
    expect(both.env.GIT_CONFIG_VALUE_0).toBe(`Authorization: Basic ${Buffer.from('bot:opt').toString('base64')}`);
    expect(both.secrets).toContain('from-url');
  });

  it.each([
    ['a token for an ssh remote', 'git@github.com:a/r.git', { httpsToken: 't' }, /https token was given for a ssh/],
    ['a token for a local path', '/srv/r.git', { httpsToken: 't' }, /https token/],
    ['a token over plain http to another host', 'http://git.example.com/r.git', { httpsToken: 't' }, /plain http/],
    ['an ssh key for https', 'https://h/r.git', { sshKeyFile: '/k' }, /ssh key/],
  ])('refuses %s', (_name, url, auth, message) => {
    const call = () => buildGitInvocation(parseRepoUrl(url), auth, {});
    expect(call).toThrow(GitSourceError);
    expect(call).toThrow(message);
  });

  it('allows a token over plain http to loopback (tests, sidecars)', () => {
    expect(buildGitInvocation(parseRepoUrl('http://127.0.0.1:9/r.git'), { httpsToken: 't' }, {}).env.GIT_CONFIG_COUNT).toBe('1');
  });

  it('sets GIT_SSH_COMMAND for ssh remotes', () => {
    const { env, unsafe } = buildGitInvocation(parseRepoUrl('git@github.com:a/r.git'), { sshKeyFile: '/keys/id' }, {});
    expect(env.GIT_SSH_COMMAND).toBe(
      "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=3 -i '/keys/id' -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes",
    );
    expect(unsafe).toEqual({ allowUnsafeSshCommand: true });
  });
});

describe('sshCommand', () => {
  it('offers only the given key, checks the host against the given known_hosts and never prompts', () => {
    const cmd = sshCommand({ sshKeyFile: "/keys/it's key", sshKnownHostsFile: '/etc/kh' });
    expect(cmd).toContain(`-i '/keys/it'\\''s key' -o IdentitiesOnly=yes`);
    expect(cmd).toContain(`-o 'UserKnownHostsFile=/etc/kh'`);
    expect(cmd).toContain('-o StrictHostKeyChecking=yes');
    expect(cmd).toContain('-o BatchMode=yes');
  });

  it('quotes file names so that the shell git runs it through passes them unchanged', () => {
    const cmd = sshCommand({ sshKeyFile: "/keys/it's a $key", sshKnownHostsFile: '/kh dir/known_hosts' });
    const argv = execFileSync('sh', ['-c', cmd.replace(/^ssh/, `printf '%s\\n'`)], { encoding: 'utf8' }).split('\n');
    expect(argv).toContain("/keys/it's a $key");
    expect(argv).toContain('UserKnownHostsFile=/kh dir/known_hosts');
  });

  it('accepts any host key only when asked, without recording it', () => {
    const cmd = sshCommand({ sshStrictHostKeyChecking: false });
    expect(cmd).toContain('-o UserKnownHostsFile=/dev/null');
    expect(cmd).toContain('-o StrictHostKeyChecking=no');
    expect(cmd).not.toContain('-i ');
  });
});
