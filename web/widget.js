// plauder's support widget, for any website:
//   <script src="https://HOST/widget.js" async></script>
// This loader is a classic script so that it can find where it came from
// (document.currentScript only exists for classic scripts); it then imports the widget module
// from that same server, which talks to that server's /api/v1 and /ws. Settings are the script
// tag's data- attributes (docs/widget.md).
(function () {
  var script = document.currentScript;
  if (!script || !script.src || window.__plauderWidget) return;
  window.__plauderWidget = true;
  var origin = new URL(script.src, location.href).origin;
  var settings = {};
  for (var key in script.dataset) settings[key] = script.dataset[key];
  import(origin + '/static/__VERSION__/widget/widget.js')
    .then(function (m) {
      return m.mount({ origin: origin, settings: settings });
    })
    .catch(function (e) {
      // The host page's own console is the only place to say it; the page itself carries on.
      console.error('plauder widget: could not start', e);
    });
})();
