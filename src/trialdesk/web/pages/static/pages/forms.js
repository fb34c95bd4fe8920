// The visit form page: live checks are htmx (the form posts to its check URL on the
// "trialdesk:check" event, sent here on each change);
// here, what needs a script: each input's aria-invalid and reason field after a check, the
// draft sent about a second after typing stops ("Draft saved hh:mm"), a copy in localStorage
// while the server does not have it (no connection, the session ended), and restoring that
// copy when the page loads again. The session's end ("trialdesk:session-ending", from
// idle.js) keeps what is typed in localStorage first.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("form-entry");
  if (!form) return;

  function inputsOf(name) {
    return Array.from(form.elements).filter((element) => element.name === name);
  }

  // After a check: the items' messages were swapped in; mark their inputs and show the
  // reason field where a saved value is changed.
  function applyChecks() {
    for (const check of form.querySelectorAll("[data-check-for]")) {
      const item = check.dataset.checkFor;
      const invalid = check.textContent.trim() !== "";
      for (const input of inputsOf(item)) {
        if (invalid) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
      }
      const holder = document.getElementById("item-" + item);
      if (holder) holder.classList.toggle("has-error", invalid);
      const reason = document.getElementById("reason-block-" + item);
      if (reason) reason.hidden = check.dataset.needsReason !== "1";
    }
  }
  document.body.addEventListener("htmx:afterSettle", applyChecks);

  // A change checks the form, unless it came from the idle warning taking the focus (the
  // input lost it): a check then would count as activity and keep the session alive.
  function idleWarningOpen() {
    const warning = document.getElementById("idle-warning");
    return warning !== null && !warning.hidden;
  }
  function check() {
    form.dispatchEvent(new CustomEvent("trialdesk:check"));
  }
  form.addEventListener("change", () => {
    if (!idleWarningOpen()) check();
  });

  const draftUrl = form.dataset.draftUrl;
  if (!draftUrl) return;
  const key = form.dataset.localKey;
  const status = document.getElementById("draft-status");
  let edits = 0;
  let timer = null;

  function typed() {
    const values = {};
    for (const element of form.elements) {
      const name = element.name;
      if (!name || name === "csrfmiddlewaretoken" || name === "action") continue;
      if (element.type === "radio" || element.type === "checkbox") {
        if (element.checked) values[name] = element.value;
        else if (!(name in values)) values[name] = "";
      } else {
        values[name] = element.value;
      }
    }
    return values;
  }

  function keepLocally() {
    try {
      localStorage.setItem(key, JSON.stringify({ savedAt: new Date().toISOString(), values: typed() }));
    } catch (error) {
      // Storage full or disabled: the server draft is the only copy.
    }
  }

  function csrfToken() {
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  async function sendDraft() {
    const sent = edits;
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(typed())) body.append(name, value);
    try {
      const response = await fetch(draftUrl, {
        method: "POST",
        body,
        credentials: "same-origin",
        redirect: "manual",
        // As htmx would: a request after the session ended is answered 204, not the sign-in page.
        headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      });
      const answer = response.headers.get("X-Trialdesk-Draft");
      if (response.ok && answer === "saved") {
        if (status) status.textContent = await response.text();
        if (edits === sent) localStorage.removeItem(key);
        return;
      }
      if (response.ok && answer === "refused") {
        // The store keeps no draft here (a locked study...): say why; the copy stays here.
        if (status) status.textContent = await response.text();
        return;
      }
    } catch (error) {
      // Not reached: kept in this browser (below).
    }
    if (status) status.textContent = form.dataset.localText;
  }

  function typedSomething() {
    edits += 1;
    keepLocally();
    window.clearTimeout(timer);
    timer = window.setTimeout(sendDraft, 1000);
  }
  // Saving sends everything typed: no draft should land after it.
  form.addEventListener("submit", () => window.clearTimeout(timer));
  form.addEventListener("input", typedSomething);
  form.addEventListener("change", typedSomething);
  document.addEventListener("trialdesk:session-ending", () => {
    if (edits > 0) {
      keepLocally();
      sendDraft();
    }
  });

  // What this browser kept and the server does not have (newer than the server's draft and
  // the last save) comes back into the inputs.
  function restore() {
    if (form.dataset.posted === "1") {
      // The server shows what was just submitted (refused): newer than any copy here.
      keepLocally();
      return;
    }
    let kept = null;
    try {
      kept = JSON.parse(localStorage.getItem(key) || "null");
    } catch (error) {
      kept = null;
    }
    if (!kept || !kept.savedAt || !kept.values) return;
    const local = Date.parse(kept.savedAt);
    const server = [form.dataset.draftSavedAt, form.dataset.savedAt]
      .filter(Boolean)
      .map((text) => Date.parse(text));
    if (server.some((time) => time >= local)) {
      localStorage.removeItem(key);
      return;
    }
    for (const [name, value] of Object.entries(kept.values)) {
      for (const input of inputsOf(name)) {
        if (input.type === "radio" || input.type === "checkbox") input.checked = input.value === value;
        else input.value = value;
      }
    }
    const note = document.getElementById("local-restored");
    if (note) {
      const when = new Date(local).toLocaleString(document.documentElement.lang || undefined);
      note.querySelector("p").textContent = note.dataset.text.replace("{when}", when);
      note.hidden = false;
    }
    // Checked and sent to the server as a draft, after htmx has set the form up (its own
    // DOMContentLoaded handler runs after this one).
    window.setTimeout(() => {
      check();
      typedSomething();
    }, 0);
  }
  restore();
});
