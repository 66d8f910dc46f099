/**
 * Provisioning: what a meter must hold before it first boots (its id, its secret, its
 * chain key K_0, the utility's trust anchors, where its broker is), and how it gets there.
 *
 * - `meterSettings` computes the settings of one meter from the keystore (pure).
 * - `provisionSimulatedMeter` (sim/src/provision.ts) writes them into a simulated meter's
 *   flash over the devtools Jacdac bus.
 * - `settingsEnvFile` renders them for a board build (`.env.local` format).
 */
import { createHash } from "node:crypto"
import { HeadEndKey, defaultMask, encodeRing, headEndKey } from "./commands.ts"
import { Keystore, MeterEntry, ROLES, Role } from "./keystore.ts"
import { Role as RoleCode } from "../../src/wire/opcodes"

/** Where the meter finds its broker. */
export interface BrokerAddress {
    host: string
    port: number
}

export interface MeterSettingsOptions {
    broker: BrokerAddress
    /** meter clock speed-up (1 = real time); `--interval 10s` gives 180 */
    clockScale?: number
    /** seed of the simulated household's load profile, so meters differ (simulator only) */
    seed?: number
}

/** The role code of each keystore role (docs/commands.md §2). */
export const ROLE_CODE: Record<Role, number> = { root: RoleCode.Root, supplier: RoleCode.Supplier, networkOperator: RoleCode.NetworkOperator }

/**
 * The head-end's signing key of `role` with the id and opcode mask the meter's ring gives
 * it: the role's default opcodes from the one opcode table (src/wire/opcodes.ts).
 */
export function roleKey(ks: Keystore, role: Role): HeadEndKey {
    const k = ks.roles[role]
    return headEndKey(k.keyId, ROLE_CODE[role], defaultMask(ROLE_CODE[role]), Buffer.from(k.secretKey, "hex"))
}

/** The anchor key ring body (`cv.anchor`, docs/commands.md "Key ring"): root, supplier, network operator. */
export function anchorRing(ks: Keystore): Buffer {
    return encodeRing(ROLES.map(r => roleKey(ks, r)))
}

/**
 * The settings of one meter, as the bytes stored under each key. Text values are JSON
 * (what `readSetting` parses); `cv.anchor` is binary (read with `settings.get`).
 * `st.k0` is the chain's initial key K_0 escrowed in the keystore (a JSON hex string, as
 * METER_SECRET): the meter starts its chain with it and deletes it once its genesis record
 * is sealed (src/store/indexstore.ts `KEY_K0`); written again over a running chain, it is
 * deleted at the next boot and changes nothing.
 */
export function meterSettings(ks: Keystore, meter: MeterEntry, opts: MeterSettingsOptions): Record<string, Buffer> {
    const json = (v: unknown) => Buffer.from(JSON.stringify(v))
    return {
        METER_ID: json(meter.meterId),
        METER_SECRET: json(meter.secret),
        [CHAIN_KEY_SETTING]: json(meter.chainKey),
        "cv.anchor": anchorRing(ks),
        UP_HOST: json(opts.broker.host),
        UP_PORT: json(opts.broker.port),
        // docs/metrology.md: the simulated clock's speed-up and the household profile's seed
        "mt.scale": json(opts.clockScale ?? 1),
        "mt.seed": json(opts.seed ?? 1),
    }
}

/** The setting that carries K_0 (src/store/indexstore.ts `KEY_K0`). */
export const CHAIN_KEY_SETTING = "st.k0"

/** A digest of the settings that identify a meter (secret and anchors), to notice a re-keyed fleet. */
export function identityDigest(settings: Record<string, Buffer>): string {
    const h = createHash("sha256")
    for (const k of ["METER_ID", "METER_SECRET", "cv.anchor"]) h.update(k).update(settings[k] ?? Buffer.alloc(0))
    return h.digest("hex").slice(0, 32)
}

/**
 * The meter's settings as a `.env.local` file for a devtools deploy to a board (docs/hil.md).
 * Values are JSON, so ids stay strings; the binary anchor ring goes as a JSON hex string,
 * which the key ring accepts (docs/commands.md, "Provisioning").
 */
export function settingsEnvFile(settings: Record<string, Buffer>): string {
    const lines = ["# written by `trustmeter provision`: secrets, keep out of git (mode 0600)"]
    for (const [k, v] of Object.entries(settings)) {
        if (k === "cv.anchor") lines.push(`${k}=${JSON.stringify(v.toString("hex"))}`)
        else lines.push(`${k}=${v.toString()}`)
    }
    return lines.join("\n") + "\n"
}
