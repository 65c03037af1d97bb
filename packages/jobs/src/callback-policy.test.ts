import { describe, expect, it } from 'vitest';
import { CallbackPolicy, CallbackRefused, type HostResolver } from './callback-policy.js';

const resolver = (answers: Record<string, string[]>): HostResolver & { asked: string[] } => {
  const asked: string[] = [];
  const fn = (host: string) => {
    asked.push(host);
    const list = answers[host];
    if (!list) return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(list.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) })));
  };
  return Object.assign(fn, { asked });
};

describe('CallbackPolicy.problem (at job creation, the URL alone)', () => {
  const policy = new CallbackPolicy([
    { hostname: 'hooks.internal', port: undefined },
    { hostname: '10.0.0.7', port: 8080 },
  ]);

  it.each([
    ['https://0x7f000001/hook', 'loopback'],
    ['https://2130706433/hook', 'loopback'],
    ['https://0177.0.0.1/hook', 'loopback'],
    ['https://127.1/hook', 'loopback'],
    ['https://127.0.0.1./hook', 'loopback'],
    ['https://[::1]/hook', 'loopback'],
    ['https://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['https://[::ffff:7f00:1]/hook', 'loopback'],
    ['https://[64:ff9b::a9fe:a9fe]/hook', 'link-local'],
    ['https://169.254.169.254/latest/meta-data/', 'link-local'],
    ['https://[fd00:ec2::254]/', 'unique-local'],
    ['https://10.0.0.7/hook', 'private'],
    ['https://192.168.1.1/', 'private'],
    ['https://100.64.0.1/', 'CGNAT'],
    ['https://0.0.0.0/', 'unspecified'],
    ['https://255.255.255.255/', 'broadcast'],
    ['https://localhost/hook', 'loopback host'],
    ['https://LOCALHOST./hook', 'loopback host'],
    ['https://api.localhost/hook', 'loopback host'],
    ['http://example.com/hook', 'https'],
    ['http://10.0.0.7/hook', 'https'],
    ['ftp://example.com/x', 'https'],
    ['file:///etc/passwd', 'https'],
    ['https://user:pw@example.com/hook', 'user name or password'],
    ['https://user@example.com/hook', 'user name or password'],
    ['not a url', 'absolute'],
  ])('refuses %s', (url, words) => {
    expect(policy.problem(url)).toContain(words);
  });

  it.each([
    'https://example.com/hook',
    'https://93.184.215.14:8443/x?y=1',
    'https://[2606:4700:4700::1111]/h',
    'http://hooks.internal/hook',
    'https://hooks.internal:9443/',
    'http://10.0.0.7:8080/hook',
    'http://HOOKS.INTERNAL./x',
  ])('accepts %s', (url) => {
    expect(policy.problem(url)).toBeUndefined();
  });

  it('an allowed host:port allows that port only', () => {
    expect(policy.problem('http://10.0.0.7:8081/hook')).toContain('https');
    expect(policy.problem('https://10.0.0.7/hook')).toContain('private');
  });
});

describe('CallbackPolicy.resolve (at delivery)', () => {
  it('refuses a name that resolves to loopback, metadata or a mapped address', async () => {
    const dns = resolver({ 'evil.example': ['127.0.0.1'], 'meta.example': ['169.254.169.254'], 'v6.example': ['::ffff:10.0.0.1'] });
    const policy = new CallbackPolicy([], dns);
    for (const host of ['evil.example', 'meta.example', 'v6.example']) {
      await expect(policy.resolve(`https://${host}/hook`)).rejects.toBeInstanceOf(CallbackRefused);
    }
  });

  it('checks every address: one internal address among public ones refuses the delivery', async () => {
    const policy = new CallbackPolicy([], resolver({ 'mixed.example': ['93.184.215.14', '2606:4700:4700::1111', '10.0.0.1'] }));
    await expect(policy.resolve('https://mixed.example/hook')).rejects.toThrow(/private/);
  });

  it('returns the checked addresses (the connection uses them; DNS is asked once per delivery)', async () => {
    const dns = resolver({ 'ok.example': ['93.184.215.14', '2606:4700:4700::1111'] });
    const target = await new CallbackPolicy([], dns).resolve('https://ok.example:8443/hook?a=1');
    expect(target.host).toBe('ok.example');
    expect(target.addresses).toEqual([
      { address: '93.184.215.14', family: 4 },
      { address: '2606:4700:4700::1111', family: 6 },
    ]);
    expect(dns.asked).toEqual(['ok.example']);
  });

  it('an allowed host may resolve to an internal address; a literal address is not looked up', async () => {
    const dns = resolver({ 'hooks.internal': ['10.1.2.3'] });
    const policy = new CallbackPolicy([{ hostname: 'hooks.internal', port: undefined }], dns);
    expect((await policy.resolve('http://hooks.internal/x')).addresses).toEqual([{ address: '10.1.2.3', family: 4 }]);
    expect((await policy.resolve('https://[2606:4700:4700::1111]/x')).addresses).toEqual([{ address: '2606:4700:4700::1111', family: 6 }]);
    expect(dns.asked).toEqual(['hooks.internal']);
  });

  it('a name that does not resolve is an ordinary (retried) failure, not a refusal', async () => {
    const error = await new CallbackPolicy([], resolver({})).resolve('https://nowhere.example/').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(CallbackRefused);
  });
});
