// trialdesk enrolment pages: the eligibility panel's "tick every confirmation" button.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-confirm-all]");
  if (!button) {
    return;
  }
  const form = button.closest("form");
  for (const box of form.querySelectorAll('input[type="checkbox"][name="confirmed"]')) {
    box.checked = true;
  }
});
