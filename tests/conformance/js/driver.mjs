// Drives the reference client zca-js against FakeZaloPersonal.
//
// Protocol: one JSON command per stdin line ({"id", "op", ...}); one JSON object per stdout
// line, either a reply {"id", "ok", "result"|"error"} or an event {"event", ...}.
// Env: ZCA_JS_ENTRY = absolute path of zca-js's dist/index.js, FAKE_BASE = http://127.0.0.1:port.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const zca = await import(pathToFileURL(process.env.ZCA_JS_ENTRY).href);
const base = process.env.FAKE_BASE;
const realFetch = globalThis.fetch;

// Everything that would go to a *.zalo.me host goes to the fake instead; the original host
// travels in X-Zalo-Host so the fake can answer like the real domain (cookies, service map).
// Any other destination is refused: the conformance run must never touch the internet.
async function polyfill(url, options = {}) {
  const target = new URL(url);
  if (!target.hostname.endsWith("zalo.me")) {
    throw new Error(`conformance driver refuses to fetch ${target.origin}`);
  }
  const headers = new Headers(options.headers || {});
  headers.set("x-zalo-host", target.hostname);
  const { agent: _agent, ...rest } = options;
  return realFetch(base + target.pathname + target.search, {
    ...rest,
    headers,
    redirect: "manual",
  });
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const zalo = new zca.Zalo({ polyfill, checkUpdate: false, logging: false, selfListen: false });
let api = null;

function summarize(message) {
  return { type: message.type, threadId: message.threadId, isSelf: message.isSelf, data: message.data };
}

let handlersFor = null;

function listen() {
  const listener = api.listener;
  if (handlersFor !== listener) {
    handlersFor = listener;
    addHandlers(listener);
  }
  return new Promise((resolve, reject) => {
    listener.once("cipher_key", () => resolve({ listening: true }));
    try {
      listener.start({ retryOnClose: false });
    } catch (err) {
      reject(err);
    }
  });
}

function addHandlers(listener) {
  listener.on("message", (m) => emit({ event: "message", ...summarize(m) }));
  listener.on("reaction", (r) => emit({ event: "reaction", threadId: r.threadId, isGroup: r.isGroup, data: r.data }));
  listener.on("undo", (u) => emit({ event: "undo", threadId: u.threadId, data: u.data }));
  listener.on("typing", (t) => emit({ event: "typing", threadId: t.threadId, data: t.data }));
  listener.on("seen_messages", (list) => emit({ event: "seen", items: list.map((s) => ({ threadId: s.threadId, data: s.data })) }));
  listener.on("delivered_messages", (list) => emit({ event: "delivered", items: list.map((s) => ({ threadId: s.threadId, data: s.data })) }));
  listener.on("upload_attachment", (d) => emit({ event: "upload_attachment", data: d }));
  listener.on("closed", (code, reason) => emit({ event: "closed", code, reason: String(reason || "") }));
  listener.on("disconnected", (code) => emit({ event: "disconnected", code }));
  listener.on("old_messages", (msgs, type) => emit({ event: "old_messages", type, messages: msgs.map(summarize) }));
  listener.on("error", (err) => emit({ event: "error", message: String(err && (err.message || err)) }));
}

async function handle(cmd) {
  switch (cmd.op) {
    case "login_qr":
      api = await zalo.loginQR({ userAgent: cmd.userAgent }, (event) => {
        const names = ["qr_generated", "qr_expired", "qr_scanned", "qr_declined", "got_login_info"];
        const data = event.type === 0 ? { code: event.data.code, hasImage: event.data.image.length > 0 } : event.data;
        emit({ event: names[event.type], data });
        if (event.type === 3 || event.type === 1) event.actions.abort();
      });
      return { uid: api.getOwnId() };
    case "login_cookie":
      api = await zalo.login(cmd.credentials);
      return { uid: api.getOwnId() };
    case "listen":
      return listen();
    case "send":
      return api.sendMessage(cmd.message, cmd.threadId, cmd.threadType);
    case "send_attachment": {
      const source = {
        data: Buffer.from(cmd.base64, "base64"),
        filename: cmd.filename,
        metadata: { totalSize: Buffer.from(cmd.base64, "base64").length, width: 2, height: 2 },
      };
      return api.sendMessage({ msg: cmd.text || "", attachments: [source] }, cmd.threadId, cmd.threadType);
    }
    case "send_album": {
      // Several attachments in one sendMessage: zca-js sends them as one album.
      const sources = cmd.files.map((f) => {
        const data = Buffer.from(f.base64, "base64");
        return { data, filename: f.filename, metadata: { totalSize: data.length, width: 2, height: 2 } };
      });
      return api.sendMessage({ msg: cmd.text || "", attachments: sources }, cmd.threadId, cmd.threadType);
    }
    case "react":
      return api.addReaction(cmd.icon, {
        data: { msgId: cmd.msgId, cliMsgId: cmd.cliMsgId },
        threadId: cmd.threadId,
        type: cmd.threadType,
      });
    case "call":
      return api[cmd.name](...(cmd.args || []));
    case "request_old_messages":
      api.listener.requestOldMessages(cmd.threadType, cmd.lastId ?? null);
      return { requested: true };
    case "stop_listener":
      api.listener.stop();
      return { stopped: true };
    case "exit":
      setTimeout(() => process.exit(0), 10);
      return { bye: true };
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  handle(cmd).then(
    (result) => emit({ id: cmd.id, ok: true, result: result === undefined ? null : result }),
    (err) => emit({ id: cmd.id, ok: false, error: String(err && (err.message || err)), code: err && err.code }),
  );
});
rl.on("close", () => process.exit(0));
emit({ event: "ready" });
