import { equalBytes, isIntIn } from "../wire/bytes"
import { FirmwareManifest, MAX_SEQUENCE_STEP } from "../wire/envelope"
import { Verdict } from "../wire/opcodes"
import { nativeCrypto } from "../crypto/native"

/**
 * The deciding half of a firmware update, SUIT-like (RFC 9019/9124; docs/commands.md §7):
 * the manifest arrives inside a signed envelope (its codec is the wire core's
 * `decodeManifest`); it is accepted only if its sequence number is above the meter's
 * (anti-rollback is a monotonic counter, never a version string), it names this board,
 * and its size is plausible; one manifest moves the sequence at most MAX_SEQUENCE_STEP. The
 * image is later accepted only if its SHA-256 equals the manifest's digest (who checks it:
 * docs/commands.md §7). Pure except for hashing.
 */

/** Largest image a manifest may announce (the boards' program flash is far smaller). */
export const MAX_IMAGE_SIZE = 4194304

/**
 * Accepted, or FirmwareRejected (malformed, rollback, a sequence more than
 * MAX_SEQUENCE_STEP ahead, wrong board, bad size), for this board at `currentSequence`.
 */
export function decideManifest(m: FirmwareManifest, currentSequence: number, boardId: string): number {
    if (!m) return Verdict.FirmwareRejected
    if (!isIntIn(m.sequence, currentSequence + 1, currentSequence + MAX_SEQUENCE_STEP)) return Verdict.FirmwareRejected
    if (m.board !== boardId) return Verdict.FirmwareRejected
    if (m.imageSize < 1 || m.imageSize > MAX_IMAGE_SIZE) return Verdict.FirmwareRejected
    return Verdict.Accepted
}

/** true when `image` is exactly the image the manifest describes (size and SHA-256). */
export function imageMatches(m: FirmwareManifest, image: Buffer): boolean {
    if (!image || image.length !== m.imageSize) return false
    return equalBytes(nativeCrypto.sha256([image]), m.digest)
}
