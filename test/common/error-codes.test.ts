import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ERROR_CODES, type ErrorCode } from "../../src/common/error-codes.ts";
import { errorFromUpstream, HeadroomError } from "../../src/common/errors.ts";

const root = new URL("../..", import.meta.url).pathname;

/** The rows of docs/errors.md's table: code, status, type, when. */
function documentedRows(): Array<[string, number, string, string]> {
  const text = readFileSync(join(root, "docs/errors.md"), "utf8");
  return text
    .split("\n")
    .filter((line) => /^\| `[a-z_]+` +\|/.test(line))
    .map((line) => {
      const cells = line
        .slice(1, -1)
        .split(" |")
        .map((cell) => cell.trim());
      return [
        (cells[0] as string).replaceAll("`", ""),
        Number(cells[1]),
        (cells[2] as string).replaceAll("`", ""),
        cells.slice(3).join(" | "),
      ];
    });
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(dir, file));
}

describe("error codes", () => {
  test("docs/errors.md lists exactly the codes in the code, with their status, type and meaning", () => {
    const fromCode = Object.entries(ERROR_CODES).map(([code, spec]) => [
      code,
      spec.status,
      spec.type,
      spec.when,
    ]);
    assert.deepEqual(documentedRows(), fromCode);
  });

  test("every code is answered somewhere: none is only in the table", () => {
    const sources = sourceFiles(join(root, "src"))
      .filter((file) => !file.endsWith("error-codes.ts"))
      .map((file) => readFileSync(file, "utf8"))
      .join("\n");
    for (const code of Object.keys(ERROR_CODES))
      assert.ok(sources.includes(`"${code}"`), `${code} is in the catalogue but no code answers with it`);
  });

  test("no error is built from a raw status: every construction names a code", () => {
    for (const file of sourceFiles(join(root, "src"))) {
      const text = readFileSync(file, "utf8");
      assert.doesNotMatch(text, /new HeadroomError\(\s*\d/, file);
    }
  });

  test("an error's status and type are its code's; an upstream's own error keeps the upstream's", () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const error = new HeadroomError(code, "m");
      assert.equal(error.status, ERROR_CODES[code].status, code);
      assert.equal(error.type, ERROR_CODES[code].type, code);
      assert.equal(error.code, code);
    }
    const passed = errorFromUpstream("overloaded_error", "busy", 529);
    assert.equal(passed.code, "upstream_error");
    assert.equal(passed.status, 529);
    assert.equal(passed.type, "overloaded_error");
    const unknown = errorFromUpstream("something_new", "odd");
    assert.equal(unknown.status, 500);
    assert.equal(unknown.type, "api_error");
  });
});
