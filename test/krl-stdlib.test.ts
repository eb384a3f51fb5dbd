import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compare, isEqual, toNumberOrNull, toPlain, toStr, typeOf } from '../rulesets/krl/values.ts';
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

describe('KRL operators and coercions (a table, through a real host)', () => {
  it('gives every row its documented value', async () => {
    const got = await evaluate(TABLE.map(([e]) => e));
    const wrong = TABLE.flatMap(([e, want], i) => (isEqual(got[i], want) && JSON.stringify(got[i]) === JSON.stringify(want) ? [] : [{ e, want, got: got[i] }]));
    expect(wrong).toEqual([]);
  });

  it('refuses what has no number with a clear error naming the values', async () => {
    expect(await evaluateError('"a" - 1')).toMatchObject({ code: 'QUERY_FAILED', message: expect.stringContaining('a is not a number') });
    expect(await evaluateError('[1].reverse().foo()')).toMatchObject({ message: expect.stringContaining('`foo` is not defined') });
    expect(await evaluateError('"x".reduce(function(a, b){ a })')).toMatchObject({ message: expect.stringContaining('.reduce() works on an Array, not String') });
    expect(await evaluateError('f = function(a){ a }; f(b = 1)')).toMatchObject({ message: expect.stringContaining('no parameter named b') });
    expect(await evaluateError('5(1)')).toMatchObject({ message: expect.stringContaining('5 is not a function') });
    expect(await evaluateError('"x".sort("sideways")')).toMatchObject({ message: expect.stringContaining('.sort() works on an Array') });
    expect(await evaluateError('[1].sort("sideways")')).toMatchObject({ message: expect.stringContaining('not "sideways"') });
    expect(await evaluateError('1.as("Hex")')).toMatchObject({ message: expect.stringContaining('cannot use .as("Hex")') });
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
