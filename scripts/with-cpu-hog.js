#!/usr/bin/env node
// Runs a command while a busy loop holds one core, the way a busy CI machine would: the
// project's tests must pass on such a machine, since none of them may depend on its speed.
// Usage: node scripts/with-cpu-hog.js <command> [args...]   (the exit code is the command's)
import { spawn } from "node:child_process";

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error("usage: node scripts/with-cpu-hog.js <command> [args...]");
  process.exit(2);
}

const hog = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
console.error(`cpu hog running (pid ${hog.pid}); running: ${[command, ...args].join(" ")}`);
const stopHog = () => {
  if (hog.exitCode === null) hog.kill("SIGKILL");
};
process.on("exit", stopHog);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    stopHog();
    process.exit(130);
  });
}

const child = spawn(command, args, { stdio: "inherit", shell: process.platform === "win32" });
child.on("exit", (code, signal) => {
  stopHog();
  console.error("cpu hog stopped");
  process.exit(code ?? (signal ? 1 : 0));
});
