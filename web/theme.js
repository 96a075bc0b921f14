// Applies the saved colour theme before the first paint (a classic script in <head>, so the page
// never flashes the wrong theme). "system" (no attribute) follows prefers-color-scheme.
(function () {
  try {
    var t = localStorage.getItem('plauder.theme');
    if (t === 'light' || t === 'dark') document.documentElement.setAttribute('data-theme', t);
  } catch (e) {
    // Storage disabled: follow the system.
  }
})();
