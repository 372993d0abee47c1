// jiragate connect: lets an app's page connect its end user's Jira without handling a secret.
//
//   <script src="https://jiragate.example.com/connect.js"></script>
//   const { connectionId } = await jiragate.connect({ sessionToken });            // popup
//   jiragate.connect({ sessionToken, mode: "redirect" });  // back at return_url?connection_id=…
//
// `sessionToken` comes from the app's backend (POST /api/v1/connect/sessions with return_url).
// Written for jiragate; no dependencies.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script && script.src ? script.src : "/", window.location.href).origin;

  function connect(options) {
    var opts = options || {};
    var token = opts.sessionToken;
    if (!token || typeof token !== "string") {
      return Promise.reject(new Error("jiragate.connect: sessionToken is required"));
    }
    var url = base + "/connect/" + encodeURIComponent(token);
    if (opts.mode === "redirect") {
      window.location.assign(url + "?mode=redirect");
      return new Promise(function () {});
    }
    var popup = window.open(url + "?mode=popup", "jiragate-connect", "popup,width=560,height=780");
    if (!popup) {
      return Promise.reject(new Error("jiragate.connect: the popup was blocked; call connect() from a click, or use mode: \"redirect\""));
    }
    return new Promise(function (resolve, reject) {
      var timer = null;
      function cleanup() {
        window.removeEventListener("message", onMessage);
        if (timer) clearInterval(timer);
      }
      function onMessage(event) {
        // Only the connect window itself, served by this jiragate, may answer.
        if (event.origin !== base || event.source !== popup) return;
        var data = event.data || {};
        if (data.type === "jiragate:connected" && typeof data.connectionId === "string") {
          cleanup();
          resolve({ connectionId: data.connectionId });
        }
      }
      window.addEventListener("message", onMessage);
      timer = setInterval(function () {
        if (popup.closed) {
          // A message posted just before closing is delivered first; give it a moment.
          setTimeout(function () {
            cleanup();
            reject(new Error("jiragate.connect: the connect window was closed before Jira was connected"));
          }, 500);
          clearInterval(timer);
          timer = null;
        }
      }, 300);
    });
  }

  window.jiragate = Object.assign(window.jiragate || {}, { connect: connect });
})();
