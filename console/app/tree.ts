import { byEci, own, type Target } from './api.ts';

/**
 * The cloud tree as a picture: the session's cloud, its children (each reached by its parent's ECI
 * on it), their links to each other and to clouds elsewhere. Read with queries only, at most
 * {@link MAX_NODES} clouds; a cloud whose queries are refused is drawn without what it hid.
 */

export const WRANGLER = 'io.picolabs.wrangler';
export const LINKS = 'io.picolabs.subscription';
const MAX_NODES = 200;

export interface CloudNode {
  id: string;
  name: string;
  target: Target;
  depth: number;
  parent: CloudNode | null;
  children: CloudNode[];
  /** This cloud's ECIs (to tell which cloud a link reaches). */
  ecis: string[];
  links: Array<{ Id: string; Tx: string; Tx_host: string | null; Rx_role: string | null; Tx_role: string | null }>;
  /** Why part of it could not be read. */
  hidden?: string;
}

async function settle<T>(p: Promise<T>, fallback: T, hide: (why: string) => void): Promise<T> {
  try {
    return await p;
  } catch (err) {
    hide(err instanceof Error ? err.message : String(err));
    return fallback;
  }
}

/** Read the tree under the session's cloud. */
export async function loadTree(): Promise<CloudNode> {
  let count = 0;
  const visit = async (target: Target, name: string, id: string, parent: CloudNode | null): Promise<CloudNode> => {
    count++;
    const node: CloudNode = { id, name, target, depth: parent ? parent.depth + 1 : 0, parent, children: [], ecis: [], links: [] };
    const hide = (why: string) => (node.hidden = why);
    const [me, kids, channels, links] = await Promise.all([
      settle(target.query<{ id: string; name: string }>(WRANGLER, 'myself'), { id, name }, hide),
      settle(target.query<Array<{ name: string; eci: string; id: string }>>(WRANGLER, 'children'), [], hide),
      settle(target.query<Array<{ id: string }>>(WRANGLER, 'channels'), [], hide),
      settle(target.query<CloudNode['links']>(LINKS, 'established'), [], hide),
    ]);
    node.id = me.id;
    node.name = me.name;
    node.ecis = channels.map((c) => c.id);
    node.links = links;
    for (const k of kids) {
      if (count >= MAX_NODES) break;
      node.children.push(await visit(byEci(k.eci), k.name, k.id, node));
    }
    return node;
  };
  return visit(own, 'my cloud', '', null);
}

/** Every node of the tree, depth first. */
export function nodesOf(root: CloudNode): CloudNode[] {
  const out: CloudNode[] = [];
  const walk = (n: CloudNode) => {
    out.push(n);
    n.children.forEach(walk);
  };
  walk(root);
  return out;
}

const NS = 'http://www.w3.org/2000/svg';
const W = 140;
const H = 34;
const GAP_X = 24;
const GAP_Y = 56;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: Array<Node | string>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/**
 * The tree drawn as SVG: parents above children (each leaf its own column), links as dashed curves,
 * clouds linked from elsewhere in a column of their own. Nodes are buttons for keyboards too.
 */
export function drawTree(root: CloudNode, selected: CloudNode | null, select: (n: CloudNode) => void): SVGSVGElement {
  const pos = new Map<CloudNode, { x: number; y: number }>();
  let column = 0;
  const place = (n: CloudNode): number => {
    const xs = n.children.map(place);
    const x = xs.length === 0 ? column++ * (W + GAP_X) : (xs[0]! + xs[xs.length - 1]!) / 2;
    pos.set(n, { x, y: n.depth * (H + GAP_Y) });
    return x;
  };
  place(root);
  const nodes = nodesOf(root);
  const owner = new Map<string, CloudNode>();
  for (const n of nodes) for (const e of n.ecis) owner.set(e, n);
  const remote: Array<{ label: string; from: CloudNode }> = [];
  const links: Array<[CloudNode, { x: number; y: number }]> = [];
  const remoteX = column * (W + GAP_X);
  for (const n of nodes) {
    for (const l of n.links) {
      const to = owner.get(l.Tx);
      if (to) {
        if (nodes.indexOf(to) > nodes.indexOf(n)) links.push([n, pos.get(to)!]);
      } else {
        const at = { x: remoteX, y: remote.length * (H + GAP_Y / 2) };
        remote.push({ label: l.Tx_host ?? 'a cloud elsewhere', from: n });
        links.push([n, at]);
      }
    }
  }
  const width = (column + (remote.length > 0 ? 1 : 0)) * (W + GAP_X);
  const height = Math.max(...[...pos.values()].map((p) => p.y), (remote.length - 1) * (H + GAP_Y / 2)) + H + 8;
  const out = svg('svg', { class: 'tree', width: width + 8, viewBox: `-4 -4 ${width + 8} ${height + 8}`, role: 'group', 'aria-label': 'the cloud tree' });
  for (const n of nodes) {
    if (!n.parent) continue;
    const a = pos.get(n.parent)!;
    const b = pos.get(n)!;
    out.append(svg('path', { class: 'edge', d: `M${a.x + W / 2},${a.y + H} C${a.x + W / 2},${a.y + H + GAP_Y / 2} ${b.x + W / 2},${b.y - GAP_Y / 2} ${b.x + W / 2},${b.y}` }));
  }
  for (const [from, to] of links) {
    const a = pos.get(from)!;
    out.append(svg('path', { class: 'link', d: `M${a.x + W},${a.y + H / 2} C${a.x + W + 40},${a.y + H / 2} ${to.x - 40},${to.y + H / 2} ${to.x},${to.y + H / 2}` }));
  }
  for (const r of remote) {
    const at = { x: remoteX, y: remote.indexOf(r) * (H + GAP_Y / 2) };
    out.append(svg('g', { class: 'node remote', transform: `translate(${at.x},${at.y})` }, svg('rect', { width: W, height: H, rx: 6 }), svg('text', { x: 8, y: 21 }, short(r.label, 20))));
  }
  for (const n of nodes) {
    const p = pos.get(n)!;
    const g = svg(
      'g',
      { class: `node${n === selected ? ' selected' : ''}`, transform: `translate(${p.x},${p.y})`, tabindex: 0, role: 'button', 'aria-label': `cloud ${n.name}`, 'data-cloud': n.name },
      svg('title', {}, `${n.name} (${n.id})`),
      svg('rect', { width: W, height: H, rx: 6 }),
      svg('text', { x: 8, y: 21 }, short(n.name, 18)),
    );
    g.addEventListener('click', () => select(n));
    g.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        select(n);
      }
    });
    out.append(g);
  }
  return out;
}

function short(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
