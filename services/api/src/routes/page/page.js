// The page's only script: it talks to this API alone, never to GitHub.
// Every state-changing request carries the x-hubpulse-csrf header, which a
// page on another site cannot add.
"use strict";

const $ = (id) => document.getElementById(id);
const CSRF = { "x-hubpulse-csrf": "1" };
let rows = [];
let sort = { key: "full_name", dir: 1 };

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    throw new Error(message);
  }
  return body;
}

function text(element, value) { element.textContent = value == null ? "" : String(value); }

function showError(message) {
  const box = $("flow-error");
  text(box, message);
  box.hidden = !message;
}

async function refreshSession() {
  const session = await api("/v1/auth/session");
  $("start").disabled = !session.sign_in_available;
  if (!session.sign_in_available) {
    text($("sign-in-intro"), "Signing in with GitHub is not configured on this server.");
  }
  if (session.signed_in) {
    text($("who"), `Signed in as ${session.login}`);
    $("sign-out").hidden = false;
    $("sign-in").hidden = true;
    await loadRepos(session.login);
  } else {
    text($("who"), "");
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("repos").hidden = true;
  }
}

async function startSignIn() {
  showError("");
  $("start").disabled = true;
  try {
    const flow = await api("/v1/auth/device", { method: "POST", headers: CSRF });
    text($("user-code"), flow.user_code);
    $("verify").href = flow.verification_uri;
    text($("verify"), `Open ${flow.verification_uri}`);
    $("device").hidden = false;
    $("start").hidden = true;
    $("copy").focus();
    poll(flow.flow_id, flow.interval);
  } catch (error) {
    showError(`Could not start signing in: ${error.message}`);
    $("start").disabled = false;
  }
}

function poll(flowId, interval) {
  // The page asks HubPulse, which polls GitHub in the background.
  const wait = Math.max(1, Math.min(interval, 5)) * 1000;
  setTimeout(async () => {
    let flow;
    try {
      flow = await api(`/v1/auth/device/${encodeURIComponent(flowId)}`);
    } catch (error) {
      showError(`Checking the sign-in failed: ${error.message}`);
      $("start").hidden = false;
      $("start").disabled = false;
      return;
    }
    if (flow.state === "pending") {
      text($("waiting"), `Waiting for you to enter the code… (checked ${flow.polls} times)`);
      poll(flowId, flow.interval);
    } else if (flow.state === "signed_in") {
      $("device").hidden = true;
      $("start").hidden = false;
      await refreshSession();
    } else {
      $("device").hidden = true;
      $("start").hidden = false;
      $("start").disabled = false;
      showError(flow.message || `Sign-in failed (${flow.error})`);
    }
  }, wait);
}

async function loadRepos(login) {
  const base = `/v1/users/${encodeURIComponent(login)}/repos`;
  text($("repos-login"), login);
  $("csv").href = `${base}.csv`;
  $("json").href = `${base}.json`;
  $("repos").hidden = false;
  // The user's repositories arrive from a background job just after
  // sign-in, a page at a time: ask again until some private ones are
  // there and two answers in a row agree.
  let previous = -1;
  for (let attempt = 0; attempt < 40; attempt += 1) {
    try {
      rows = await api(`${base}.json`, { cache: "no-store" });
    } catch (_) {
      rows = []; // 404 until the first page is stored
    }
    if (rows.some((r) => r.private) && rows.length === previous) break;
    previous = rows.length;
    text($("repo-count"), `${rows.length} repositories so far…`);
    render();
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
  text($("repo-count"), `${rows.length} repositories`);
  render();
}

function render() {
  const body = document.querySelector("#repo-table tbody");
  const sorted = [...rows].sort((a, b) => {
    const x = a[sort.key], y = b[sort.key];
    if (x === y) return 0;
    if (x == null) return 1;
    if (y == null) return -1;
    return (x < y ? -1 : 1) * sort.dir;
  });
  body.replaceChildren(...sorted.map((repo) => {
    const tr = document.createElement("tr");
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = repo.html_url;
    link.rel = "noopener noreferrer";
    text(link, repo.full_name);
    name.append(link);
    const visibility = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = `badge ${repo.private ? "private" : ""}`;
    text(badge, repo.visibility);
    visibility.append(badge);
    const cells = [repo.language || "", repo.stargazers_count, (repo.updated_at || "").slice(0, 10)]
      .map((v) => { const td = document.createElement("td"); text(td, v); return td; });
    tr.append(name, visibility, ...cells);
    return tr;
  }));
  document.querySelectorAll("#repo-table th").forEach((th) => {
    const key = th.querySelector("button").dataset.key;
    if (key === sort.key) th.setAttribute("aria-sort", sort.dir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  });
}

async function signOut() {
  try { await api("/v1/auth/logout", { method: "POST", headers: CSRF }); } catch (_) { /* shown below */ }
  rows = [];
  await refreshSession();
  $("start").focus();
}

function item(list, build) {
  const li = document.createElement("li");
  build(li);
  list.append(li);
}

async function loadOverview() {
  let overview;
  try { overview = await api("/v1/overview"); } catch (_) { return; }
  const topics = $("topics"), jobs = $("jobs"), rate = $("rate");
  topics.replaceChildren();
  jobs.replaceChildren();
  rate.replaceChildren();
  overview.topics.forEach((t) => item(topics, (li) => text(li, `${t.name}: ${t.repositories} repositories`)));
  if (!overview.topics.length) item(topics, (li) => text(li, "None yet"));
  overview.jobs.forEach((j) => item(jobs, (li) => {
    const label = `${j.kind} #${j.id}: ${j.status}`;
    text(li, label);
    if (j.progress_total) {
      const bar = document.createElement("progress");
      bar.max = j.progress_total;
      bar.value = j.progress_done || 0;
      bar.setAttribute("aria-label", `${label} progress`);
      li.append(bar);
    }
  }));
  if (!overview.jobs.length) item(jobs, (li) => text(li, "None yet"));
  overview.rate.forEach((r) => item(rate, (li) => {
    text(li, `${r.resource}: ${r.remaining} of ${r.limit} left`);
    const bar = document.createElement("progress");
    bar.max = r.limit;
    bar.value = r.remaining;
    bar.setAttribute("aria-label", `${r.resource} budget left`);
    li.append(bar);
  }));
  if (!overview.rate.length) item(rate, (li) => text(li, "No GitHub calls yet"));
}

document.addEventListener("DOMContentLoaded", () => {
  $("start").addEventListener("click", startSignIn);
  $("sign-out").addEventListener("click", signOut);
  $("copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("user-code").textContent);
      text($("copy"), "Copied");
    } catch (_) {
      text($("copy"), "Select the code to copy it");
    }
  });
  document.querySelectorAll("#repo-table th button").forEach((button) => {
    button.addEventListener("click", () => {
      const key = button.dataset.key;
      sort = { key, dir: sort.key === key ? -sort.dir : 1 };
      render();
    });
  });
  refreshSession().catch((error) => showError(error.message));
  loadOverview();
  setInterval(loadOverview, 10000);
});
