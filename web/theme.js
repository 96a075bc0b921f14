// Applies the saved colour theme before the first paint (a classic script in <head>, so the page
// never flashes the wrong theme). "system" (no attribute) follows prefers-color-scheme. A chosen
// theme also sets the installed app's title bar colour (the theme-color metas, which otherwise
// follow the system's scheme) to that theme's panel colour in web/app.css.
(function () {
  try {
    var t = localStorage.getItem('plauder.theme');
    if (t === 'light' || t === 'dark') {
      document.documentElement.setAttribute('data-theme', t);
      var metas = document.querySelectorAll('meta[name="theme-color"]');
      for (var i = 0; i < metas.length; i++) metas[i].setAttribute('content', t === 'dark' ? '#171923' : '#ffffff');
    }
  } catch (e) {
    // Storage disabled: follow the system.
  }
})();
