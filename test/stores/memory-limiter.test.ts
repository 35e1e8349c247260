import { MemoryLimiterStore } from "../../src/stores/memory-limiter.ts";
import { describeLimiterContract } from "./limiter-contract.ts";

describeLimiterContract("memory", async (clock) => new MemoryLimiterStore({ now: () => clock.now }));
