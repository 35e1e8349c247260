import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  averageGpusOnline,
  balanceOrbit,
  criticalBetaRad,
  eclipseFraction,
  gpusOnlineAt,
  inShadow,
  nadirViewFactor,
  orbitalPeriodS,
  radiatorRejectionW,
  sunlitPowerW,
  sunSynchronousBetaRad,
  sunSynchronousInclinationRad,
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

  const lossless = {
    capacityWh: 1_000_000,
    depthOfDischarge: 1,
    chargeEfficiency: 1,
    dischargeEfficiency: 1,
  };

  test("power follows the orbit: sunlight first, the eclipse on what the array's surplus stored", () => {
    const system = {
      altitudeKm: 550,
      betaRad: 0,
      array: { areaM2: 10_000, efficiency: 0.3 },
      battery: lossless,
      wattsPerGpu: 1_500,
      installedGpus: 2_000,
    };
    assert.ok(Math.abs(sunlitPowerW(system.array) - 4.083e6) < 1e3);
    const sunH = ((1 - eclipseFraction(550, 0)) * orbitalPeriodS(550)) / 3600;
    const darkH = (eclipseFraction(550, 0) * orbitalPeriodS(550)) / 3600;
    assert.equal(gpusOnlineAt(system, 0), 2_000, "all installed GPUs in sunlight");
    // The surplus (4.08 − 3.0 MW for an hour) would store more than the 1 MWh battery holds.
    assert.ok((4.083e6 - 3e6) * sunH > 1e6);
    assert.equal(gpusOnlineAt(system, Math.PI), Math.floor(1e6 / (1_500 * darkH)));
    assert.equal(balanceOrbit(system).eclipseLimit, "battery");
    // With every GPU the array can feed running in sunlight, nothing is left to store: the
    // battery can carry no one through the eclipse (the old model assumed it full).
    const busy = { ...system, installedGpus: 5_000 };
    assert.equal(gpusOnlineAt(busy, 0), 2_722, "4.08 MW / 1.5 kW");
    assert.equal(gpusOnlineAt(busy, Math.PI), 0);
    assert.equal(balanceOrbit(busy).eclipseLimit, "array surplus");
    const average = averageGpusOnline(system);
    const balance = balanceOrbit(system);
    assert.ok(Math.abs(average - balance.averageGpus) / balance.averageGpus < 0.01);
    assert.equal(averageGpusOnline({ ...system, betaRad: degrees(80) }), 2_000, "always in sun");
  });

  test("losses and depth of discharge shrink the eclipse; degradation shrinks the array", () => {
    const system = {
      altitudeKm: 550,
      betaRad: 0,
      array: { areaM2: 10_000, efficiency: 0.3 },
      battery: lossless,
      wattsPerGpu: 1_500,
      installedGpus: 2_000,
    };
    const full = balanceOrbit(system).eclipseGpus;
    const shallow = balanceOrbit({ ...system, battery: { ...lossless, depthOfDischarge: 0.3 } }).eclipseGpus;
    const lossy = balanceOrbit({
      ...system,
      battery: { ...lossless, chargeEfficiency: 0.9, dischargeEfficiency: 0.9 },
    }).eclipseGpus;
    assert.ok(Math.abs(shallow - 0.3 * full) <= 1, `${shallow} vs 0.3 × ${full}`);
    // 0.9 in and 0.9 out: the surplus (≈1.08 MWh) stores ≈0.975 MWh, which delivers ≈0.878 MWh.
    const sunH = ((1 - eclipseFraction(550, 0)) * orbitalPeriodS(550)) / 3600;
    const darkH = (eclipseFraction(550, 0) * orbitalPeriodS(550)) / 3600;
    const stored = Math.min(1e6, (sunlitPowerW(system.array) - 2_000 * 1_500) * sunH * 0.9);
    assert.equal(lossy, Math.floor((stored * 0.9) / (1_500 * darkH)));
    assert.ok(lossy < full);
    const aged = { ...system.array, degradationPerYear: 0.02, ageYears: 5 };
    assert.ok(Math.abs(sunlitPowerW(aged) / sunlitPowerW(system.array) - 0.98 ** 5) < 1e-12);
  });

  test("energy balances over an orbit: served never exceeds collected times efficiencies, the charge stays in bounds", () => {
    fc.assert(
      fc.property(
        fc.record({
          altitudeKm: fc.integer({ min: 300, max: 2_000 }),
          betaDeg: fc.double({ min: -89, max: 89, noNaN: true }),
          areaM2: fc.integer({ min: 100, max: 200_000 }),
          capacityWh: fc.integer({ min: 0, max: 50_000_000 }),
          depthOfDischarge: fc.double({ min: 0.05, max: 1, noNaN: true }),
          chargeEfficiency: fc.double({ min: 0.5, max: 1, noNaN: true }),
          dischargeEfficiency: fc.double({ min: 0.5, max: 1, noNaN: true }),
          installedGpus: fc.integer({ min: 0, max: 100_000 }),
          wattsPerGpu: fc.integer({ min: 500, max: 3_000 }),
        }),
        (p) => {
          const battery = {
            capacityWh: p.capacityWh,
            depthOfDischarge: p.depthOfDischarge,
            chargeEfficiency: p.chargeEfficiency,
            dischargeEfficiency: p.dischargeEfficiency,
          };
          const system = {
            altitudeKm: p.altitudeKm,
            betaRad: degrees(p.betaDeg),
            array: { areaM2: p.areaM2, efficiency: 0.3 },
            battery,
            wattsPerGpu: p.wattsPerGpu,
            installedGpus: p.installedGpus,
          };
          const b = balanceOrbit(system);
          const periodH = orbitalPeriodS(p.altitudeKm) / 3600;
          const sunH = (1 - b.eclipseFraction) * periodH;
          const darkH = b.eclipseFraction * periodH;
          const servedSun = b.sunGpus * p.wattsPerGpu * sunH;
          const servedDark = b.eclipseGpus * p.wattsPerGpu * darkH;
          const tolerance = 1e-6 * Math.max(1, b.collectedWh);
          // Sunlight feeds the GPUs and the charger; the eclipse only what the charger stored.
          assert.ok(servedSun + b.chargingWh <= b.collectedWh + tolerance);
          assert.ok(servedDark <= b.chargingWh * p.chargeEfficiency * p.dischargeEfficiency + tolerance);
          assert.ok(b.servedWh <= servedSun + servedDark + tolerance);
          assert.ok(b.drawnFromBatteryWh <= p.capacityWh * p.depthOfDischarge + tolerance);
          // Walking the orbit minute by minute: the charge never leaves [floor, full] and ends
          // each orbit where it began.
          const floor = p.capacityWh * (1 - p.depthOfDischarge);
          let charge = floor + b.drawnFromBatteryWh;
          const steps = 600;
          const dtH = periodH / steps;
          const arrayW = sunlitPowerW(system.array);
          // Start at the eclipse's first step: phase π minus half the eclipse.
          const phase0 = Math.PI - Math.PI * b.eclipseFraction + 1e-9;
          for (let i = 0; i < steps; i++) {
            const phase = phase0 + (2 * Math.PI * (i + 0.5)) / steps;
            if (inShadow(p.altitudeKm, system.betaRad, phase)) {
              charge -= (b.eclipseGpus * p.wattsPerGpu * dtH) / p.dischargeEfficiency;
            } else {
              const surplus = arrayW - b.sunGpus * p.wattsPerGpu;
              assert.ok(surplus >= -1e-6, "sunlit GPUs never draw on the battery");
              charge = Math.min(p.capacityWh, charge + surplus * dtH * p.chargeEfficiency);
            }
            assert.ok(charge >= floor - 0.02 * Math.max(1, b.drawnFromBatteryWh) - 1e-6, "below the floor");
          }
          assert.ok(charge >= floor + b.drawnFromBatteryWh - 0.02 * Math.max(1, b.drawnFromBatteryWh) - 1e-6);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a radiator that sees the Earth rejects less than one facing deep space", () => {
    const space = { areaM2: 1, temperatureK: 300, earthViewFactors: [0, 0] as const };
    assert.ok(Math.abs(radiatorRejectionW(space, 650) / 2 - 413.4) < 0.5, "≈413 W/m² per side at 300 K");
    const view = nadirViewFactor(650);
    assert.ok(Math.abs(view - 0.8236) < 1e-3);
    // The nadir side takes in Earth's infrared (ε F 237 W/m²) and, in sunlight, its albedo.
    const sunlit = radiatorRejectionW({ areaM2: 1, temperatureK: 300 }, 650, true);
    const eclipsed = radiatorRejectionW({ areaM2: 1, temperatureK: 300 }, 650, false);
    assert.ok(Math.abs(eclipsed - (2 * 413.4 - view * 0.9 * 237)) < 1);
    assert.ok(Math.abs(sunlit - (eclipsed - view * 0.2 * 0.3 * 1361)) < 1);
    assert.ok(sunlit < eclipsed && eclipsed < 2 * 413.4);
  });

  test("the radiator caps the GPUs a site can cool", () => {
    const system = {
      altitudeKm: 650,
      betaRad: degrees(85),
      array: { areaM2: 10_000, efficiency: 0.3 },
      battery: { ...lossless, capacityWh: 0 },
      wattsPerGpu: 1_500,
      installedGpus: 5_000,
      radiator: { areaM2: 1_000, temperatureK: 300 },
    };
    const heat = radiatorRejectionW(system.radiator, 650, true);
    assert.equal(gpusOnlineAt(system, 0), Math.floor(heat / 1_500));
    assert.equal(balanceOrbit(system).sunLimit, "radiator");
    assert.equal(gpusOnlineAt({ ...system, radiator: { areaM2: 10_000, temperatureK: 300 } }, 0), 2_722);
  });
});

describe("the orbit through the year", () => {
  const year = (ltan: number, altitude = 650) =>
    Array.from({ length: 365 }, (_, d) =>
      sunSynchronousBetaRad(Date.UTC(2028, 0, 1) + d * 86_400_000, altitude, ltan),
    );

  test("a sun-synchronous orbit's inclination: ≈98° at 650 km", () => {
    assert.ok(Math.abs((sunSynchronousInclinationRad(650) * 180) / Math.PI - 97.99) < 0.05);
  });

  test("a dawn–dusk orbit at 650 km has an eclipse season of weeks around one solstice, sun all the rest", () => {
    const betas = year(18);
    const eclipsedDays = betas.filter((beta) => eclipseFraction(650, beta) > 0).length;
    assert.ok(eclipsedDays > 30 && eclipsedDays < 150, `${eclipsedDays} days with eclipses`);
    // β's least: 90° − (i − 90°) − ε ≈ 58.6°.
    const least = Math.min(...betas.map(Math.abs));
    assert.ok(Math.abs((least * 180) / Math.PI - 58.6) < 1.5, `least β ${(least * 180) / Math.PI}`);
    // The season is around the June solstice for a node at 18:00, around December's at 06:00.
    const june = betas[172] as number;
    const december = betas[355] as number;
    assert.ok(eclipseFraction(650, june) > 0 && eclipseFraction(650, december) === 0);
    const dawn = year(6);
    assert.ok(
      eclipseFraction(650, dawn[355] as number) > 0 && eclipseFraction(650, dawn[172] as number) === 0,
    );
  });

  test("a noon orbit keeps β near 0 all year (eclipsed every orbit)", () => {
    for (const beta of year(12)) assert.ok(Math.abs(beta) < degrees(5));
  });
});
