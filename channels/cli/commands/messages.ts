import { keyValues, newEid, UsageError, type Command } from '../command.ts';
import { formatDirectives } from '../format.ts';

/** Events and queries through any ECI, as a curl user would send them. */
export const messageCommands: Command[] = [
  {
    name: 'event',
    synopsis: 'ECI DOMAIN:TYPE [key=value | key:=json ...] [--eid EID]',
    args: [2, Infinity],
    help: `Send an event through ECI and print its directives. key=value gives a string attr, key:=json a
JSON value (key:=5, key:='{"a":1}').`,
    async run(ctx, [eci, name, ...attrs]) {
      const [domain, type, ...bad] = name!.split(':');
      if (!domain || !type || bad.length > 0) throw new UsageError(`the event is named DOMAIN:TYPE, got ${JSON.stringify(name)}`);
      const r = await ctx.client.event(eci!, ctx.v.eid ?? newEid(), domain, type, keyValues(attrs));
      ctx.print(r, formatDirectives(r));
    },
  },
  {
    name: 'query',
    synopsis: 'ECI RID NAME [key=value | key:=json ...]',
    args: [3, Infinity],
    help: 'Call a shared function of a ruleset installed in the cloud behind ECI, and print its result.',
    async run(ctx, [eci, rid, name, ...args]) {
      const result = await ctx.client.query(eci!, rid!, name!, keyValues(args));
      ctx.print(result, typeof result === 'string' ? result : JSON.stringify(result, null, 2));
    },
  },
];
