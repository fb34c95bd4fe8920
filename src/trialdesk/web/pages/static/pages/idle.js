// The idle timeout's warning (accounts area). The server may end a session after
// `data-idle-seconds` without a request (SESSION_COOKIE_AGE less the renewal's slack); this
// shows #idle-warning 2 minutes before (at 75 % of the time when the timeout is under 4
// minutes) with a countdown. "Stay signed in" (or Escape) sends a keep-alive request; any
// htmx request or page load starts the time again, in every tab of the app (localStorage).
// Just before the end it dispatches "trialdesk:session-ending" on document (the forms keep
// what was typed as a draft), signs out and goes to the sign-in page with ?next=<this page>.
"use strict";

(() => {
  const body = document.body;
  if (!body || body.dataset.signedIn !== "1") return;
  const warning = document.getElementById("idle-warning");
  const countdown = warning ? warning.querySelector("[data-idle-countdown]") : null;
  const stay = warning ? warning.querySelector("[data-idle-stay]") : null;
  const STORAGE_KEY = "trialdesk.lastActivity";
  // The "session-ending" event comes this long before the end, so a draft can still be sent.
  const ENDING_LEAD_MS = 2000;

  let lastActivity = Date.now();
  let warned = false;
  let ending = false;
  let focusBefore = null;
  let ticker = null;

  function idleMs() {
    // Read each time: the timeout is the page's (a test may shorten it on a live page).
    const seconds = Number.parseFloat(body.dataset.idleSeconds);
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 30 * 60 * 1000;
  }

  function warnBeforeMs() {
    const total = idleMs();
    return total < 4 * 60 * 1000 ? total * 0.25 : 2 * 60 * 1000;
  }

  function sharedActivity() {
    try {
      return Number(window.localStorage.getItem(STORAGE_KEY)) || 0;
    } catch (error) {
      return 0;
    }
  }

  function shareActivity(at) {
    try {
      window.localStorage.setItem(STORAGE_KEY, String(at));
    } catch (error) {
      // Private mode without storage: each tab keeps its own time.
    }
  }

  function csrfToken() {
    try {
      const headers = JSON.parse(body.getAttribute("hx-headers") || "{}");
      if (headers["X-CSRFToken"]) return headers["X-CSRFToken"];
    } catch (error) {
      // fall back to the cookie
    }
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function language() {
    return document.documentElement.lang || "en";
  }

  // The one sentence this script writes, in the app's three languages (the rest of the
  // warning is translated in base.html); {time} is the browser's own "in 90 seconds".
  const SIGNING_OUT = {
    en: "Signing out {time}.",
    da: "Du logges ud {time}.",
    "zh-hans": "将在{time}退出登录。",
  };

  function remainingText(ms) {
    const seconds = Math.max(0, Math.ceil(ms / 1000));
    let time = `${seconds} s`;
    try {
      time = new Intl.RelativeTimeFormat(language(), { numeric: "always" }).format(seconds, "second");
    } catch (error) {
      // an old browser without Intl.RelativeTimeFormat: "90 s"
    }
    const sentence = SIGNING_OUT[language().toLowerCase()] || SIGNING_OUT.en;
    return sentence.replace("{time}", time);
  }

  function openWarning(remaining) {
    if (!warning) return;
    if (!warned) {
      warned = true;
      focusBefore = document.activeElement;
      warning.hidden = false;
      if (!warning.hasAttribute("tabindex")) warning.tabIndex = -1;
      (stay || warning).focus();
    }
    if (countdown) countdown.textContent = remainingText(remaining);
  }

  function closeWarning() {
    if (!warned) return;
    warned = false;
    if (warning) warning.hidden = true;
    if (focusBefore && typeof focusBefore.focus === "function" && document.contains(focusBefore)) {
      focusBefore.focus();
    }
    focusBefore = null;
  }

  function reset(at = Date.now()) {
    if (ending) return;
    lastActivity = Math.max(lastActivity, at);
    shareActivity(lastActivity);
    closeWarning();
  }

  function signInUrl() {
    const next = window.location.pathname + window.location.search;
    const base = body.dataset.signInUrl || "/signin/";
    return `${base}?next=${encodeURIComponent(next)}&idle=1`;
  }

  function end() {
    ending = true;
    window.clearInterval(ticker);
    document.dispatchEvent(new CustomEvent("trialdesk:session-ending"));
    window.setTimeout(() => {
      // Sign out explicitly: a draft saved just now renewed the session on the server.
      const form = document.querySelector("form[action$='/signout/']");
      const signOut = form ? form.getAttribute("action") : null;
      const leave = () => window.location.assign(signInUrl());
      if (!signOut) {
        leave();
        return;
      }
      fetch(signOut, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
        redirect: "manual",
      }).then(leave, leave);
    }, ENDING_LEAD_MS);
  }

  function tick() {
    if (ending) return;
    // Another tab's request renewed the same session.
    const shared = sharedActivity();
    if (shared > lastActivity) {
      lastActivity = shared;
      closeWarning();
    }
    const remaining = lastActivity + idleMs() - Date.now();
    if (remaining <= ENDING_LEAD_MS) {
      end();
    } else if (remaining <= warnBeforeMs()) {
      openWarning(remaining);
    } else {
      closeWarning();
    }
  }

  function keepAlive() {
    const url = body.dataset.keepaliveUrl;
    if (!url || ending) return;
    const sent = Date.now();
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
      redirect: "manual",
    }).then(
      (response) => {
        if (response.status === 204) {
          reset(sent);
        } else {
          // The session is gone already (signed out elsewhere): sign in again.
          ending = true;
          document.dispatchEvent(new CustomEvent("trialdesk:session-ending"));
          window.location.assign(signInUrl());
        }
      },
      () => {
        // Network error: leave the warning up, the next tick decides.
      },
    );
  }

  if (stay) {
    stay.addEventListener("click", (event) => {
      event.preventDefault();
      closeWarning();
      keepAlive();
    });
  }

  document.addEventListener("keydown", (event) => {
    if (!warned) return;
    if (event.key === "Escape") {
      event.preventDefault();
      closeWarning();
      keepAlive();
    } else if (event.key === "Tab" && stay) {
      // The dialog is modal: focus stays on its one control.
      event.preventDefault();
      stay.focus();
    }
  });

  document.addEventListener("htmx:afterRequest", () => reset());
  window.addEventListener("pageshow", () => reset());
  window.addEventListener("storage", (event) => {
    if (event.key === STORAGE_KEY) tick();
  });

  reset();
  ticker = window.setInterval(tick, 1000);
})();
