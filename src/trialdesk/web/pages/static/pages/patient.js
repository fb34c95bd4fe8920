// The patient's question page: when the answer is sent, the phone's own clock goes with it
// (authored_at, ISO 8601 in UTC). The server records it beside its own time and never uses
// it to decide whether the day is open; without JavaScript the field stays empty.
document.addEventListener("submit", (event) => {
  const field = event.target.querySelector("input[data-authored-at]");
  if (field) field.value = new Date().toISOString();
});
