// The same loop as bench/device/vm.bench.ts on the host, as a reference for the VM's speed.
export default async function (results: Record<string, number>) {
    const times: number[] = []
    for (let r = 0; r < 7; r++) {
        const t0 = performance.now()
        let x = 0
        for (let i = 0; i < 100000; i++) x = (x + i) | 0
        times.push(performance.now() - t0 + (x === 1 ? 1 : 0))
    }
    times.sort((a, b) => a - b)
    const node = times[3]
    const out: Record<string, number> = { node_loop_100k_ms: node }
    if (results.vm_loop_100k_ms !== undefined) out.vm_vs_node_loop_ratio = results.vm_loop_100k_ms / node
    return out
}
