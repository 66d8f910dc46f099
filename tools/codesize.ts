/**
 * Firmware code size: what the DeviceScript runtime's 64 KB limit counts, measured on a
 * private build.
 *
 * The runtime refuses an image whose function code ends at or beyond 0x10000 bytes from the
 * image start (runtime/devicescript/verify.c, check 1051: `prevProc < 0x10000` over the
 * function descriptors). The image is laid out (devs_format.h) as
 *
 *   header         112 bytes (32 fixed + 10 section descriptors of 8)
 *   functions      16 bytes per function (devs_function_desc_t), every function,
 *                  including arrow functions, methods, one-line accessors and the library's
 *   functions_data the bytecode of every function, each padded to 4 bytes
 *   --- the 64 KB end: everything below is NOT counted ---
 *   float literals, string tables, string data (string literals, `hex` buffers,
 *   identifiers used as property names), service specs
 *
 * So the end is 112 + Σ (16 + code of each function): string literals and hex constants
 * are free against it, every function costs 16 bytes before its first instruction.
 *
 * `devs build` always writes `.devicescript/bin` under its working directory (its `-o` flag
 * takes no value), and several people and tests build in the same checkout: a build here
 * runs in a temporary directory whose src/, boards/, package.json, devsconfig.json and
 * node_modules are symlinks to the checkout, so it compiles the live sources and nobody
 * else's build can overwrite its output.
 *
 *   npx tsx tools/codesize.ts                  the three firmware entries: end, headroom
 *   npx tsx tools/codesize.ts src/main.ts -v   and bytecode per source file
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { IMAGE_CODE_LIMIT, ROOT, devs, imageCodeEnd } from "./devs.ts"

/** The firmware images: the simulator's and each board's. */
export const FIRMWARE_ENTRIES = ["src/main.ts", "src/main_pico_w.ts", "src/main_esp32_c3.ts"]
/** `npm test` fails a build whose code ends beyond this (60 KB): room for a fix in the field. */
export const CODE_GATE = 60 * 1024
/** Issue 11's goal (56 KB). */
export const CODE_GOAL = 56 * 1024
export { IMAGE_CODE_LIMIT }

export interface PrivateBuild {
    entry: string
    /** the image's function code end (the offset the 64 KB limit applies to) */
    codeEnd: number
    /** the whole .devs file */
    imageBytes: number
    /** bytecode-dbg.json of the build */
    dbg: DebugInfo
}

interface DebugInfo {
    functions: { name: string; size: number; location?: [number, number] }[]
    sources: { path: string; length: number }[]
}

/** Compiles `entry` (a path relative to the repository root) in a private directory. */
export async function buildPrivate(entry: string): Promise<PrivateBuild> {
    const dir = mkdtempSync(join(tmpdir(), "tm-codesize-"))
    try {
        for (const f of ["src", "boards", "package.json", "devsconfig.json", "node_modules"])
            symlinkSync(join(ROOT, f), join(dir, f))
        const abs = resolve(ROOT, entry)
        // entries outside src/ (bench, test firmware) are compiled where they are
        const arg = abs.startsWith(join(ROOT, "src") + "/") ? abs.slice(ROOT.length + 1) : abs
        const r = await devs(["build", arg], { cwd: dir, timeoutMs: 120_000 })
        if (r.code !== 0) throw new Error(`devs build ${entry} failed:\n${r.output}`)
        const bin = join(dir, ".devicescript/bin")
        return {
            entry,
            codeEnd: imageCodeEnd(join(bin, "bytecode.devs")),
            imageBytes: readFileSync(join(bin, "bytecode.devs")).length,
            dbg: JSON.parse(readFileSync(join(bin, "bytecode-dbg.json"), "utf8")),
        }
    } finally {
        rmSync(dir, { recursive: true, force: true })
    }
}

/** One line for `npm test`: the end, the 64 KB limit, the gate and the goal. */
export function describeEnd(end: number): string {
    const left = (n: number) => (end <= n ? `${n - end} under` : `${end - n} OVER`)
    return `code ends at ${end} of ${IMAGE_CODE_LIMIT} bytes: ${left(CODE_GATE)} the 60 KB gate, ${left(CODE_GOAL)} the 56 KB goal`
}

/** The reason a build fails the gate, or undefined. */
export function gateFailure(end: number): string | undefined {
    return end > CODE_GATE ? `code ends at ${end}, over the 60 KB gate (${CODE_GATE}) by ${end - CODE_GATE} bytes` : undefined
}

export interface FileBytes {
    file: string
    /** bytes toward the code end: code plus 16 per function descriptor */
    bytes: number
    functions: number
}

/**
 * Bytecode per source file. A function's `size` in bytecode-dbg.json is its padded code
 * plus its 16-byte descriptor; its `location` is an offset into the concatenated sources.
 * The compiler emits two functions for the whole program, `main` (every module's
 * top-level statements: module constants, tables) and `prototype` (every class's method
 * table, ~11 bytes per method: class methods are compiled in whether called or not), both
 * located at the entry file; they are listed under names of their own.
 */
export function bytesByFile(dbg: DebugInfo): FileBytes[] {
    const starts: [number, string][] = []
    let pos = 0
    for (const s of dbg.sources) {
        starts.push([pos, s.path])
        pos += s.length
    }
    const fileAt = (off: number) => {
        let r = "?"
        for (const [p, n] of starts) if (p <= off) r = n
        return r
    }
    const by = new Map<string, FileBytes>()
    for (const f of dbg.functions) {
        const whole = f.location && f.location[0] === 0 && WHOLE_PROGRAM[f.name]
        const file = whole || (f.location ? fileAt(f.location[0]) : "?")
        const e = by.get(file) ?? { file, bytes: 0, functions: 0 }
        e.bytes += f.size
        e.functions++
        by.set(file, e)
    }
    return [...by.values()].sort((a, b) => b.bytes - a.bytes)
}

const WHOLE_PROGRAM: Record<string, string> = {
    main: "(main: top-level code of every module)",
    prototype: "(prototype: method tables of every class)",
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
    const args = process.argv.slice(2)
    const verbose = args.includes("-v")
    const entries = args.filter(a => !a.startsWith("-"))
    for (const e of entries.length ? entries : FIRMWARE_ENTRIES) {
        const b = await buildPrivate(e)
        console.log(`${e}: ${describeEnd(b.codeEnd)} (${b.dbg.functions.length} functions, image ${b.imageBytes} bytes)`)
        if (verbose) {
            const n = b.dbg.functions.length
            console.log(`  bytes  fns  file (code + 16-byte descriptor per function; descriptors: ${n} x 16 = ${16 * n}; header: 112)`)
        }
        if (verbose) for (const r of bytesByFile(b.dbg)) console.log(`${String(r.bytes).padStart(7)} ${String(r.functions).padStart(4)}  ${r.file}`)
    }
}
