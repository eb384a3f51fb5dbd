import { ruleset, z } from '../rulesets/index.ts';

/**
 * The links example, home side (README, "Links"): the home cloud keeps the latest temperature of
 * each thermostat linked to it, and when a room is warmer than `comfort` (install config, default
 * 24) asks that thermostat to cool, over the link the reading came through; back to idle once it
 * is not.
 *
 *   kumo install example.home --eci <home eci>
 *   kumo query <home eci> example.home temperatures
 */
type Room = { thermostat: string; temperature: number; mode: 'cool' | 'idle'; time: number };

export default ruleset<{ rooms: Room[] }>('example.home', {
  version: '1.0.0',
  name: 'Home',
  description: 'Reacts to the readings of the thermostats linked to it.',
  config: z.object({ comfort: z.coerce.number().default(24) }),
})
  .rule('temperature', {
    select: 'home:temperature',
    attrs: z.object({ temperature: z.coerce.number().finite(), thermostat: z.string().min(1).max(100) }),
    action(ctx) {
      const { temperature, thermostat } = ctx.attrs;
      const rooms = ctx.ent.get('rooms') ?? [];
      const mode = temperature > Number(ctx.config['comfort']) ? 'cool' : 'idle';
      if (mode !== (rooms.find((r) => r.thermostat === thermostat)?.mode ?? 'idle')) {
        // Answer on the link this reading came through: its Rx is the ECI the event arrived on.
        ctx.raise('wrangler', 'send_event_on_subs', { Rx: ctx.eci, domain: 'thermostat', type: 'mode', attrs: { mode } });
      }
      ctx.ent.set('rooms', [...rooms.filter((r) => r.thermostat !== thermostat), { thermostat, temperature, mode, time: ctx.now() }]);
      ctx.directive('recorded', { thermostat, temperature, mode });
    },
  })
  .share('temperatures', (ctx) => Object.fromEntries((ctx.ent.get('rooms') ?? []).map(({ thermostat, ...room }) => [thermostat, room])))
  .build();
