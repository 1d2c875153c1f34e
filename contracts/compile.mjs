// Compile contracts/src and contracts/test with the pinned solc (npm `solc` 0.8.28, standard
// JSON) and write one artifact per contract: contracts/build/<Name>.json for src/,
// contracts/build/test/<Name>.json for test/, each {contractName, sourceName, compiler, abi,
// bytecode, deployedBytecode} with 0x-prefixed hex.
//
//   node contracts/compile.mjs           write the artifacts
//   node contracts/compile.mjs --check   exit 1 when the committed artifacts are stale
//
// solc is loaded from the pinned tools folder: $PROVERNET_TOOLS, else ~/.cache/provernet/tools
// (the same rule as node/tools.py).
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SOLC_VERSION = "0.8.28";
const HERE = path.dirname(fileURLToPath(import.meta.url));
const BUILD = path.join(HERE, "build");
const SOURCE_DIRS = { src: BUILD, test: path.join(BUILD, "test") };
const SETTINGS = {
  // 200 runs: solc's default trade-off between deployment and call cost.
  optimizer: { enabled: true, runs: 200 },
  // cancun: transient storage (EIP-1153) for the reentrancy guards; anvil 1.7.1 runs it.
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"], "": ["ast"] } },
};

function loadSolc() {
  const tools = process.env.PROVERNET_TOOLS || path.join(os.homedir(), ".cache", "provernet", "tools");
  const require = createRequire(path.join(path.resolve(tools), "node_modules", "noop.js"));
  const solc = require("solc");
  const version = solc.version();
  if (!version.startsWith(SOLC_VERSION + "+")) {
    throw new Error(`solc ${SOLC_VERSION} is pinned, found ${version}`);
  }
  return solc;
}

function readSources() {
  const sources = {};
  for (const dir of Object.keys(SOURCE_DIRS)) {
    for (const name of fs.readdirSync(path.join(HERE, dir)).sort()) {
      if (name.endsWith(".sol")) {
        sources[`${dir}/${name}`] = { content: fs.readFileSync(path.join(HERE, dir, name), "utf8") };
      }
    }
  }
  return sources;
}

function compile(solc, sources) {
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (errors.length) throw new Error(`${errors.length} compile error(s)`);
  return output;
}

// Deployable contracts only: interfaces and libraries are inlined into their users.
function deployable(ast) {
  return new Set(
    ast.nodes
      .filter((n) => n.nodeType === "ContractDefinition" && n.contractKind === "contract" && !n.abstract)
      .map((n) => n.name),
  );
}

function artifacts(output) {
  const files = {};
  for (const [sourceName, contracts] of Object.entries(output.contracts)) {
    const keep = deployable(output.sources[sourceName].ast);
    const outDir = SOURCE_DIRS[sourceName.split("/")[0]];
    for (const [name, c] of Object.entries(contracts)) {
      if (!keep.has(name)) continue;
      const artifact = {
        contractName: name,
        sourceName: `contracts/${sourceName}`,
        compiler: `solc ${SOLC_VERSION}`,
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      };
      files[path.join(outDir, `${name}.json`)] = JSON.stringify(artifact, null, 2) + "\n";
    }
  }
  return files;
}

function existingArtifacts() {
  const found = [];
  for (const dir of Object.values(SOURCE_DIRS)) {
    if (!fs.existsSync(dir)) continue;
    for (const name of fs.readdirSync(dir)) {
      if (name.endsWith(".json")) found.push(path.join(dir, name));
    }
  }
  return found;
}

function main() {
  const check = process.argv.includes("--check");
  const files = artifacts(compile(loadSolc(), readSources()));
  const stale = [];
  for (const [file, text] of Object.entries(files)) {
    const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
    if (current === text) continue;
    stale.push(path.relative(HERE, file));
    if (!check) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
    }
  }
  const extra = existingArtifacts().filter((f) => !(f in files));
  for (const file of extra) {
    stale.push(path.relative(HERE, file) + " (no source)");
    if (!check) fs.rmSync(file);
  }
  if (check && stale.length) {
    console.error(`stale artifacts (run \`make contracts\`): ${stale.join(", ")}`);
    process.exit(1);
  }
  console.log(check ? "artifacts are up to date" : `${Object.keys(files).length} artifacts, ${stale.length} updated`);
}

main();
