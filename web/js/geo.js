// Draws parcels' GeoJSON boundaries (Polygon or MultiPolygon, lon/lat) as one SVG, without
// map tiles: an equirectangular projection scaled by the latitude's cosine, fitted to the box.

const SVG = 'http://www.w3.org/2000/svg';

function rings(geometry) {
  if (!geometry) return [];
  const g = geometry.type === 'Feature' ? geometry.geometry : geometry;
  if (!g) return [];
  if (g.type === 'Polygon') return [g.coordinates];
  if (g.type === 'MultiPolygon') return g.coordinates;
  return [];
}

function el(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** An <svg> of `parcels` ([{code, boundary_geojson}]) or null when none has a boundary. */
export function parcelMap(parcels, { width = 320, height = 220 } = {}) {
  const shapes = parcels
    .map((p) => ({ code: p.code, polygons: rings(p.boundary_geojson) }))
    .filter((s) => s.polygons.length);
  if (!shapes.length) return null;
  const points = shapes.flatMap((s) => s.polygons.flat(2));
  const lats = points.map((p) => p[1]);
  const k = Math.cos(((Math.min(...lats) + Math.max(...lats)) / 2) * Math.PI / 180);
  const xs = points.map((p) => p[0] * k);
  const ys = points.map((p) => -p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 12;
  const scale = Math.min((width - 2 * pad) / (x1 - x0 || 1), (height - 2 * pad) / (y1 - y0 || 1));
  const project = ([lon, lat]) => [
    (pad + (lon * k - x0) * scale).toFixed(1),
    (pad + (-lat - y0) * scale).toFixed(1),
  ];
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, class: 'parcel-map', role: 'img' });
  const title = el('title', {});
  title.textContent = `地块边界示意图：${shapes.map((s) => s.code).join('、')}`;
  svg.append(title);
  for (const s of shapes) {
    const d = s.polygons.map((poly) => poly.map((ring) =>
      `M${ring.map((pt) => project(pt).join(',')).join('L')}Z`).join('')).join('');
    const path = el('path', { d, class: 'parcel-shape', 'fill-rule': 'evenodd' });
    const t = el('title', {});
    t.textContent = s.code;
    path.append(t);
    svg.append(path);
    const ring = s.polygons[0][0];
    const [cx, cy] = project([
      ring.reduce((a, p) => a + p[0], 0) / ring.length,
      ring.reduce((a, p) => a + p[1], 0) / ring.length,
    ]);
    const label = el('text', { x: cx, y: cy, class: 'parcel-label', 'text-anchor': 'middle' });
    label.textContent = s.code;
    svg.append(label);
  }
  return svg;
}
