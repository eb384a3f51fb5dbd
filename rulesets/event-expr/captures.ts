import type { Aggregate, Captures, ExprLike } from './expr.ts';

/**
 * The captures an expression binds, as types. Every expression type carries them in a property
 * that exists only for the compiler, so a rule's `ctx.captures` is typed from its `select`:
 * `setting` names are `string | undefined` (a group that did not take part is `undefined`),
 * max/min/sum/avg are numbers, push is an array. Named regex groups are not typed.
 */

/** Never present at run time: only the key of the compiler's property. */
export declare const capturesType: unique symbol;

/** The compiler-only property carrying the captures `C`. */
export interface Binds<C> {
  readonly [capturesType]?: C;
}

/** No captures: the object type with no keys. */
export type NoCaptures = Record<never, never>;

/** The typed captures of an expression ({@link NoCaptures} for shorthand strings and untyped expressions). */
export type CapturesOf<E> = E extends string ? NoCaptures : E extends Binds<infer C> ? (unknown extends C ? NoCaptures : C) : NoCaptures;

type Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Everything the expressions bind (all of them fired). */
export type AllOf<A extends readonly ExprLike[]> = Flat<Intersection<CapturesOf<A[number]>>>;

/** What the expressions bind when only some of them fired. */
export type SomeOf<A extends readonly ExprLike[]> = Partial<AllOf<A>>;

/** The captures `setting` names bind. */
export type Setting<N extends string> = { [K in N]: string | undefined };

type Field<A, K extends string> = K extends keyof A ? A[K] : never;
type NameOf<X> = X extends string ? X : X extends readonly (infer U)[] ? Extract<U, string> : never;

/** The captures an aggregate binds. */
export type Aggregated<A extends Aggregate> = Flat<
  { [K in NameOf<Field<A, 'max' | 'min' | 'sum' | 'avg'>>]: number } & {
    [K in NameOf<Field<A, 'push'>>]: A extends { of: unknown } ? unknown[] : Array<string | undefined>;
  }
>;

/** A rule's captures: the typed ones, and any others by name (named regex groups). */
export type RuleCaptures<C> = Readonly<C> & Readonly<Captures>;

type Flat<T> = { [K in keyof T]: T[K] };
