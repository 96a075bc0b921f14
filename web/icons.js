// The interface's icons: one small inline SVG set (24×24, drawn with the text colour), built with
// createElementNS so nothing is parsed as markup. Emoji glyphs were used before; they render as
// empty boxes where no emoji font is installed. Emoji stay in messages and reactions.

const SVG = 'http://www.w3.org/2000/svg';
const CIRCLE = (cx, cy, r) => `M${cx} ${cy - r}a${r} ${r} 0 1 0 0 ${2 * r}a${r} ${r} 0 1 0 0 ${-2 * r}z`;

/** Path data per icon (stroked, round caps and joins). */
const PATHS = {
  react: [CIRCLE(12, 12, 9), 'M8 14c1 1.4 2.3 2 4 2s3-.6 4-2', 'M9 9.5v.01', 'M15 9.5v.01'],
  reply: ['M9 14L4 9l5-5', 'M4 9h10a6 6 0 0 1 6 6v5'],
  edit: ['M4 20h4L19 9l-4-4L4 16z', 'M13.5 6.5l4 4'],
  trash: ['M4 7h16', 'M10 11v6', 'M14 11v6', 'M6 7l1 13h10l1-13', 'M9 7V4h6v3'],
  members: [CIRCLE(9, 7, 4), 'M2 21v-1a6 6 0 0 1 6-6h2a6 6 0 0 1 6 6v1', 'M16 3.3a4 4 0 0 1 0 7.4', 'M19 14.5a6 6 0 0 1 3 5.5v1'],
  back: ['M19 12H5', 'M12 19l-7-7 7-7'],
  down: ['M12 5v14', 'M19 12l-7 7-7-7'],
  light: [CIRCLE(12, 12, 4), 'M12 2v2', 'M12 20v2', 'M4.9 4.9l1.4 1.4', 'M17.7 17.7l1.4 1.4', 'M2 12h2', 'M20 12h2', 'M4.9 19.1l1.4-1.4', 'M17.7 6.3l1.4-1.4'],
  dark: ['M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z'],
  system: ['M3 4h18v12H3z', 'M8 20h8', 'M12 16v4'],
  bell: ['M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9', 'M10.3 21a2 2 0 0 0 3.4 0'],
  bellOff: ['M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9', 'M10.3 21a2 2 0 0 0 3.4 0', 'M3 3l18 18'],
  logout: ['M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4', 'M16 17l5-5-5-5', 'M21 12H9'],
  close: ['M18 6L6 18', 'M6 6l12 12'],
  check: ['M20 6L9 17l-5-5'],
  plus: ['M12 5v14', 'M5 12h14'],
  settings: ['M4 21v-7', 'M4 10V3', 'M12 21v-9', 'M12 8V3', 'M20 21v-5', 'M20 12V3', 'M1 14h6', 'M9 8h6', 'M17 16h6'],
  send: ['M22 2L11 13', 'M22 2l-7 20-4-9-9-4z'],
  chat: ['M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z'],
  user: [CIRCLE(12, 7, 4), 'M4 21v-1a7 7 0 0 1 7-7h2a7 7 0 0 1 7 7v1'],
  compass: [CIRCLE(12, 12, 9), 'M16 8l-2 6-6 2 2-6z'],
  search: [CIRCLE(11, 11, 7), 'M21 21l-5-5'],
  lock: ['M5 11h14v10H5z', 'M8 11V7a4 4 0 0 1 8 0v4'],
  paperclip: ['M21.4 11l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5'],
  file: ['M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z', 'M14 2v6h6', 'M16 13H8', 'M16 17H8'],
  image: ['M3 3h18v18H3z', CIRCLE(8.5, 8.5, 1.5), 'M21 15l-5-5L5 21'],
  download: ['M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4', 'M7 10l5 5 5-5', 'M12 15V3'],
};

/** The names of the icons there are. */
export const ICONS = Object.freeze(Object.keys(PATHS));

/**
 * An icon as an `<svg>` element, hidden from assistive technology: the button or link around it
 * carries the accessible name.
 * @param {keyof typeof PATHS} name
 * @param {number} [size] in CSS pixels
 * @returns {SVGSVGElement}
 */
export function icon(name, size = 18) {
  const svg = document.createElementNS(SVG, 'svg');
  for (const [k, v] of Object.entries({
    viewBox: '0 0 24 24', width: size, height: size, fill: 'none', stroke: 'currentColor',
    'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round',
    'aria-hidden': 'true', focusable: 'false', class: `svg-icon icon-${name}`,
  })) svg.setAttribute(k, String(v));
  for (const d of PATHS[name] ?? []) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}
