// A minimal multi-series sparkline on a 2D canvas (one per station group: cheap at any fleet size).

export interface SparkSeries {
  label: string;
  color: string;
}

export class Sparkline {
  readonly canvas: HTMLCanvasElement;
  private data: number[][];
  private readonly capacity: number;

  constructor(
    private readonly width: number,
    private readonly height: number,
    private readonly series: SparkSeries[],
    capacity = 300,
  ) {
    this.capacity = capacity;
    this.data = series.map(() => []);
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    this.canvas = document.createElement('canvas');
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${height}px`;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute('aria-label', series.map((s) => s.label).join(', '));
    this.draw();
  }

  push(values: number[]): void {
    values.forEach((v, i) => {
      const d = this.data[i];
      d.push(v);
      if (d.length > this.capacity) d.shift();
    });
    this.draw();
  }

  private draw(): void {
    const c = this.canvas.getContext('2d');
    if (!c) return;
    const dpr = this.canvas.width / this.width;
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, this.width, this.height);
    c.strokeStyle = 'rgba(148,163,184,0.15)';
    c.lineWidth = 1;
    c.beginPath();
    c.moveTo(0, this.height - 0.5);
    c.lineTo(this.width, this.height - 0.5);
    c.stroke();
    let lo = Infinity;
    let hi = -Infinity;
    for (const d of this.data) for (const v of d) if (Number.isFinite(v)) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    if (!Number.isFinite(lo)) return;
    if (hi - lo < 1e-9) (hi += 1), (lo -= 1);
    const pad = 3;
    // Until the buffer fills, the time axis spans what there is (at least a minute), left-aligned.
    const len = Math.max(...this.data.map((d) => d.length));
    const span = Math.min(this.capacity, Math.max(60, len));
    const x = (i: number) => (i / (span - 1)) * this.width;
    const y = (v: number) => pad + (1 - (v - lo) / (hi - lo)) * (this.height - 2 * pad);
    this.data.forEach((d, si) => {
      c.strokeStyle = this.series[si].color;
      c.lineWidth = 1.5;
      c.beginPath();
      let pen = false;
      const off = span - d.length;
      d.forEach((v, i) => {
        if (!Number.isFinite(v)) {
          pen = false;
          return;
        }
        if (pen) c.lineTo(x(off + i), y(v));
        else c.moveTo(x(off + i), y(v));
        pen = true;
      });
      c.stroke();
    });
  }
}
