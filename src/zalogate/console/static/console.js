// zalogate console: live login (QR code or consent link) and log tail over server-sent
// events. No dependencies.
"use strict";

function followQrLogin(box) {
  const img = document.getElementById("qr-image");
  const step = document.getElementById("qr-step");
  const lines = document.getElementById("qr-lines");
  const words = {};
  document.getElementById("qr-words").content.querySelectorAll("[data-step]").forEach((el) => {
    words[el.dataset.step] = el.textContent;
  });
  const source = new EventSource(box.dataset.events);
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.step === "end") { source.close(); return; }
    if (event.step === "ping") return;
    if (event.qr) {
      img.src = event.qr; img.hidden = false;
      document.getElementById("qr-help").hidden = false;
    }
    if (event.link) {
      const linkBox = document.getElementById("login-link");
      linkBox.querySelector("a").href = event.link;
      linkBox.hidden = false;
      document.getElementById("link-help").hidden = false;
    }
    if (event.step in words) {
      step.textContent = words[event.step];
      step.dataset.step = event.step;
      if (["done", "failed", "declined", "expired"].includes(event.step) && !event.qr) {
        if (event.step !== "expired") img.hidden = true;
        document.getElementById("login-link").hidden = true;
      }
    }
    if (event.text) {
      const li = document.createElement("li");
      li.textContent = event.text;
      lines.appendChild(li);
    }
  };
}

function followLogs(pre) {
  const url = pre.dataset.events + "?after=" + encodeURIComponent(pre.dataset.after || "0");
  const source = new EventSource(url);
  source.onmessage = (message) => {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    pre.appendChild(document.createTextNode(JSON.parse(message.data) + "\n"));
    if (atBottom) pre.scrollTop = pre.scrollHeight;
  };
}

// The overview's state badges follow /healthz (every 5 s while the tab is visible).
function followStates(grid) {
  const words = {};
  document.getElementById("state-words").content.querySelectorAll("[data-state]").forEach((el) => {
    words[el.dataset.state] = el.textContent;
  });
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const body = await (await fetch(grid.dataset.liveStatus, { cache: "no-store" })).json();
      for (const account of body.accounts || []) {
        const card = grid.querySelector(`[data-account="${CSS.escape(account.channel + "/" + account.account)}"]`);
        const badge = card && card.querySelector(".badge");
        if (!badge || !(account.state in words)) continue;
        badge.className = "badge state-" + account.state;
        badge.textContent = words[account.state];
      }
    } catch (error) { /* the gateway is restarting: try again next time */ }
  };
  setInterval(refresh, 5000);
}

// A conversation's transcript follows new lines (the page itself, fetched every 3 s).
function followTranscript(list) {
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const response = await fetch(list.dataset.live, { cache: "no-store", redirect: "error" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.querySelector(".transcript");
      if (fresh && fresh.innerHTML !== list.innerHTML) {
        const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 8;
        list.innerHTML = fresh.innerHTML;
        if (atBottom) window.scrollTo(0, document.body.scrollHeight);
      }
    } catch (error) { /* try again next time */ }
  };
  setInterval(refresh, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  const transcript = document.querySelector(".transcript[data-live]");
  if (transcript) followTranscript(transcript);
  const grid = document.querySelector("[data-live-status]");
  if (grid) followStates(grid);
  const box = document.getElementById("qr-login");
  if (box) followQrLogin(box);
  const pre = document.getElementById("log-tail");
  if (pre) { pre.scrollTop = pre.scrollHeight; followLogs(pre); }
});
