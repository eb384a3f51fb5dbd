/**
 * The HTTP API's routes as a table (docs/http-api.md): methods, a path whose `:name` parts are
 * parameters, and the handler (channels/http/api.ts). HEAD is answered wherever GET is, OPTIONS
 * (the CORS preflight) everywhere.
 */
export type RouteName =
  'skyEvent' | 'waitEvent' | 'acceptEvent' | 'query' | 'claim' | 'exportCloud' | 'moveCloud' | 'importCloud' | 'mqtt' | 'logs' | 'deadLetters' | 'health' | 'realmInfo' | 'metricsText' | 'signinCode' | 'sessions' | 'revokeSessions';

export interface Route {
  methods: ReadonlyArray<'GET' | 'POST'>;
  path: string;
  name: RouteName;
}

const READ_OR_POST = ['GET', 'POST'] as const;

export const ROUTES: readonly Route[] = [
  { methods: READ_OR_POST, path: '/sky/event/:eci/:eid/:domain/:type', name: 'skyEvent' },
  { methods: READ_OR_POST, path: '/sky/cloud/:eci/:rid/:name', name: 'query' },
  { methods: READ_OR_POST, path: '/c/:eci/event/:domain/:type', name: 'acceptEvent' },
  { methods: READ_OR_POST, path: '/c/:eci/event-wait/:domain/:type', name: 'waitEvent' },
  { methods: READ_OR_POST, path: '/c/:eci/query/:rid/:name', name: 'query' },
  { methods: ['POST'], path: '/claim', name: 'claim' },
  { methods: ['POST'], path: '/c/:eci/mqtt', name: 'mqtt' },
  { methods: ['POST'], path: '/c/:eci/export', name: 'exportCloud' },
  { methods: ['POST'], path: '/c/:eci/move', name: 'moveCloud' },
  { methods: ['POST'], path: '/c/:eci/import', name: 'importCloud' },
  { methods: ['GET'], path: '/c/:eci/logs', name: 'logs' },
  { methods: ['GET'], path: '/c/:eci/dead-letters', name: 'deadLetters' },
  { methods: ['POST'], path: '/c/:eci/signin-code', name: 'signinCode' },
  { methods: ['GET'], path: '/c/:eci/sessions', name: 'sessions' },
  { methods: ['POST'], path: '/c/:eci/sessions/revoke', name: 'revokeSessions' },
  { methods: ['GET'], path: '/healthz', name: 'health' },
  { methods: ['GET'], path: '/realm', name: 'realmInfo' },
  { methods: ['GET'], path: '/metrics', name: 'metricsText' },
];

/** Each route's path as segments (null: a parameter), by segment count. */
const COMPILED = new Map<number, Array<{ route: Route; parts: Array<string | null> }>>();
for (const route of ROUTES) {
  const parts = route.path
    .split('/')
    .slice(1)
    .map((p) => (p.startsWith(':') ? null : p));
  COMPILED.set(parts.length, [...(COMPILED.get(parts.length) ?? []), { route, parts }]);
}

/** The route for a method (HEAD as GET) and path segments, and its parameters in order; undefined for none. */
export function matchRoute(method: string, segments: readonly string[]): { name: RouteName; params: string[] } | undefined {
  const m = method === 'HEAD' ? 'GET' : method;
  for (const { route, parts } of COMPILED.get(segments.length) ?? []) {
    if (!parts.every((p, i) => p === null || p === segments[i])) continue;
    if (!(route.methods as readonly string[]).includes(m)) continue;
    return { name: route.name, params: segments.filter((_, i) => parts[i] === null) };
  }
  return undefined;
}
