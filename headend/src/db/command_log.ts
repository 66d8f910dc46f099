/**
 * The command log: every signed envelope the head-end sent, with the downlink frame
 * counter that carried it, and every answer the meter gave (stored per frame by
 * `commitFrames`). A command is keyed by the meter and the envelope's signer key id and
 * counter, which the meter requires to grow per signer (docs/commands.md): logging the
 * same envelope again is a no-op, another envelope under a used (signer, counter) is a
 * signer bug and is refused.
 */
import { Sql } from "./adapter.ts"
import { meterBytes, u32 } from "./values.ts"

export interface SentCommand {
    meterId: string
    signerKeyId: number
    /** the envelope's u64 counter */
    counter: bigint
    opcode: number
    envelope: Buffer
    /** the downlink frame that carried it */
    downEpoch?: number
    downCounter?: number
}

export interface CommandAnswer {
    /** the uplink frame that carried the answer */
    epoch: number
    frameCounter: number
    body: Buffer
    verdict?: number
    detail?: number
    receivedAt: Date
}

export interface LoggedCommand extends SentCommand {
    sentAt: Date
    answers: CommandAnswer[]
}

const U64 = 2n ** 64n

/** Logs a sent command (idempotent); throws when its (signer, counter) already names another envelope. */
export async function logCommand(q: Sql, c: SentCommand): Promise<void> {
    const meter = meterBytes(c.meterId)
    if (!Number.isInteger(c.signerKeyId) || c.signerKeyId < 0 || c.signerKeyId > 255) throw new RangeError("signer key id is a u8")
    if (!Number.isInteger(c.opcode) || c.opcode < 0 || c.opcode > 255) throw new RangeError("opcode is a u8")
    if (typeof c.counter !== "bigint" || c.counter < 0n || c.counter >= U64) throw new RangeError("envelope counter is a u64")
    if (c.downEpoch !== undefined) u32("downlink epoch", c.downEpoch)
    if (c.downCounter !== undefined) u32("downlink counter", c.downCounter, 1)
    const counter = c.counter.toString()
    const inserted = await q.query(
        `INSERT INTO commands (meter_id, signer_key_id, counter, opcode, envelope, down_epoch, down_counter)
         VALUES ($1, $2, $3::numeric, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1 AS one`,
        [meter, c.signerKeyId, counter, c.opcode, c.envelope, c.downEpoch ?? null, c.downCounter ?? null]
    )
    if (inserted.length) return
    const [held] = await q.query<{ envelope: Buffer }>("SELECT envelope FROM commands WHERE meter_id = $1 AND signer_key_id = $2 AND counter = $3::numeric", [meter, c.signerKeyId, counter])
    if (held && !held.envelope.equals(c.envelope)) {
        throw new Error(`signer key ${c.signerKeyId} already sent another envelope to meter ${c.meterId} under counter ${counter}: a signer counter is never reused`)
    }
}

/** The commands sent to `meterId`, oldest first, each with the meter's answers. */
export async function readCommandLog(q: Sql, meterId: string): Promise<LoggedCommand[]> {
    const meter = meterBytes(meterId)
    const cmds = await q.query<{ signer_key_id: number; counter: string; opcode: number; envelope: Buffer; down_epoch: number | null; down_counter: number | null; sent_at: Date }>(
        "SELECT signer_key_id, counter::text AS counter, opcode, envelope, down_epoch, down_counter, sent_at FROM commands WHERE meter_id = $1 ORDER BY sent_at, signer_key_id, counter",
        [meter]
    )
    const answers = await q.query<{ signer_key_id: number; command_counter: string; epoch: number; counter: number; body: Buffer; verdict: number | null; detail: number | null; received_at: Date }>(
        `SELECT signer_key_id, command_counter::text AS command_counter, epoch, counter, body, verdict, detail, received_at
         FROM command_responses WHERE meter_id = $1 AND command_counter IS NOT NULL ORDER BY epoch, counter, idx`,
        [meter]
    )
    const byCommand = new Map<string, CommandAnswer[]>()
    for (const a of answers) {
        const k = `${a.signer_key_id}:${a.command_counter}`
        const list = byCommand.get(k) ?? []
        list.push({ epoch: a.epoch, frameCounter: a.counter, body: a.body, verdict: a.verdict ?? undefined, detail: a.detail ?? undefined, receivedAt: a.received_at })
        byCommand.set(k, list)
    }
    return cmds.map(c => ({
        meterId: meter.toString("hex"),
        signerKeyId: c.signer_key_id,
        counter: BigInt(c.counter),
        opcode: c.opcode,
        envelope: c.envelope,
        downEpoch: c.down_epoch ?? undefined,
        downCounter: c.down_counter ?? undefined,
        sentAt: c.sent_at,
        answers: byCommand.get(`${c.signer_key_id}:${c.counter}`) ?? [],
    }))
}
