/** `headroom fleet show|timeline FILE`: the fleet's GPUs and tokens/s per model family over time. */
import type { Command } from "commander";
import { loadCalibratedCatalog } from "../capacity/calibration.ts";
import { balanceOrbit } from "../capacity/orbit.ts";
import {
  capacityAt,
  changeDates,
  orbitalSystem,
  orbitBetaRad,
  poolsOnline,
  readFleetFile,
} from "../capacity/timeline.ts";
import { registerFleetThroughput } from "./fleet-throughput.ts";
import { formatTable, UsageError } from "./options.ts";

function parseInstant(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`not an ISO date-time: ${text}`);
  return ms;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const thousands = (n: number) => Math.round(n).toLocaleString("en-US");

export function registerFleetCommand(program: Command): void {
  const fleet = program
    .command("fleet")
    .description("GPU fleets as capacity: sites, deals, orbits, tokens/s");
  registerFleetThroughput(fleet);

  fleet
    .command("show")
    .description("pools, GPUs online and tokens/s per model family at one instant")
    .argument("<file>", "fleet file (YAML)")
    .option("--at <instant>", "ISO date-time (default: now)")
    .action((file: string, options: { at?: string }) => {
      const catalog = loadCalibratedCatalog();
      const spec = readFleetFile(file, catalog);
      const at = parseInstant(options.at, Date.now());
      const pools = poolsOnline(spec, catalog, at);
      process.stdout.write(`Fleet at ${new Date(at).toISOString()}\n\n`);
      process.stdout.write(
        `${formatTable(
          ["site", "gpu", "installed", "online", "deal"],
          pools.map((pool) => [pool.site, pool.gpu, pool.installed, pool.online, pool.deal ?? ""]),
        )}\n\n`,
      );
      const orbital = spec.sites.flatMap((site) => (site.kind === "orbital" ? [site] : []));
      if (orbital.length > 0) {
        process.stdout.write(
          `${formatTable(
            [
              "orbital site",
              "β",
              "eclipse",
              "GPUs in sun",
              "bound by",
              "GPUs in eclipse",
              "bound by",
              "battery at eclipse start",
            ],
            orbital.map((site) => {
              const balance = balanceOrbit(orbitalSystem(site, at));
              return [
                site.id,
                `${((orbitBetaRad(site, at) * 180) / Math.PI).toFixed(1)}°`,
                `${(balance.eclipseFraction * 100).toFixed(1)}%`,
                balance.sunGpus,
                balance.sunLimit,
                balance.eclipseFraction > 0 ? balance.eclipseGpus : "-",
                balance.eclipseFraction > 0 ? balance.eclipseLimit : "-",
                balance.eclipseFraction > 0
                  ? `${(balance.stateOfCharge.eclipseStart * 100).toFixed(0)}%`
                  : "-",
              ];
            }),
          )}\n\n`,
        );
      }
      const capacity = capacityAt(spec, catalog, at);
      process.stdout.write(
        `${formatTable(
          ["model family", "output tokens/s"],
          Object.entries(capacity.tokensPerSecond).map(([family, tps]) => [family, Math.round(tps)]),
        )}\n`,
      );
    });

  fleet
    .command("timeline")
    .description("capacity at every date a pool joins or leaves the fleet")
    .argument("<file>", "fleet file (YAML)")
    .action((file: string) => {
      const catalog = loadCalibratedCatalog();
      const spec = readFleetFile(file, catalog);
      const families = spec.models.map((model) => model.family);
      const dates = changeDates(spec);
      const instants = [dates.length > 0 ? (dates[0] as number) - 86_400_000 : Date.now(), ...dates];
      const rows = instants.map((at) => {
        const capacity = capacityAt(spec, catalog, at);
        return [
          day(at),
          thousands(capacity.gpusOnline),
          ...families.map((family) => thousands(capacity.tokensPerSecond[family] ?? 0)),
        ];
      });
      process.stdout.write(
        `${formatTable(["from", "GPUs online", ...families.map((f) => `${f} tok/s`)], rows)}\n`,
      );
    });
}
