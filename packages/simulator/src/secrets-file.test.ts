import { describe, expect, it } from 'vitest';
import { SimulatorOptionError } from './behaviour.js';
import { parseCliOptions } from './cli-options.js';
import { parseSecretsCsv } from './secrets-file.js';

describe('rrpc-sim --secrets', () => {
  it("reads productKey,deviceName,deviceSecret lines of the simulation's product", () => {
    const csv =
      'productKey,deviceName,deviceSecret\r\n# exported\npk1,sim-0001,oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq\n\npk1,sim-0002, second-secret-0123456789 \npk2,sim-0001,other-product-secret-0123\n';
    expect([...parseSecretsCsv(csv, 'pk1')]).toEqual([
      ['sim-0001', 'oLyaKqVxtRvjH284LdhqVgVUx1UPy6zq'],
      ['sim-0002', 'second-secret-0123456789'],
    ]);
    expect(parseSecretsCsv(csv, 'pk3').size).toBe(0);
  });

  it('names the bad line without echoing its content', () => {
    for (const csv of [
      'pk1,sim-0001',
      'pk1,sim-0001,a,b',
      'pk/1,sim-0001,secret-secret',
      'pk1,s,secret-secret',
      'pk1,sim-0001,has space',
    ]) {
      expect(() => parseSecretsCsv(`productKey,deviceName,deviceSecret\n${csv}`, 'pk1')).toThrow(SimulatorOptionError);
      try {
        parseSecretsCsv(`productKey,deviceName,deviceSecret\n${csv}`, 'pk1');
      } catch (error) {
        expect((error as Error).message).toBe('--secrets: line 2 is not "productKey,deviceName,deviceSecret"');
      }
    }
  });

  it('is an option of the command line', () => {
    expect(parseCliOptions(['--secrets', '/tmp/devices.csv']).secretsFile).toBe('/tmp/devices.csv');
    expect(parseCliOptions([]).secretsFile).toBeUndefined();
  });
});
