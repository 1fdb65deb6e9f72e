// Decodes websocket event frames the way zca-js's listener does, with zca-js's own
// decodeEventData (WebCrypto AES-GCM + pako inflate + json-bigint), and reports frames/s.
// Usage: node decode_frames.mjs <zca-js dist dir> <frames file (one base64 frame per line)> <base64 key> [passes]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [distDir, framesFile, key, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg || "1");
const { decodeEventData } = await import(pathToFileURL(join(distDir, "utils.js")).href);
const frames = readFileSync(framesFile, "utf8")
  .split("\n")
  .filter((line) => line.length > 0)
  .map((line) => Buffer.from(line, "base64"));

async function decodeOne(frame) {
  // Same steps as Listener.onmessage for cmd 501: header, UTF-8 JSON, decodeEventData.
  const cmd = frame.readUInt16LE(1);
  const parsed = JSON.parse(new TextDecoder("utf-8").decode(frame.subarray(4)));
  const data = (await decodeEventData(parsed, key)).data;
  if (cmd !== 501 || data.msgs.length !== 1) throw new Error("bad frame");
  return data;
}

// Warm-up so the JIT and WebCrypto are hot, as in a long-running listener.
for (const frame of frames.slice(0, Math.min(2000, frames.length))) await decodeOne(frame);
let best = 0;
let bestCpu = 0;
for (let pass = 0; pass < repeats; pass++) {
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  for (const frame of frames) await decodeOne(frame);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  best = Math.max(best, frames.length / seconds);
  bestCpu = Math.max(bestCpu, frames.length / cpuSeconds);
}
process.stdout.write(
  JSON.stringify({ frames: frames.length, frames_per_s: best, frames_per_cpu_s: bestCpu }) + "\n",
);
