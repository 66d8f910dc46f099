/**
 * The head-end's uplink bits that only a host needs (docs/uplink.md §9, §13). The wire
 * formats themselves (frame header, keys, seal/open, report, ack and command bodies, wire
 * records, topic names) are written once in src/wire/frame.ts and src/wire/report.ts and
 * used here with `nodeCrypto` (headend/src/crypto.ts).
 */

/** The head-end's subscription to every meter's uplink topic `u/<id>`. */
export const UPLINK_FILTER = "u/+"

/** Size of an MQTT 3.1.1 PUBLISH at QoS 0 carrying `payload` bytes on `topic` (§2.3.1 of the spec). */
export function mqttPublishSize(topic: string, payload: number): number {
    const rem = 2 + Buffer.byteLength(topic) + payload
    let lenBytes = 1
    for (let r = rem; r > 127; r = Math.floor(r / 128)) lenBytes++
    return 1 + lenBytes + rem
}
