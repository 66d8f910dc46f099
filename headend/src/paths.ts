/** Where the head-end keeps its files by default: beside the checkout it runs from. */
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

/** The repository root (this file lives in headend/src). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
/** Simulated meters' directories and `trustmeter provision` output. */
export const METERS_DIR = join(ROOT, ".meters")
