import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BadKeyThrottle, throttleUnit } from "../../src/edge/bad-key-throttle.ts";

const hex = (group: number) => group.toString(16);

describe("bad-key throttle units", () => {
  test("IPv4 addresses (mapped ones too) are their own unit; IPv6 ones are their /64", () => {
    assert.equal(throttleUnit("203.0.113.5"), "203.0.113.5");
    assert.equal(throttleUnit("::ffff:203.0.113.5"), "203.0.113.5");
    assert.equal(throttleUnit("2001:db8:0:1::5"), "2001:db8:0:1::/64");
    assert.equal(throttleUnit("2001:0DB8:0000:0001:ffff:ffff:ffff:ffff"), "2001:db8:0:1::/64");
    assert.equal(throttleUnit("::1"), "0:0:0:0::/64");
    assert.equal(throttleUnit("fe80::1%eth0"), "fe80:0:0:0::/64");
    assert.equal(throttleUnit("64:ff9b::192.0.2.33"), "64:ff9b:0:0::/64");
    assert.equal(throttleUnit("not an address"), "not an address");
  });

  test("any spelling of an IPv6 address lands in the /64 of its first four groups (property)", () => {
    const group = fc.integer({ min: 0, max: 0xffff });
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const full = groups.map((g) => hex(g).padStart(4, "0")).join(":");
        // The URL parser writes the canonical, compressed form ("2001:db8::1").
        const compressed = new URL(`http://[${full}]/`).hostname.slice(1, -1);
        const expected = `${groups.slice(0, 4).map(hex).join(":")}::/64`;
        assert.equal(throttleUnit(full), expected);
        assert.equal(throttleUnit(compressed), expected, compressed);
        assert.equal(throttleUnit(full.toUpperCase()), expected);
      }),
      { numRuns: 500 },
    );
  });

  test("addresses of one /64 share a bucket; the next /64 has its own", () => {
    const throttle = new BadKeyThrottle(3, () => 0);
    for (let i = 1; i <= 3; i++) throttle.failed(`2001:db8:1:2::${i}`);
    assert.ok(throttle.retryAfterMs("2001:db8:1:2:ffff::9") > 0, "the fourth address in the /64 waits");
    assert.equal(throttle.retryAfterMs("2001:db8:1:3::1"), 0);
    assert.equal(throttle.retryAfterMs("198.51.100.1"), 0);
  });
});
