import { describe, expect, it } from 'vitest';
import { Listeners } from '../kernel/delivery/listeners.ts';

describe('listeners by key', () => {
  it('a key stays while any listener is on it, and a stale remover never drops a newer set', () => {
    const l = new Listeners<number>();
    const heard: string[] = [];
    const offA = l.add('k', (m) => heard.push(`a${m}`));
    const offB = l.add('k', (m) => heard.push(`b${m}`));
    expect(l.count('k')).toBe(2);
    offA();
    expect(l.has('k')).toBe(true);
    l.notify('k', 1);
    expect(heard).toEqual(['b1']);
    offB();
    expect(l.has('k')).toBe(false);
    expect(l.count('k')).toBe(0);
    const offC = l.add('k', (m) => heard.push(`c${m}`));
    offB(); // removed already, from the set that is gone
    offA();
    expect(l.has('k')).toBe(true);
    l.notify('k', 2);
    expect(heard).toEqual(['b1', 'c2']);
    offC();
    expect(l.has('k')).toBe(false);
  });

  it('a listener that throws does not keep the others from hearing', () => {
    const l = new Listeners<string>();
    const heard: string[] = [];
    l.add('k', () => {
      throw new Error('mine');
    });
    l.add('k', (m) => heard.push(m));
    expect(() => l.notify('k', 'x')).not.toThrow();
    expect(heard).toEqual(['x']);
    l.notify('other', 'y');
    expect(heard).toEqual(['x']);
  });
});
