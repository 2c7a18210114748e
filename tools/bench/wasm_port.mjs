// Runs one MicroPython script on the WebAssembly port (32-bit, from the npm registry), with a
// board's filesystem copied into the port's in-memory filesystem; prints the script's output.
// Used by trygg bench firmware (tools/bench/firmware.py) for the 32-bit heap figures.
//
//   node wasm_port.mjs <port package folder> <board filesystem folder> <script.py> <heap bytes>
//
// The port has no sockets and no threads, so the script imports modules and measures; it
// cannot boot a board. Exit status 1 with a message on stderr when the script raises.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [packageDir, boardDir, scriptPath, heapArg] = process.argv.slice(2);
if (!packageDir || !boardDir || !scriptPath || !heapArg) {
  process.stderr.write("usage: node wasm_port.mjs <package> <board fs> <script.py> <heap bytes>\n");
  process.exit(2);
}
const entry = pathToFileURL(path.join(packageDir, "micropython.mjs")).href;
const { loadMicroPython } = await import(entry);
const mp = await loadMicroPython({
  heapsize: Number(heapArg),
  linebuffer: true,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyInto(dir, dest) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const src = path.join(dir, e.name);
    const dst = dest + "/" + e.name;
    if (e.isDirectory()) {
      mp.FS.mkdir(dst);
      copyInto(src, dst);
    } else if (e.isFile()) {
      mp.FS.writeFile(dst, fs.readFileSync(src));
    }
  }
}
mp.FS.mkdir("/board");
copyInto(boardDir, "/board");
const prelude = "import sys, os\nsys.path.insert(0, '/board')\nos.chdir('/board')\n";
try {
  mp.runPython(prelude + fs.readFileSync(scriptPath, "utf8"));
} catch (err) {
  process.stderr.write(`wasm_port: the script raised: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
}
