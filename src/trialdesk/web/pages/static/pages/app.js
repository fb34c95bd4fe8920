// trialdesk pages: small behaviours that need no inline script (the CSP allows none).
"use strict";

document.addEventListener("change", (event) => {
  // A select that submits its form when changed (the language picker).
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-submit-on-change")) {
    target.form.requestSubmit();
  }
});

document.addEventListener("click", (event) => {
  // A button that asks before it submits: data-confirm="Question?".
  const button = event.target.closest("[data-confirm]");
  if (button && !window.confirm(button.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
