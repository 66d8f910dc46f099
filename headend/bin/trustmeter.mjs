#!/usr/bin/env node
// `trustmeter` (package bin): runs the TypeScript CLI (headend/src/cli.ts) through tsx.
import { register } from "tsx/esm/api"
register()
const { main } = await import("../src/cli.ts")
process.exitCode = await main(process.argv.slice(2))
