import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  averageGpusOnline,
  criticalBetaRad,
  eclipseFraction,
  gpusOnlineAt,
  inShadow,
  orbitalPeriodS,
  radiatorRejectionW,
  sunlitPowerW,
} from "../../src/capacity/orbit.ts";

const degrees = (d: number) => (d * Math.PI) / 180;

/** The eclipse fraction measured by walking the orbit and testing the shadow cylinder. */
function sampledEclipseFraction(altitudeKm: number, betaRad: number, samples = 200_000): number {
  let dark = 0;
  for (let i = 0; i < samples; i++) if (inShadow(altitudeKm, betaRad, (2 * Math.PI * i) / samples)) dark++;
  return dark / samples;
}

describe("orbits", () => {
  test("a 550 km orbit: period ≈ 95.6 min, β* ≈ 67°, eclipse ≈ 37.2% at β = 0", () => {
    assert.ok(Math.abs(orbitalPeriodS(550) / 60 - 95.6) < 0.1);
    assert.ok(Math.abs((criticalBetaRad(550) * 180) / Math.PI - 66.9) < 0.2);
    assert.ok(Math.abs(eclipseFraction(550, 0) - 0.372) < 0.001);
  });

  test("inclined low orbits: the analytic eclipse fraction matches the geometry within 1%", () => {
    for (const altitude of [400, 550, 650, 1_000]) {
      for (const beta of [0, 15, 30, 45, 60]) {
        const analytic = eclipseFraction(altitude, degrees(beta));
        const sampled = sampledEclipseFraction(altitude, degrees(beta));
        if (analytic === 0) assert.equal(sampled, 0);
        else
          assert.ok(
            Math.abs(sampled - analytic) / analytic < 0.01,
            `h ${altitude} β ${beta}: ${sampled} vs ${analytic}`,
          );
      }
    }
  });

  test("a dawn–dusk sun-synchronous orbit (β beyond β*) never enters the shadow", () => {
    for (const beta of [70, 80, 90]) {
      assert.equal(eclipseFraction(650, degrees(beta)), 0);
      assert.equal(sampledEclipseFraction(650, degrees(beta), 20_000), 0);
    }
  });

  test("power and GPUs online follow the orbit: full in sun, battery-limited in eclipse", () => {
    const system = {
      altitudeKm: 550,
      betaRad: 0,
      array: { areaM2: 10_000, efficiency: 0.3 },
      batteryWh: 1_000_000,
      wattsPerGpu: 1_500,
      installedGpus: 5_000,
    };
    assert.ok(Math.abs(sunlitPowerW(system.array) - 4.083e6) < 1e3);
    const sun = gpusOnlineAt(system, 0);
    const shade = gpusOnlineAt(system, Math.PI);
    assert.equal(sun, 2_722, "4.08 MW / 1.5 kW");
    // 1 MWh over a 35.6-minute eclipse carries 1.685 MW: 1,123 GPUs.
    assert.equal(shade, 1_123);
    const average = averageGpusOnline(system);
    const expected = sun * (1 - eclipseFraction(550, 0)) + shade * eclipseFraction(550, 0);
    assert.ok(Math.abs(average - expected) / expected < 0.01);
    const dawnDusk = { ...system, betaRad: degrees(80) };
    assert.equal(averageGpusOnline(dawnDusk), sun, "always in sun");
  });

  test("the radiator caps the GPUs a site can cool: ≈413 W/m² per side at 300 K", () => {
    assert.ok(Math.abs(radiatorRejectionW(1, 300) / 2 - 413.4) < 0.5);
    const system = {
      altitudeKm: 650,
      betaRad: degrees(85),
      array: { areaM2: 10_000, efficiency: 0.3 },
      batteryWh: 0,
      wattsPerGpu: 1_500,
      installedGpus: 5_000,
      radiator: { areaM2: 1_000, temperatureK: 300 },
    };
    // 2 × 1,000 m² × 413 W/m² = 827 kW of heat: 551 GPUs, though the array could feed 2,722.
    assert.equal(gpusOnlineAt(system, 0), 551);
    assert.equal(gpusOnlineAt({ ...system, radiator: { areaM2: 10_000, temperatureK: 300 } }, 0), 2_722);
  });
});
