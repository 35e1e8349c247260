/**
 * Orbital geometry and solar power for data centers in orbit, with a cylindrical Earth shadow.
 * Formulas: ../shared/data/capacity.md §3 (orbital period from μ, the critical beta angle, and
 * the eclipse fraction of each orbit); β through the year from the Sun's position and the
 * orbit's node; energy balanced over each orbit (the battery charges only from the array's
 * surplus, with its losses and depth of discharge); a radiator that sees the Earth.
 */

export const EARTH_RADIUS_KM = 6_378.137;
export const MU_KM3_S2 = 398_600.4418;
export const SOLAR_CONSTANT_W_M2 = 1_361;
export const STEFAN_BOLTZMANN = 5.670374419e-8;

export function orbitalPeriodS(altitudeKm: number): number {
  const r = EARTH_RADIUS_KM + altitudeKm;
  return 2 * Math.PI * Math.sqrt((r * r * r) / MU_KM3_S2);
}

/** Beyond this beta angle (radians) the orbit never enters the Earth's shadow. */
export function criticalBetaRad(altitudeKm: number): number {
  return Math.asin(EARTH_RADIUS_KM / (EARTH_RADIUS_KM + altitudeKm));
}

/** Share of each orbit spent in eclipse, for a beta angle in radians. */
export function eclipseFraction(altitudeKm: number, betaRad: number): number {
  if (Math.abs(betaRad) >= criticalBetaRad(altitudeKm)) return 0;
  const h = altitudeKm;
  const r = EARTH_RADIUS_KM + h;
  const x = Math.sqrt(h * h + 2 * EARTH_RADIUS_KM * h) / (r * Math.cos(betaRad));
  return Math.acos(Math.min(1, x)) / Math.PI;
}

/**
 * Whether the satellite is in the shadow cylinder at orbital phase θ (radians from the point
 * nearest the Sun): the direct geometric test the analytic fraction above summarises.
 */
export function inShadow(altitudeKm: number, betaRad: number, phaseRad: number): boolean {
  const r = EARTH_RADIUS_KM + altitudeKm;
  // Sun along +x; orbit plane tilted by beta from the Sun vector.
  const x = r * Math.cos(phaseRad) * Math.cos(betaRad);
  const y = r * Math.sin(phaseRad);
  const z = r * Math.cos(phaseRad) * Math.sin(betaRad);
  return x < 0 && Math.sqrt(y * y + z * z) < EARTH_RADIUS_KM;
}

export interface SolarArray {
  areaM2: number;
  /** Cell efficiency at launch, 0.28–0.32 for triple-junction space cells. */
  efficiency: number;
  /** Share of output lost per year in orbit (radiation, thermal cycling); 0 = none. */
  degradationPerYear?: number;
  /** Years in orbit so far (degradation compounds over them). */
  ageYears?: number;
}

export interface Battery {
  /** Nameplate energy, watt-hours. */
  capacityWh: number;
  /** Share of the nameplate a cycle may use (cycle life: 0.2–0.4 in low orbit's ~5,500 cycles a year). */
  depthOfDischarge: number;
  /** Energy stored per watt-hour of array surplus, and delivered per watt-hour drawn. */
  chargeEfficiency: number;
  dischargeEfficiency: number;
}

/** Earth's mean outgoing infrared at the top of the atmosphere (W/m²) and its Bond albedo. */
export const EARTH_IR_W_M2 = 237;
export const EARTH_ALBEDO = 0.3;

export interface Radiator {
  /** Two-sided panel area (each side radiates). */
  areaM2: number;
  temperatureK: number;
  emissivity?: number;
  /** Solar absorptance of the coating (white paint, OSR: 0.1–0.25): what reflected sunlight heats. */
  absorptance?: number;
  /**
   * How much of each side's view is the Earth (0–1 per side). Default: one side faces nadir,
   * seeing the Earth's disc ((R/r)²), the other faces space.
   */
  earthViewFactors?: readonly [number, number];
}

export interface OrbitalPowerSystem {
  altitudeKm: number;
  betaRad: number;
  array: SolarArray;
  battery: Battery;
  /** Omitted: heat is not the limit. */
  radiator?: Radiator;
  /** All-in watts per GPU (host, network, thermal control). */
  wattsPerGpu: number;
  installedGpus: number;
}

/** View factor of a plate facing nadir to the Earth's disc. */
export function nadirViewFactor(altitudeKm: number): number {
  return (EARTH_RADIUS_KM / (EARTH_RADIUS_KM + altitudeKm)) ** 2;
}

/**
 * Heat a two-sided radiator rejects, per side `ε σ T⁴` less what it absorbs from the Earth it
 * sees: its infrared (ε F × 237 W/m²) and, in sunlight, its reflected sunlight (α F × 0.3 ×
 * 1361 W/m², taken at the sub-solar worst case). The 3 K background is negligible. Every watt
 * the GPUs draw must leave this way.
 */
export function radiatorRejectionW(radiator: Radiator, altitudeKm: number, sunlit = true): number {
  const emissivity = radiator.emissivity ?? 0.9;
  const absorptance = radiator.absorptance ?? 0.2;
  const [a, b] = radiator.earthViewFactors ?? [nadirViewFactor(altitudeKm), 0];
  const side = (view: number) =>
    emissivity * STEFAN_BOLTZMANN * radiator.temperatureK ** 4 -
    view * (emissivity * EARTH_IR_W_M2 + (sunlit ? absorptance * EARTH_ALBEDO * SOLAR_CONSTANT_W_M2 : 0));
  return radiator.areaM2 * Math.max(0, side(a) + side(b));
}

/** Array output in full sun, kept facing the Sun, after its years of degradation. */
export function sunlitPowerW(array: SolarArray): number {
  const aged = (1 - (array.degradationPerYear ?? 0)) ** (array.ageYears ?? 0);
  return array.areaM2 * array.efficiency * SOLAR_CONSTANT_W_M2 * aged;
}

/** One orbit's energy, balanced: what the array collects, stores, and what the GPUs draw. */
export interface OrbitBalance {
  eclipseFraction: number;
  periodS: number;
  /** GPUs running in sunlight and through the eclipse. */
  sunGpus: number;
  eclipseGpus: number;
  /** What binds each: the GPUs installed, the radiator, the array, the battery's usable energy. */
  sunLimit: "installed" | "radiator" | "array";
  eclipseLimit: "installed" | "radiator" | "array surplus" | "battery" | "none";
  /** Per orbit, watt-hours. */
  collectedWh: number;
  /** Array output spent charging the battery (the surplus used). */
  chargingWh: number;
  /** Energy stored and drawn back out through the eclipse. */
  drawnFromBatteryWh: number;
  servedWh: number;
  /** The battery's state of charge (share of nameplate) entering and leaving the eclipse. */
  stateOfCharge: { eclipseStart: number; eclipseEnd: number };
  averageGpus: number;
}

/**
 * The orbit in steady state: the battery leaves each eclipse as low as it may and is recharged
 * only from the array's surplus in sunlight, so every watt-hour served in eclipse was collected
 * in sunlight first, less the charge and discharge losses. GPUs in sunlight come first: an hour
 * of GPU in sunlight costs one hour of array output, in eclipse 1/(η_c η_d) of it.
 */
export function balanceOrbit(system: OrbitalPowerSystem): OrbitBalance {
  const { altitudeKm, betaRad, battery, wattsPerGpu: w } = system;
  const periodS = orbitalPeriodS(altitudeKm);
  const dark = eclipseFraction(altitudeKm, betaRad);
  const sunH = ((1 - dark) * periodS) / 3600;
  const darkH = (dark * periodS) / 3600;
  const arrayW = sunlitPowerW(system.array);
  const heat = (sunlit: boolean) =>
    system.radiator
      ? Math.floor(radiatorRejectionW(system.radiator, altitudeKm, sunlit) / w)
      : Number.POSITIVE_INFINITY;
  const byArray = Math.floor(arrayW / w);
  const sunGpus = Math.min(system.installedGpus, heat(true), byArray);
  const sunLimit =
    sunGpus === byArray ? "array" : sunGpus === system.installedGpus ? "installed" : "radiator";
  const usableWh = battery.capacityWh * battery.depthOfDischarge;
  const storableWh = Math.min(usableWh, (arrayW - sunGpus * w) * sunH * battery.chargeEfficiency);
  let eclipseGpus = 0;
  let eclipseLimit: OrbitBalance["eclipseLimit"] = "none";
  if (darkH > 0) {
    const byBattery = Math.floor((storableWh * battery.dischargeEfficiency) / (w * darkH));
    eclipseGpus = Math.min(system.installedGpus, heat(false), byBattery);
    eclipseLimit =
      eclipseGpus === byBattery
        ? storableWh >= usableWh
          ? "battery"
          : "array surplus"
        : eclipseGpus === system.installedGpus
          ? "installed"
          : "radiator";
  }
  const drawnFromBatteryWh = darkH > 0 ? (eclipseGpus * w * darkH) / battery.dischargeEfficiency : 0;
  const full = battery.capacityWh;
  const floorWh = full - usableWh;
  const servedWh = sunGpus * w * sunH + eclipseGpus * w * darkH;
  return {
    eclipseFraction: dark,
    periodS,
    sunGpus,
    eclipseGpus,
    sunLimit,
    eclipseLimit,
    collectedWh: arrayW * sunH,
    chargingWh: drawnFromBatteryWh / battery.chargeEfficiency,
    drawnFromBatteryWh,
    servedWh,
    stateOfCharge: {
      eclipseStart: full > 0 ? (floorWh + drawnFromBatteryWh) / full : 0,
      eclipseEnd: full > 0 ? floorWh / full : 0,
    },
    averageGpus: sunGpus * (1 - dark) + eclipseGpus * dark,
  };
}

/** GPUs that can run at a moment of the orbit (phase from the point nearest the Sun). */
export function gpusOnlineAt(system: OrbitalPowerSystem, phaseRad: number): number {
  const balance = balanceOrbit(system);
  return inShadow(system.altitudeKm, system.betaRad, phaseRad) ? balance.eclipseGpus : balance.sunGpus;
}

/** GPUs online averaged over one orbit, by walking it. */
export function averageGpusOnline(system: OrbitalPowerSystem, samples = 3_600): number {
  const balance = balanceOrbit(system);
  let total = 0;
  for (let i = 0; i < samples; i++)
    total += inShadow(system.altitudeKm, system.betaRad, (2 * Math.PI * i) / samples)
      ? balance.eclipseGpus
      : balance.sunGpus;
  return total / samples;
}

// --- The orbit through the year -------------------------------------------------------------

const OBLIQUITY_RAD = (23.439 * Math.PI) / 180;
const J2000_MS = Date.UTC(2000, 0, 1, 12);
const DAY_MS = 86_400_000;
const rad = (degrees: number) => (degrees * Math.PI) / 180;

/** The Sun's ecliptic longitude and right ascension (radians), from the low-precision almanac formulas. */
export function sunPosition(atMs: number): { longitudeRad: number; rightAscensionRad: number } {
  const d = (atMs - J2000_MS) / DAY_MS;
  const meanLongitude = 280.46 + 0.9856474 * d;
  const anomaly = rad(357.528 + 0.9856003 * d);
  const longitudeRad = rad(meanLongitude + 1.915 * Math.sin(anomaly) + 0.02 * Math.sin(2 * anomaly));
  const rightAscensionRad = Math.atan2(
    Math.cos(OBLIQUITY_RAD) * Math.sin(longitudeRad),
    Math.cos(longitudeRad),
  );
  return { longitudeRad, rightAscensionRad };
}

/**
 * A sun-synchronous orbit's inclination: its node precesses (J2) once a year with the Sun,
 * cos i = −(a / 12,352 km)^3.5 for a circular orbit.
 */
export function sunSynchronousInclinationRad(altitudeKm: number): number {
  return Math.acos(-(((EARTH_RADIUS_KM + altitudeKm) / 12_352) ** 3.5));
}

/**
 * The β angle (between the orbit plane and the Sun) of an orbit with inclination i and
 * ascending node Ω: sin β = cos Γ sin Ω sin i − sin Γ cos ε cos Ω sin i + sin Γ sin ε cos i.
 */
export function betaAngleRad(atMs: number, inclinationRad: number, raanRad: number): number {
  const { longitudeRad: g } = sunPosition(atMs);
  const si = Math.sin(inclinationRad);
  const sinBeta =
    Math.cos(g) * Math.sin(raanRad) * si -
    Math.sin(g) * Math.cos(OBLIQUITY_RAD) * Math.cos(raanRad) * si +
    Math.sin(g) * Math.sin(OBLIQUITY_RAD) * Math.cos(inclinationRad);
  return Math.asin(Math.max(-1, Math.min(1, sinBeta)));
}

/**
 * β of a sun-synchronous orbit at `atMs`, given its local time of the ascending node (hours;
 * 6 or 18 is dawn–dusk, 10:30 a morning imaging orbit): the node keeps that angle to the Sun's
 * right ascension all year, while the Sun's declination swings β through the seasons.
 */
export function sunSynchronousBetaRad(atMs: number, altitudeKm: number, ltanHours: number): number {
  const raan = sunPosition(atMs).rightAscensionRad + rad((ltanHours - 12) * 15);
  return betaAngleRad(atMs, sunSynchronousInclinationRad(altitudeKm), raan);
}
