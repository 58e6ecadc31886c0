// The console's only script (CSP: script-src 'self'). Pages work without it; it adds the
// browser's time zone to the filter, local times, a loading note and the custom-range toggle,
// and moves an invitation's secret from the link's fragment into the accept form.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // The accept page: the mailed link is /invitations/accept#<secret>. The fragment never goes
  // to a server; put it in the form (sent by POST when the person clicks) and take it out of
  // the address bar and the session history at once. No automatic submit: link scanners open
  // mails' links too, and must not use up the invitation.
  const accept = document.getElementById("accept");
  const takeSecret = () => {
    if (location.hash.length <= 1) return;
    const fromLink = location.hash.slice(1);
    history.replaceState(history.state, "", location.pathname + location.search);
    if (fromLink.length > 512) return;
    accept.elements.namedItem("secret").value = fromLink;
    document.getElementById("paste").hidden = true;
    document.getElementById("from-link").hidden = false;
    accept.querySelector("button[type=submit]").focus();  // Enter accepts
  };
  if (accept) {
    takeSecret();
    // Another link opened over this very page changes only the fragment: no new load.
    window.addEventListener("hashchange", takeSecret);
  }
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const tz = document.getElementById("tz");
  const custom = document.querySelector(".custom-range");
  const range = () => document.querySelector("input[name=range]:checked");
  if (tz) {
    // A custom range keeps the zone it was written in (a shared link means the same moments).
    if (!(range() && range().value === "custom" && tz.value && tz.value !== "UTC")) tz.value = zone;
    const label = document.getElementById("tz-label");
    if (label) label.textContent = tz.value;
  }
  if (custom) {
    const sync = () => { custom.hidden = !(range() && range().value === "custom"); };
    document.querySelectorAll("input[name=range]").forEach((r) => r.addEventListener("change", sync));
    sync();
  }
  const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  document.querySelectorAll("time[datetime]").forEach((t) => {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) { t.title = t.textContent; t.textContent = fmt.format(d); }
  });
  document.querySelectorAll("form.busy-on-submit").forEach((form) => {
    form.addEventListener("submit", () => {
      const note = document.getElementById("loading");
      if (note) note.hidden = false;
      form.setAttribute("aria-busy", "true");
    });
  });
});
