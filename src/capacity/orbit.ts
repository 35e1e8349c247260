/**
 * Orbital geometry and solar power for data centers in orbit, with a cylindrical Earth shadow.
 * Formulas: ../shared/data/capacity.md §3 (orbital period from μ, the critical beta angle, and
 * the eclipse fraction of each orbit).
 */

export const EARTH_RADIUS_KM = 6_378.137;
export const MU_KM3_S2 = 398_600.4418;
export const SOLAR_CONSTANT_W_M2 = 1_361;
export const STEFAN_BOLTZMANN = 5.670374419e-8;

/**
 * Heat a two-sided radiator rejects to deep space, `2 × area × ε σ T⁴` (the 3 K background is
 * negligible): every watt the GPUs draw must leave this way.
 */
export function radiatorRejectionW(areaM2: number, temperatureK: number, emissivity = 0.9): number {
  return 2 * areaM2 * emissivity * STEFAN_BOLTZMANN * temperatureK ** 4;
}

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
  /** Cell efficiency, 0.28–0.32 for triple-junction space cells. */
  efficiency: number;
}

export interface OrbitalPowerSystem {
  altitudeKm: number;
  betaRad: number;
  array: SolarArray;
  /** Usable battery energy for eclipses, watt-hours. */
  batteryWh: number;
  /** Two-sided radiator area and temperature; omitted = heat is not the limit. */
  radiator?: { areaM2: number; temperatureK: number };
  /** All-in watts per GPU (host, network, thermal control). */
  wattsPerGpu: number;
  installedGpus: number;
}

/** Array output in full sun, the array kept facing the Sun. */
export function sunlitPowerW(array: SolarArray): number {
  return array.areaM2 * array.efficiency * SOLAR_CONSTANT_W_M2;
}

/**
 * GPUs that can run at a moment of the orbit: all the array powers in sunlight; in eclipse,
 * what the battery can carry through the whole eclipse.
 */
export function gpusOnlineAt(system: OrbitalPowerSystem, phaseRad: number): number {
  const heatLimit = system.radiator
    ? Math.floor(
        radiatorRejectionW(system.radiator.areaM2, system.radiator.temperatureK) / system.wattsPerGpu,
      )
    : Number.POSITIVE_INFINITY;
  const fullSun = Math.min(
    system.installedGpus,
    heatLimit,
    Math.floor(sunlitPowerW(system.array) / system.wattsPerGpu),
  );
  if (!inShadow(system.altitudeKm, system.betaRad, phaseRad)) return fullSun;
  const eclipseHours =
    (eclipseFraction(system.altitudeKm, system.betaRad) * orbitalPeriodS(system.altitudeKm)) / 3600;
  const batteryWatts = eclipseHours > 0 ? system.batteryWh / eclipseHours : Number.POSITIVE_INFINITY;
  return Math.min(fullSun, Math.floor(batteryWatts / system.wattsPerGpu));
}

/** GPUs online averaged over one orbit. */
export function averageGpusOnline(system: OrbitalPowerSystem, samples = 3_600): number {
  let total = 0;
  for (let i = 0; i < samples; i++) total += gpusOnlineAt(system, (2 * Math.PI * i) / samples);
  return total / samples;
}
