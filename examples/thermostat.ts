import { ruleset, z } from '../rulesets/index.ts';

/**
 * The links example, thermostat side (README, "Links"): a thermostat cloud linked to its home
 * cloud. Each reading is kept and sent over every link on which the other side plays `home`; the
 * home answers over the same link with the mode the thermostat should run in.
 *
 *   kumo install example.thermostat --eci <thermostat eci>
 *   kumo event <thermostat eci> wrangler:subscription wellKnown_Tx=<home's well-known ECI> Rx_role=thermostat Tx_role=home
 *   kumo event <thermostat eci> thermostat:reading temperature:=27
 *   kumo query <thermostat eci> example.thermostat mode
 */
export default ruleset<{ latest: number; mode: string }>('example.thermostat', {
  version: '1.0.0',
  name: 'Thermostat',
  description: 'Sends its readings to its home over their link, and runs in the mode the home asks for.',
})
  .rule('reading', {
    select: 'thermostat:reading',
    attrs: z.object({ temperature: z.coerce.number().finite() }),
    action(ctx) {
      ctx.ent.set('latest', ctx.attrs.temperature);
      ctx.directive('reading', { temperature: ctx.attrs.temperature });
      // The links ruleset sends it on every link whose other side plays "home" (pico's send_event_on_subs).
      ctx.raise('wrangler', 'send_event_on_subs', { Tx_role: 'home', domain: 'home', type: 'temperature', attrs: { temperature: ctx.attrs.temperature, thermostat: ctx.cloud.name } });
    },
  })
  .rule('mode', {
    select: 'thermostat:mode',
    attrs: z.object({ mode: z.enum(['cool', 'idle']) }),
    action(ctx) {
      ctx.ent.set('mode', ctx.attrs.mode);
      ctx.directive('mode', { mode: ctx.attrs.mode });
    },
  })
  .share('latest', (ctx) => ctx.ent.get('latest') ?? null)
  .share('mode', (ctx) => ctx.ent.get('mode') ?? 'idle')
  .build();
