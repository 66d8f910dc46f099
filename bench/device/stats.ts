/** Median of a small array of numbers (sorts a copy). */
export function median(xs: number[]): number {
    const s = xs.slice(0)
    s.sort((a, b) => a - b)
    const n = s.length
    if (n === 0) return NaN
    return n % 2 ? s[(n - 1) >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2
}
