/**
 * One process per run directory (the meters' flash and the embedded database under it):
 * `<dir>/.lock` holds the pid of the process using it. A second `npm start` on the same
 * directory would run the same meters from the same flash files, and PGlite (the embedded
 * database) must never be opened by two processes at once.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"

/** The lock file of a run directory. */
export function runLockFile(dir: string): string {
    return join(dir, ".lock")
}

/** The pid of the live process holding `dir`, or undefined (no lock, or its process is gone). */
export function runDirHolder(dir: string): number | undefined {
    let pid: number
    try {
        pid = Number(readFileSync(runLockFile(dir), "utf8").trim())
    } catch {
        return undefined
    }
    return pid > 0 && processAlive(pid) ? pid : undefined
}

/**
 * Takes `dir/.lock` for this process or throws one line naming the running instance; a
 * lock whose process is gone is taken over. Returns the release, which also runs when
 * this process exits.
 */
export function lockRunDir(dir: string): () => void {
    mkdirSync(dir, { recursive: true })
    const file = runLockFile(dir)
    for (;;) {
        try {
            writeFileSync(file, `${process.pid}\n`, { flag: "wx" })
            break
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
        }
        const pid = runDirHolder(dir)
        if (pid !== undefined && pid !== process.pid)
            throw new Error(`another npm start (pid ${pid}) is running the meters in ${dir}: stop it first, or give this one another --dir (if pid ${pid} is something else, delete ${file})`)
        rmSync(file, { force: true }) // its process is gone
    }
    const release = () => {
        try {
            if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file, { force: true })
        } catch {}
        process.off("exit", release)
    }
    process.on("exit", release)
    return release
}

function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0)
        return true
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM"
    }
}
