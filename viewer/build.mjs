// Builds the viewer into ../functions/viewer/static/ (emptied first): one content-hashed JS bundle,
// one content-hashed stylesheet, index.html naming them, and the licences of what is bundled. The
// output depends on the sources and the locked packages only, so two builds are byte for byte the
// same. Also bundles the test-only WebXR emulation into build-test/, outside what is served.
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.resolve(here, "../functions/viewer/static");
const testOutdir = path.resolve(here, "build-test");

const common = {
  bundle: true,
  target: "es2022",
  platform: "browser",
  logLevel: "warning",
  absWorkingDir: here,
};

async function buildViewer() {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });

  const result = await esbuild.build({
    ...common,
    entryPoints: { main: "src/main.js", styles: "src/styles.css" },
    outdir,
    entryNames: "viewer-[hash]",
    format: "esm",
    minify: true,
    legalComments: "linked",
    charset: "utf8",
    metafile: true,
    write: true,
  });

  /** @type {Record<string, string>} entry source -> output file name */
  const outputs = {};
  for (const [file, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint) outputs[meta.entryPoint] = path.basename(file);
  }
  const js = outputs["src/main.js"];
  const css = outputs["src/styles.css"];
  if (!js || !css) throw new Error(`unexpected esbuild outputs: ${JSON.stringify(outputs)}`);

  // esbuild writes the stylesheet's legal comments beside it too; the CSS has none worth a file.
  const legal = `${js}.LEGAL.txt`;
  await rm(path.join(outdir, `${css}.LEGAL.txt`), { force: true });

  let html = await readFile(path.join(here, "src/index.html"), "utf8");
  /** @param {string} from @param {string} to */
  const substitute = (from, to) => {
    if (!html.includes(from)) throw new Error(`src/index.html does not reference ${from}`);
    html = html.replaceAll(from, to);
  };
  substitute('"./main.js.LEGAL.txt"', `"./${legal}"`);
  substitute('"./main.js"', `"./${js}"`);
  substitute('"./styles.css"', `"./${css}"`);
  await writeFile(path.join(outdir, "index.html"), html);

  await copyFile(path.join(here, "node_modules/three/LICENSE"), path.join(outdir, "three-LICENSE.txt"));
  return { js, css, legal };
}

async function buildTestEmulation() {
  await rm(testOutdir, { recursive: true, force: true });
  await esbuild.build({
    ...common,
    entryPoints: ["test/xr-emulation.js"],
    outfile: path.join(testOutdir, "xr-emulation.js"),
    format: "iife",
    minify: true,
    legalComments: "inline",
  });
}

const built = await buildViewer();
await buildTestEmulation();

const digest = createHash("sha256");
for (const name of ["index.html", built.js, built.css]) digest.update(await readFile(path.join(outdir, name)));
console.log(`viewer built into ${path.relative(process.cwd(), outdir) || "."}: ${built.js}, ${built.css}, index.html (sha256 ${digest.digest("hex").slice(0, 12)})`);
