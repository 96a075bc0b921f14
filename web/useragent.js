// A short name for a User-Agent header ("Firefox, Linux"): the sessions list and the support
// inbox's visitor context show it instead of the whole header, which stays in the tooltip.

/** The browser and the system, as far as the header tells; its start when it tells neither. */
export function browserName(ua) {
  if (!ua) return '';
  const browser = [['Edg/', 'Edge'], ['OPR/', 'Opera'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']].find(([k]) => ua.includes(k))?.[1];
  const system = [['Android', 'Android'], ['iPhone', 'iOS'], ['iPad', 'iPadOS'], ['Windows', 'Windows'], ['Mac OS X', 'macOS'], ['Linux', 'Linux']].find(([k]) => ua.includes(k))?.[1];
  return [browser, system].filter(Boolean).join(', ') || ua.slice(0, 60);
}
