// Small SVG charts built with DOM calls (no library, no innerHTML).

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/**
 * A bar chart of `series[key]` over time. `points`: [{ at, [key]: number }].
 * Draws into a viewBox so it scales to the container (laptop or phone).
 */
export function barChart(title, points, key, { color = '#3b6fd8', unit = '' } = {}) {
  const width = 600;
  const height = 180;
  const pad = { left: 44, right: 8, top: 12, bottom: 24 };
  const values = points.map((point) => Number(point[key] ?? 0));
  const max = Math.max(1, ...values);
  const figure = document.createElement('figure');
  figure.className = 'chart';
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  const innerWidth = width - pad.left - pad.right;
  const innerHeight = height - pad.top - pad.bottom;
  root.append(svg('line', { x1: pad.left, y1: pad.top + innerHeight, x2: width - pad.right, y2: pad.top + innerHeight, stroke: '#999' }));
  const label = svg('text', { x: 2, y: pad.top + 10, 'font-size': 11, fill: '#666' });
  label.textContent = `${Math.round(max)}${unit}`;
  root.append(label);
  const slot = innerWidth / Math.max(1, values.length);
  values.forEach((value, index) => {
    const barHeight = (value / max) * innerHeight;
    const bar = svg('rect', {
      x: pad.left + index * slot + slot * 0.1,
      y: pad.top + innerHeight - barHeight,
      width: Math.max(1, slot * 0.8),
      height: barHeight,
      fill: color,
    });
    const tip = svg('title');
    tip.textContent = `${new Date(points[index].at).toLocaleString()}: ${value}${unit}`;
    bar.append(tip);
    root.append(bar);
  });
  if (points.length > 0) {
    for (const [index, anchor] of [[0, 'start'], [points.length - 1, 'end']]) {
      const text = svg('text', { x: anchor === 'start' ? pad.left : width - pad.right, y: height - 6, 'font-size': 11, fill: '#666', 'text-anchor': anchor });
      text.textContent = new Date(points[index].at).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit' });
      root.append(text);
    }
  } else {
    const empty = svg('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', fill: '#666' });
    empty.textContent = 'no data in this window';
    root.append(empty);
  }
  figure.append(caption, root);
  return figure;
}
