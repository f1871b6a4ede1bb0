/**
 * Optimal one-to-one assignment (docs/reconciliation.md, "Global assignment"): the Hungarian
 * method (Kuhn–Munkres with potentials, O(n²·m)) on a dense weight matrix. A weight ≤ 0 means
 * "not a candidate": such a pair is never returned, so the result is a maximum-weight matching
 * in which any row or column may stay unassigned.
 */

/**
 * Pairs (row, column) of a maximum-weight matching of `weights` (rows × cols, row-major).
 *
 * @example
 * // rows a, b; columns x, y: a–x 3, a–y 2, b–x 2, b–y 0 → a–y and b–x (4 beats a–x alone, 3)
 * maxWeightMatching(Float64Array.from([3, 2, 2, 0]), 2, 2) // [[0, 1], [1, 0]]
 */
export function maxWeightMatching(weights: Float64Array, rows: number, cols: number): Array<[number, number]> {
  if (rows === 0 || cols === 0) return [];
  // The method assigns every row of an n × m problem with n ≤ m: transpose if needed.
  const transpose = rows > cols;
  const n = transpose ? cols : rows;
  const m = transpose ? rows : cols;
  const cost = (i: number, j: number): number => {
    const w = transpose ? weights[j * cols + i]! : weights[i * cols + j]!;
    return w > 0 ? -w : 0;
  };
  // 1-based arrays as in the textbook form; column 0 is the virtual start.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row assigned to column j (0: none)
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = cost(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          const row = p[j]!;
          u[row] = u[row]! + delta;
          v[j] = v[j]! - delta;
        } else minv[j] = minv[j]! - delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const out: Array<[number, number]> = [];
  for (let j = 1; j <= m; j++) {
    const i = p[j]!;
    if (i === 0) continue;
    const r = transpose ? j - 1 : i - 1;
    const c = transpose ? i - 1 : j - 1;
    if (weights[r * cols + c]! > 0) out.push([r, c]);
  }
  out.sort((a, b) => a[0] - b[0]);
  return out;
}

/** Total weight of a set of pairs. */
export function matchingWeight(weights: Float64Array, cols: number, pairs: ReadonlyArray<readonly [number, number]>): number {
  let total = 0;
  for (const [r, c] of pairs) total += weights[r * cols + c]!;
  return total;
}
