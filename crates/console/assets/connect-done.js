// The last page of the embeddable connect flow. In a popup it tells the opener (only at the
// app's allowed origin) and closes; otherwise it returns to the app.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const done = document.getElementById("done");
  if (!done) return;
  const { origin, connectionId, returnUrl } = done.dataset;
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage({ type: "jiragate:connected", connectionId }, origin);
    setTimeout(() => window.close(), 300);
  } else {
    window.location.replace(returnUrl);
  }
});
