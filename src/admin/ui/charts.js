// Time-series charts of the overview, drawn by uPlot on a canvas at the page's own pixel size
// (text stays 12 px however wide the screen). uPlot is served from this origin
// (/admin/vendor/uPlot.iife.min.js, the global `uPlot`); it styles its elements through
// element.style, which the console's CSP allows, and writes no markup of its own.

const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", sans-serif';
const HEIGHT = 200;
const INK = '#4b5563';
const GRID = '#eef0f3';
/** Whole counts on a count axis: never a tick at 0.5 messages. */
const COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];

/** The uPlot instance of each chart figure on screen (tests and resizing read it here). */
const plots = new WeakMap();
const live = new Set();
export const chartOf = (figure) => plots.get(figure);

const observer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const plot = plots.get(entry.target.closest('figure'));
    const width = Math.floor(entry.contentRect.width);
    if (plot && width > 0 && width !== plot.width) plot.setSize({ width, height: HEIGHT });
  }
});

/** Frees the charts drawn so far (before the overview draws again). */
export function destroyCharts() {
  for (const figure of live) {
    plots.get(figure)?.destroy();
    plots.delete(figure);
  }
  live.clear();
  observer.disconnect();
}

const formatCount = (value) => (value === null || value === undefined ? '—' : Math.round(value).toLocaleString());
const formatMs = (value) => (value === null || value === undefined ? '—' : value >= 1000 ? `${(value / 1000).toFixed(value >= 10_000 ? 0 : 1)} s` : `${Math.round(value)} ms`);
const formatTime = (seconds) => new Date(seconds * 1000).toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const formatDay = (seconds) => new Date(seconds * 1000).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
const formatClock = (seconds) => new Date(seconds * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });

/** A bucket as the time it covers: "Dec 7, 02:57 AM – 02:58 AM", or "Dec 1 – Dec 8" for days and weeks. */
function formatBucket(seconds, bucketSeconds) {
  const end = seconds + bucketSeconds;
  return bucketSeconds >= 86_400 ? `${formatDay(seconds)} – ${formatDay(end)}` : `${formatTime(seconds)} – ${formatClock(end)}`;
}

/** A y axis as wide as its longest label ("1.5 s", "12,000"), measured with the axis font. */
function axisWidth(plot, values, index, cycle) {
  const axis = plot.axes[index];
  // uPlot sizes axes in a few passes; past the second, keep the size found.
  if (cycle > 1) return axis._size;
  let width = axis.ticks.size + axis.gap;
  const longest = (values ?? []).reduce((found, value) => (String(value).length > found.length ? String(value) : found), '');
  if (longest !== '') {
    plot.ctx.font = axis.font[0];
    width += plot.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(width) + 4;
}

/** A round top for the y axis, so the highest bar never touches the frame. */
function niceMax(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max * 1.1));
  return [1, 2, 2.5, 5, 10].map((step) => step * power).find((top) => top >= max * 1.1) ?? 10 * power;
}

/**
 * One metric over time. `points`: the stats series ([{ at, [key] }], every bucket of the window);
 * `bucketSeconds`: its width. `kind`: `bars` for counts, `line` for a latency. Returns the figure;
 * the chart is drawn into it once it is on screen and sized to its width.
 */
export function timeChart(title, points, key, { bucketSeconds, color = '#3b6fd8', kind = 'bars', empty = 'Nothing in this window.' }) {
  const figure = document.createElement('figure');
  figure.className = 'chart';
  figure.dataset.key = key;
  const caption = document.createElement('figcaption');
  caption.textContent = title;
  figure.append(caption);

  const xs = points.map((point) => new Date(point.at).getTime() / 1000);
  const ys = points.map((point) => (point[key] === null || point[key] === undefined ? null : Number(point[key])));
  const present = ys.filter((value) => value !== null && (kind === 'line' || value > 0));
  if (present.length === 0) {
    const note = document.createElement('p');
    note.className = 'chart-empty';
    note.textContent = empty;
    figure.append(note);
    return figure;
  }

  const format = kind === 'line' ? formatMs : formatCount;
  const peak = Math.max(...present);
  const peakAt = xs[ys.indexOf(peak)];
  const total = present.reduce((sum, value) => sum + value, 0);
  const area = document.createElement('div');
  area.className = 'plot';
  area.setAttribute('role', 'img');
  area.setAttribute(
    'aria-label',
    kind === 'line'
      ? `${title}: highest ${format(peak)} at ${formatTime(peakAt)}`
      : `${title}: ${format(total)} in this window, most ${format(peak)} at ${formatTime(peakAt)}`,
  );
  figure.append(area);

  if (typeof window.uPlot !== 'function') {
    // The chart library did not load: the summary is still worth reading.
    area.textContent = area.getAttribute('aria-label');
    return figure;
  }

  const axis = { font: AXIS_FONT, stroke: INK, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1 } };
  const options = {
    width: 300,
    height: HEIGHT,
    // The last bucket is drawn to its end, the first from its start.
    scales: {
      x: { time: true, range: () => [xs[0], xs.at(-1) + bucketSeconds] },
      y: { range: (_plot, _min, max) => [0, niceMax(max ?? 0)] },
    },
    series: [
      { label: 'Time', value: (_plot, seconds) => (seconds === null ? '—' : formatBucket(seconds, bucketSeconds)) },
      {
        label: title,
        stroke: color,
        // Bars are fill only: an outline would draw every empty bucket as a dash on the axis.
        width: kind === 'line' ? 2 : 0,
        fill: kind === 'bars' ? `${color}cc` : undefined,
        paths: kind === 'bars' ? window.uPlot.paths.bars({ size: [0.8, 48], align: 1 }) : undefined,
        points: { show: kind === 'line', size: 5, fill: color },
        spanGaps: false,
        value: (_plot, value) => format(value),
      },
    ],
    axes: [
      { ...axis, space: 70 },
      { ...axis, size: axisWidth, values: (_plot, splits) => splits.map(format), ...(kind === 'bars' ? { incrs: COUNT_STEPS } : {}) },
    ],
    cursor: { y: false, drag: { x: true, y: false }, points: { size: 7 } },
    legend: { show: true },
  };
  const plot = new window.uPlot(options, [xs, ys], area);
  plots.set(figure, plot);
  live.add(figure);
  observer.observe(area);
  return figure;
}
