import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compare, isEqual, toNumberOrNull, toPlain, toStr, typeOf } from '../rulesets/krl/values.ts';
import { rejection } from './fixtures.ts';
import { evaluate, evaluateError } from './krl-harness.ts';

/**
 * KRL's operators and coercions, one row each: the expression, and the value KRL's documented
 * semantics give (docs/krl.md, "Operators"). Each row is a shared function of an installed
 * ruleset, queried through a real host.
 */
const TABLE: Array<[string, unknown]> = [
  // + adds two numbers, and otherwise joins strings
  ['1 + 2', 3],
  ['"1" + 2', '12'],
  ['1 + "2"', '12'],
  ['"a" + null', 'anull'],
  ['true + 1', 'true1'],
  ['[1] + "x"', '[Array]x'],
  // - * / % read numbers: null is 0, booleans 0/1, numeric strings
  ['"5" - 2', 3],
  ['null - 1', -1],
  ['true * 3', 3],
  ['"6" / "3"', 2],
  ['7 / 0', 0],
  ['7 % 3', 1],
  ['7 % 0', 0],
  ['-(3)', -3],
  ['2 + 3 * 4 - 1', 13],
  ['(2 + 3) * 4', 20],
  ['10 - 2 - 3', 5],
  // comparisons: numbers when both sides read as numbers, else strings
  ['"10" > 9', true],
  ['"abc" < "abd"', true],
  ['"b" > "a"', true],
  ['2 <=> 10', -1],
  ['"2" <=> "10"', -1],
  ['"a" <=> "a"', 0],
  ['"2".cmp("10")', 1],
  ['1 == 1', true],
  ['1 == "1"', false],
  ['[1, {"a": 2}] == [1, {"a": 2}]', true],
  ['{"a": 1, "b": 2} == {"b": 2, "a": 1}', true],
  ['null == null', true],
  ['[1] != [2]', true],
  ['"Hello" like re#^h#i', true],
  ['"hello" like "^x"', false],
  ['[1, 2, 3] >< 2', true],
  ['{"a": 1} >< "a"', true],
  ['"abc" >< "a"', false],
  ['true && false || true', true],
  ['not true', false],
  ['null || "d"', 'd'],
  ['1 > 2 => "yes" | "no"', 'no'],
  // types
  ['null.typeof()', 'Null'],
  ['true.typeof()', 'Boolean'],
  ['1.5.typeof()', 'Number'],
  ['"s".typeof()', 'String'],
  ['[].typeof()', 'Array'],
  ['{}.typeof()', 'Map'],
  ['re#a#.typeof()', 'RegExp'],
  ['function(){1}.typeof()', 'Function'],
  ['null.isnull()', true],
  ['0.isnull()', false],
  ['"12.5".as("Number")', 12.5],
  ['"x".as("Number")', null],
  ['12.as("String")', '12'],
  ['"false".as("Boolean")', false],
  ['0.as("Boolean")', false],
  ['"a.c".as("RegExp").typeof()', 'RegExp'],
  ['re#a#gi.as("String")', 're#a#gi'],
  ['null.defaultsTo(5)', 5],
  ['0.defaultsTo(5)', 0],
  ['{"a": [1, null]}.encode()', '{"a":[1,null]}'],
  ['"[1,2]".decode()', [1, 2]],
  ['"not json".decode()', 'not json'],
  ['5.sprintf("n=%d")', 'n=5'],
  ['"x".sprintf("<%s>")', '<x>'],
  ['null.klog("seen")', null],
  // numbers
  ['65.chr()', 'A'],
  ['1.range(4)', [1, 2, 3, 4]],
  ['3.range(1)', [3, 2, 1]],
  ['1.shiftLeft(3)', 8],
  ['8.shiftRight(2)', 2],
  ['5.band(3)', 1],
  ['5.bor(3)', 7],
  ['5.bxor(3)', 6],
  ['5.bnot()', -6],
  // strings
  ['"hello".capitalize()', 'Hello'],
  ['"a1b22".extract(re#(\\d+)#)', ['1']],
  ['"a1b22".extract(re#\\d+#g)', ['1', '22']],
  ['"MiXed".lc() + "MiXed".uc()', 'mixedMIXED'],
  ['"abc".match(re#b#)', true],
  ['"abc".match(5)', false],
  ['"A".ord()', 65],
  ['"a,b,,c".split(",")', ['a', 'b', '', 'c']],
  ['"a1b2c".split(re#\\d#)', ['a', 'b', 'c']],
  ['"hello world".substr(6)', 'world'],
  ['"hello world".substr(0, 5)', 'hello'],
  ['"hello world".substr(0, -6)', 'hello'],
  ['"hello".substr(9)', ''],
  ['"  x  ".trim() + "|" + "  x".trimLeading() + "|" + "x  ".trimTrailing()', 'x|x|x'],
  ['"hello".startsWith("he") && "hello".endsWith("lo") && "hello".contains("ell")', true],
  ['"a-b-c".replace(re#-#g, "+")', 'a+b+c'],
  ['"a-b-c".replace("-", "+")', 'a+b-c'],
  ['"a1b".replace(re#(\\d)#, "<$1>")', 'a<1>b'],
  ['"cost: 5".replace(re#:#, "$$")', 'cost$ 5'],
  ['"a1b2".replace(re#\\d#g, function(m){ (m.as("Number") * 2).as("String") })', 'a2b4'],
  ['"abc".length()', 3],
  ['<<a #{1 + 1} b>>', 'a 2 b'],
  ['<<x=#{[1].length()}>>', 'x=1'],
  // collections
  ['[1, 2, 3].all(function(x){ x > 0 })', true],
  ['[1, 2, 3].notall(function(x){ x > 1 })', true],
  ['[1, 2, 3].any(function(x){ x > 2 })', true],
  ['[1, 2, 3].none(function(x){ x > 3 })', true],
  ['[1, 2].append(3)', [1, 2, 3]],
  ['[1].append([2, 3], 4)', [1, 2, 3, 4]],
  ['[1, 2, 3, 4].collect(function(x){ x % 2 == 0 => "even" | "odd" })', { odd: [1, 3], even: [2, 4] }],
  ['[1, 2, 3, 4].filter(function(x){ x > 2 })', [3, 4]],
  ['{"a": 1, "b": 5}.filter(function(v, k){ v > 2 })', { b: 5 }],
  ['[1, 2].map(function(x){ x * 10 })', [10, 20]],
  ['{"a": 1}.map(function(v, k){ k + v })', { a: 'a1' }],
  ['[7, 8].head()', 7],
  ['[7, 8, 9].tail()', [8, 9]],
  ['[7, 8, 9].index(8)', 1],
  ['[1, 2].join("-")', '1-2'],
  ['[1, 2].join()', '1,2'],
  ['[1, 2].length() + {"a": 1}.length()', 3],
  ['[].isEmpty() && {}.isEmpty() && "".isEmpty()', true],
  ['[[1, 2], [3, 4]].pairwise(function(a, b){ a + b })', [4, 6]],
  ['[1, 2, 3].reduce(function(a, b){ a + b })', 6],
  ['[1, 2, 3].reduce(function(a, b){ a + b }, 10)', 16],
  ['[].reduce(function(a, b){ a + b })', 0],
  ['[1, 2, 3].reverse()', [3, 2, 1]],
  ['[1, 2, 3, 4].slice(1, 2)', [2, 3]],
  ['[1, 2, 3, 4].slice(1)', [1, 2]],
  ['[1, 2, 3, 4].slice(2, 9)', []],
  ['[1, 2, 3, 4].splice(1, 2)', [1, 4]],
  ['[1, 2, 3].splice(1, 0, ["x"])', [1, 'x', 2, 3]],
  ['["b", "a", "c"].sort()', ['a', 'b', 'c']],
  ['["b", "a", "c"].sort("reverse")', ['c', 'b', 'a']],
  ['[10, 9, 100].sort("numeric")', [9, 10, 100]],
  ['[10, 9, 100].sort("ciremun")', [100, 10, 9]],
  ['[3, 1, 2].sort(function(a, b){ a <=> b })', [1, 2, 3]],
  ['{"a": {"b": 1, "c": 2}}.delete(["a", "b"])', { a: { c: 2 } }],
  ['{"a": 1, "b": 2}.keys()', ['a', 'b']],
  ['{"a": {"b": 1}}.keys("a")', ['b']],
  ['{"a": 1, "b": 2}.values()', [1, 2]],
  ['[1, 2, 3].intersection([2, 3, 4])', [2, 3]],
  ['[1, 2].union([2, 3])', [1, 2, 3]],
  ['[1, 2, 3].difference([2])', [1, 3]],
  ['[1, 2, 3].has([1, 3])', true],
  ['[1, 2, 2, 3].once()', [1, 3]],
  ['[1, 2, 2, 3, 3].duplicates()', [2, 3]],
  ['[1, 2, 2, 1].unique()', [1, 2]],
  ['{"a": 1}.put({"b": 2})', { a: 1, b: 2 }],
  ['{"a": 1}.put(["x", "y"], 2)', { a: 1, x: { y: 2 } }],
  ['{"a": {"b": [5, 6]}}.get(["a", "b", 1])', 6],
  ['{"a": 1}.set(["a"], 9)', { a: 9 }],
  ['{"a": {"b": 3}}{["a", "b"]}', 3],
  ['{"a": {"b": 3}}{"a"}{"b"}', 3],
  ['[5, 6][1]', 6],
  ['{"k": 1}["k"]', 1],
  ['{"k": 1}{"missing"}', null],
  // functions: defaults, named arguments, closures, recursion
  ['f = function(a, b = a * 2){ a + b }; f(1)', 3],
  ['f = function(a, b = 2){ a - b }; f(b = 1, a = 5)', 4],
  ['add = function(n){ function(m){ n + m } }; add(2)(3)', 5],
  ['fact = function(n){ n <= 1 => 1 | n * fact(n - 1) }; fact(10)', 3628800],
  ['double = function(x){ x * 2 }; 4.double()', 8],
];

/** The edges of each operator: what it answers for a value of another kind, nothing, or out of range. */
const EDGES: Array<[string, unknown]> = [
  ['"a" + [1, 2]', 'a[Array]'],
  ['null + null', 'nullnull'],
  ['1 + true', '1true'],
  ['re#x#i + ""', 're#x#i'],
  ['function(){1} + ""', '[Function]'],
  ['[1, 2] * 2', 4],
  ['{"a": 1} - 1', 0],
  ['"4" % "3"', 1],
  ['+"12"', 12],
  ['-"2"', -2],
  ['"b" >= "a" && "a" <= "a" && 2 >= 2 && not (1 >= 2)', true],
  ['1 < 1 || 2 > 2 || "a" < "a" || "b" > "b"', false],
  ['1 <= 1 && 2 >= 2 && "b" >= "b" && "a" <= "a" && not (3 <= 2) && not ("a" >= "b")', true],
  ['"a" cmp "a"', 0],
  ['"10" <=> "9"', 1],
  ['"abc" cmp "abd"', -1],
  ['"b" cmp "a"', 1],
  ['"" like ""', true],
  ['[1, [2]] >< [2]', true],
  ['re#a# == re#a#', true],
  ['re#a# == re#a#i', false],
  ['[1, 2] == [1, 2, 3]', false],
  ['{"a": 1} == {"a": 1, "b": 2}', false],
  ['{"a": 1} == [1]', false],
  ['"x".as("Boolean") && not "".as("Boolean") && 2.as("Boolean") && not null.as("Boolean")', true],
  ['true.as("Number") + false.as("Number")', 1],
  ['[1, 2, 3].as("Number")', 3],
  ['"  7 ".as("Number") + "".as("Number")', 7],
  ['[].as("Array")', []],
  ['null.sprintf("x")', 'x'],
  ['5.sprintf(null)', ''],
  // A backslash before %d keeps it: the KRL string "a\\%d" is the template a\%d.
  ['5.sprintf("a\\\\%d")', 'a%d'],
  ['5.sprintf("%d and %d")', '5 and 5'],
  ['[].sprintf("t %d")', 't %d'],
  ['"x".chr()', null],
  ['"".ord()', null],
  ['"x".range(3)', []],
  ['2.range(2)', [2]],
  ['"abc".substr("x")', 'abc'],
  // A length of 0 or less counts from the end, as in the pico engine.
  ['"abc".substr(1, 0)', 'bc'],
  ['"abcd".substr(1, -1)', 'bc'],
  ['"abc".extract(re#(z)#)', []],
  ['"ab".extract(re#(a)(z)?#)', ['a', null]],
  ['"a-b".replace(re#-#, null)', 'ab'],
  ['"aXbX".replace("X", function(m, i, s){ i.as("String") })', 'a1bX'],
  ['"abc".split("")', ['a', 'b', 'c']],
  ['"abc".contains("")', true],
  ['5.head() + [].tail().length()', 5],
  ['[].head()', null],
  ['"x".tail()', []],
  ['"x".join("-")', 'x'],
  ['[null, true, 1.5].join()', 'null,true,1.5'],
  ['5.length() + null.length()', 0],
  ['5.isEmpty() && null.isEmpty() && not {"a": 1}.isEmpty() && not [0].isEmpty() && not "a".isEmpty()', true],
  [
    '[1, [2, 3]].pairwise(function(a, b){ [a, b] })',
    [
      [1, 2],
      [null, 3],
    ],
  ],
  ['[5].reduce(function(a, b){ a + b })', 5],
  ['[5].reduce(function(a, b){ a + b }, 1)', 6],
  ['[].reduce(function(a, b){ a + b }, "d")', 'd'],
  ['[1, 2, 3].slice()', [1, 2, 3]],
  ['[1, 2, 3].slice(5)', []],
  ['[1, 2, 3].slice(2, 0)', [1, 2, 3]],
  ['[1, 2, 3].slice(-1, 1)', []],
  ['[].slice(1, 2)', []],
  ['[1, 2, 3].splice(-5, 1)', [2, 3]],
  ['[1, 2, 3].splice(1, -1)', [1]],
  ['[1, 2, 3].splice(9, 1, "x")', [1, 2, 'x']],
  ['[].splice(0, 1)', []],
  ['[1, 2].splice(0, 1, 9)', [9, 2]],
  ['["b", "a"].sort("default")', ['a', 'b']],
  ['[1, 2, 3].delete(1)', [1, 3]],
  ['[1, 2, 3].delete(9)', [1, 2, 3]],
  ['[[1, 2]].delete([0, 0])', [[2]]],
  ['{"a": 1}.delete("b")', { a: 1 }],
  ['{"a": 1}.delete([])', null],
  ['5.delete("a")', 5],
  ['5.keys() + 5.values()', '[Array][Array]'],
  ['[7, 8].keys()', ['0', '1']],
  ['{"a": [7]}.values("a")', [7]],
  ['{"a": 1}.keys("missing")', []],
  ['1.intersection(1)', [1]],
  ['[1, 2].intersection()', []],
  ['5.union(6)', [5, 6]],
  ['[1].union()', [1]],
  ['5.difference(5)', []],
  ['[1].difference()', [1]],
  ['5.has(5) && [1].has([]) && not ([1].has([1, 2]))', true],
  ['"x".once() + "x".unique()', 'xx'],
  ['"x".duplicates()', []],
  ['[1, 2, 2].duplicates()', [2]],
  ['[null, null].unique()', [null]],
  ['[1, 2].put([1], 9)', [1, 9]],
  ['[1, 2].put([2], 3)', [1, 2, 3]],
  ['[1, 2].put(["x"], 3)', { x: 3 }],
  ['5.put("a", 1)', { a: 1 }],
  ['{"a": 1}.put(2)', 2],
  ['[[1, 2]].get([0, 1])', 2],
  ['"x".get("a")', null],
  ['{"a": null}{"a"}.defaultsTo("d")', 'd'],
  ['[1, 2].map(function(x, i){ i })', [0, 1]],
  ['{"a": 1}.map()', { a: 1 }],
  ['[0, 1, 2].filter()', [1, 2]],
  ['[1, 2].collect()', { 1: [1], 2: [2] }],
  ['{"a": 1, "b": 2}.any(function(v, k){ k == "b" }) && {"a": 1}.all(function(v, k, m){ m{k} == v })', true],
  ['[].all(function(x){ false }) && not [].any(function(x){ true })', true],
  ['[[1, 2], [3]].map(function(x){ x.length() }).reduce(function(a, b){ a * b })', 2],
];

describe('KRL operators and coercions (a table, through a real host)', () => {
  it('gives every edge row its documented value', async () => {
    const got = await evaluate(EDGES.map(([e]) => e));
    const wrong = EDGES.flatMap(([e, want], i) => (isEqual(got[i], want) && JSON.stringify(got[i]) === JSON.stringify(want) ? [] : [{ e, want, got: got[i] }]));
    expect(wrong).toEqual([]);
  });

  it('gives every row its documented value', async () => {
    const got = await evaluate(TABLE.map(([e]) => e));
    const wrong = TABLE.flatMap(([e, want], i) => (isEqual(got[i], want) && JSON.stringify(got[i]) === JSON.stringify(want) ? [] : [{ e, want, got: got[i] }]));
    expect(wrong).toEqual([]);
  });

  it.each([
    ['"a" - 1', 'subtracting: a is not a number'],
    ['"a" * 2', 'multiplying: a is not a number'],
    ['"a" / 2', 'dividing: a is not a number'],
    ['5 % "x"', 'modulo: x is not a number'],
    ['-"x"', 'cannot negate x'],
    ['"x".shiftLeft(1)', 'shiftLeft: x is not a number'],
    ['1.bor("y")', 'bor: y is not a number'],
    ['[1].reverse().foo()', '`foo` is not defined'],
    ['"x".reduce(function(a, b){ a })', '.reduce() works on an Array, not String'],
    ['5.index(1)', '.index() works on an Array, not Number'],
    ['[1].slice("x")', 'slice: x is not a number'],
    ['5.map(function(x){ x })', '.map() works on an Array or a Map, not Number'],
    ['[1].pairwise(function(a){ a })', '.pairwise() needs an array of at least two'],
    ['[1].map(5)', '5 is not a function'],
    ['[1, 2].sort(function(a, b){ "x" })', 'sort: x is not a number'],
    ['f = function(a){ a }; f(b = 1)', 'no parameter named b (a)'],
    ['5(1)', '5 is not a function'],
    ['"s"(1)', '"s" is not a function'],
    ['"x".sort("sideways")', '.sort() works on an Array'],
    ['[1].sort("sideways")', 'not "sideways"'],
    ['1.as("Hex")', 'cannot use .as("Hex") on 1 (a Number)'],
    ['a = defaction(){ noop() }; a()', 'a defaction is an action: use it in an action block'],
    ['[1].map(defaction(x){ noop() })', 'a defaction is an action'],
    ['time:new("x")', 'x is not a time'],
    ['math:round(1, "x") + time:add("2026-01-01", {"days": "x"}).length()', 'answered'],
  ])('%s fails with "%s"', async (e, message) => {
    const got = await evaluateError(e);
    if (message === 'answered') return expect(got.code).toBe('NONE');
    expect(got).toMatchObject({ code: 'QUERY_FAILED', message: expect.stringContaining(message) });
  });

  it('refuses a global defined in terms of itself, and says so again the next time', async () => {
    const { krlHost, installKrl, krlRuleset } = await import('./krl-harness.ts');
    const { host, root } = await krlHost();
    await installKrl(host, root.eci, krlRuleset('test.loop', { globals: 'a = b + 1\n    b = a + 1\n    f = function() { a }', shares: ['f'] }));
    for (let i = 0; i < 2; i++) expect((await rejection(host.query({ eci: root.eci, rid: 'test.loop', name: 'f', args: {} }))).message).toContain('the global `a` is defined in terms of itself');
  });
});

describe('KRL values: properties', () => {
  const json = fc.jsonValue({ maxDepth: 3 });

  it('equality is reflexive over JSON values and ignores key order', () => {
    fc.assert(
      fc.property(json, (v) => isEqual(v, structuredClone(v))),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.integer()), (m) => isEqual(m, Object.fromEntries(Object.entries(m).reverse()))),
      { numRuns: 200 },
    );
  });

  it('a JSON value is its own plain form, and encode/decode round-trips it', () => {
    fc.assert(
      fc.property(json, (v) => isEqual(toPlain(v), v) && isEqual(JSON.parse(JSON.stringify(toPlain(v))), v)),
      { numRuns: 300 },
    );
  });

  it('comparison is antisymmetric, and numbers compare as numbers whatever their form', () => {
    const atom = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.boolean());
    fc.assert(
      fc.property(atom, atom, (a, b) => compare(a, b) === -compare(b, a)),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (a, b) => compare(String(a), b) === Math.sign(a - b)),
      { numRuns: 300 },
    );
  });

  it('every value has one KRL type, and a number reads back from its string form', () => {
    fc.assert(
      fc.property(json, (v) => ['Null', 'Boolean', 'Number', 'String', 'Array', 'Map'].includes(typeOf(v))),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => toNumberOrNull(toStr(n)) === n || Object.is(n, -0)),
      { numRuns: 300 },
    );
  });
});
