// Sparklio Studio: live run status, and the review page's buttons (they call the REST API with the CSRF token).
"use strict";
(function () {
  const csrf = document.body.dataset.csrf || "";
  const ACTIVE = ["queued", "running"];

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: Object.assign({"X-CSRF-Token": csrf}, body ? {"Content-Type": "application/json"} : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = {};
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    return {ok: response.ok, status: response.status, data};
  }

  function message(data) {
    if (data.errors) return data.errors.map(e => e.field + ": " + e.message).join("\n");
    return data.detail || "Something went wrong.";
  }

  function progressText(run) {
    if (!run) return "";
    const step = run.current_step ? run.current_step + (run.step_message ? ": " + run.step_message : "") : "waiting for a free slot";
    return step + " · " + run.steps_done + "/" + run.steps_total + " steps";
  }

  // Campaigns list: refresh status and progress of running campaigns.
  const table = document.getElementById("campaigns");
  if (table) {
    const refresh = async () => {
      const {ok, data} = await api("GET", table.dataset.poll);
      if (!ok) return;
      let active = false;
      for (const c of data.campaigns) {
        const row = table.querySelector(`tr[data-campaign="${CSS.escape(c.campaign_id)}"]`);
        if (!row) { if (ACTIVE.includes(c.status)) location.reload(); continue; }
        const badge = row.querySelector("[data-field=status] , .badge");
        if (badge.textContent !== c.status) { location.reload(); return; }
        row.querySelector("[data-field=progress]").textContent = ACTIVE.includes(c.status) ? progressText(c.run) : "—";
        active = active || ACTIVE.includes(c.status);
      }
      setTimeout(refresh, active ? 2000 : 10000);
    };
    setTimeout(refresh, 2000);
  }

  // Review page.
  const review = document.getElementById("review");
  if (!review) return;
  const campaign = review.dataset.campaign;
  const base = "/api/campaigns/" + encodeURIComponent(campaign);

  if (ACTIVE.includes(review.dataset.status)) {
    const poll = async () => {
      const {ok, data} = await api("GET", base);
      if (ok) {
        const badge = document.getElementById("status");
        badge.textContent = data.status;
        badge.className = "badge " + data.status.replace(" ", "-");
        document.getElementById("progress").textContent = ACTIVE.includes(data.status) ? progressText(data.run) : "";
        for (const [asset, state] of Object.entries(data.assets)) {
          const chip = document.querySelector(`[data-asset="${asset}"]`);
          if (chip) { chip.className = "chip state-" + state; chip.textContent = asset.replace("campaign_", "") + ": " + state; }
        }
        if (!ACTIVE.includes(data.status)) { location.replace(location.pathname); return; }
      }
      setTimeout(poll, 2000);
    };
    setTimeout(poll, 2000);
  }

  for (const button of document.querySelectorAll("[data-rerun]")) {
    button.addEventListener("click", async () => {
      const label = document.getElementById("rerun-msg");
      button.disabled = true;
      const assets = {copy: ["copy", "image", "video", "captions", "campaign_bundle"],
                      video: ["video", "captions", "campaign_bundle"]}[button.dataset.rerun] || null;
      const body = {assets, fresh_copy: button.dataset.fresh === "1"};
      if (button.dataset.channel) body.copy_channels = [button.dataset.channel];
      const {ok, data} = await api("POST", base + "/runs", body);
      button.disabled = false;
      if (ok) { location.reload(); } else { label.textContent = message(data); }
    });
  }

  for (const card of document.querySelectorAll(".variant")) {
    const url = [base, "copy", card.dataset.language, card.dataset.channel, card.dataset.variant].map((p, i) => i ? encodeURIComponent(p) : p).join("/");
    const say = (text, good) => { const m = card.querySelector(".variant-msg"); m.textContent = text; m.className = "variant-msg " + (good ? "good" : "bad"); };
    const editor = card.querySelector(".editor");
    card.querySelector(".approve").addEventListener("click", async (event) => {
      event.target.disabled = true;
      const {ok, data} = await api("POST", url + "/approve");
      event.target.disabled = false;
      say(ok ? "Approved: saved to brand memory." : message(data), ok);
    });
    card.querySelector(".reject").addEventListener("click", async () => {
      const reason = prompt("Why is this variant rejected?");
      if (!reason) return;
      const {ok, data} = await api("POST", url + "/reject", {reason});
      say(ok ? "Rejected: " + reason : message(data), ok);
    });
    card.querySelector(".edit").addEventListener("click", () => { editor.hidden = false; });
    card.querySelector(".cancel-edit").addEventListener("click", () => { editor.hidden = true; });
    editor.addEventListener("submit", async (event) => {
      event.preventDefault();
      const fields = {};
      for (const area of editor.querySelectorAll("textarea")) {
        fields[area.name] = area.dataset.list === "1" ? area.value.split("\n").map(s => s.trim()).filter(Boolean) : area.value;
      }
      const {ok, data} = await api("POST", url + "/revisions", {fields});
      if (ok) { say("Saved as revision " + data.revision + ".", true); setTimeout(() => location.reload(), 600); }
      else { say("Not saved. " + message(data), false); }
    });
  }
})();
