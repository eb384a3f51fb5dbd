import { describe, expect, it } from 'vitest';
import { rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

describe('capabilities', () => {
  it('no one can mint a system ECI, whatever the case of the tag', async () => {
    const { host, root } = await testHost();
    for (const tag of ['system', 'SYSTEM', 'System']) {
      expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: [tag] } }))).toMatchObject({ code: 'INVALID_ARGS' });
    }
  });
});
