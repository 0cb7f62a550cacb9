// Copies the console's (and the API reference's) front-end files from node_modules into the Python package.
//   node build.mjs          write src/pulsegate/console/static/vendor/
//   node build.mjs --check  fail when the shipped files differ from the pinned packages' own
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "src", "pulsegate", "console", "static", "vendor");
const files = {
  "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js",
  "uPlot.iife.min.js": "node_modules/uplot/dist/uPlot.iife.min.js",
  "uPlot.min.css": "node_modules/uplot/dist/uPlot.min.css",
  // The API reference at /docs and /redoc, served by pulsegate itself (no CDN).
  "swagger-ui-bundle.js": "node_modules/swagger-ui-dist/swagger-ui-bundle.js",
  "swagger-ui.css": "node_modules/swagger-ui-dist/swagger-ui.css",
  "swagger-favicon-32x32.png": "node_modules/swagger-ui-dist/favicon-32x32.png",
  "redoc.standalone.js": "node_modules/redoc/bundles/redoc.standalone.js",
};

const check = process.argv.includes("--check");
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");
const manifest = {};
let differ = [];
mkdirSync(vendor, { recursive: true });
for (const [name, source] of Object.entries(files)) {
  const built = readFileSync(join(here, source));
  manifest[name] = sha256(built);
  const target = join(vendor, name);
  if (check) {
    if (!existsSync(target) || sha256(readFileSync(target)) !== manifest[name]) differ.push(name);
  } else {
    writeFileSync(target, built);
  }
}
const manifestText = JSON.stringify(manifest, null, 2) + "\n";
const manifestPath = join(vendor, "MANIFEST.json");
if (check) {
  if (!existsSync(manifestPath) || readFileSync(manifestPath, "utf8") !== manifestText) {
    differ.push("MANIFEST.json");
  }
  if (differ.length) {
    console.error(`the shipped console files differ from the pinned build: ${differ.join(", ")}`);
    process.exit(1);
  }
  console.log("the shipped console files match the pinned build");
} else {
  writeFileSync(manifestPath, manifestText);
  console.log(`wrote ${Object.keys(files).length} files to ${vendor}`);
}
