import { ruleset, z } from '../rulesets/index.ts';

/**
 * An example ruleset: a temperature sensor. Install it into a cloud, send `sensor:reading` events
 * with a `temperature` (a number, or a string that parses as one), and query the latest reading or
 * the last few. A reading over the threshold (config `threshold`, default 30) answers with an
 * `alert` directive and is pushed to WebSocket listeners of the ECI it came through.
 *
 *   kumo install example.temperature --eci <child eci>
 *   kumo event <child eci> sensor:reading temperature=21.5
 *   kumo query <child eci> example.temperature latest
 */
export const KEEP = 10;

export default ruleset<{ readings: Array<{ temperature: number; time: number }> }>('example.temperature', {
  version: '1.0.0',
  name: 'Temperature sensor',
  description: 'Stores temperature readings and flags readings over a threshold.',
  config: z.object({ threshold: z.coerce.number().default(30) }),
})
  .rule('record', {
    select: 'sensor:reading',
    attrs: z.object({ temperature: z.coerce.number().finite() }),
    action(ctx) {
      const reading = { temperature: ctx.attrs.temperature, time: ctx.now() };
      const readings = [...(ctx.ent.get('readings') ?? []), reading].slice(-KEEP);
      ctx.ent.set('readings', readings);
      ctx.directive('recorded', { temperature: reading.temperature, count: readings.length });
      const threshold = Number(ctx.config['threshold'] ?? 30);
      if (reading.temperature > threshold) {
        ctx.directive('alert', { temperature: reading.temperature, threshold });
        if (ctx.eci) ctx.push(ctx.eci, 'alert', { temperature: reading.temperature, threshold });
      }
    },
  })
  .rule('reset', {
    select: 'sensor:reset',
    action(ctx) {
      ctx.ent.delete('readings');
      ctx.directive('reset');
    },
  })
  .share('latest', (ctx) => ctx.ent.get('readings')?.at(-1) ?? null)
  .share('readings', (ctx) => ctx.ent.get('readings') ?? [])
  .share('count', (ctx) => ctx.ent.get('readings')?.length ?? 0)
  .build();
