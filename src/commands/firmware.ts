import { digest } from "@devicescript/crypto"
import { Verdict } from "../crypto/envelope"
import { FirmwareManifest } from "./ports"
import { getU32BE } from "../crypto/bytes"

/**
 * The deciding half of a firmware update, SUIT-like (RFC 9019/9124; docs/commands.md,
 * "Firmware manifest"): the manifest arrives inside a signed envelope; it is accepted only
 * if its sequence number is above the meter's (anti-rollback is a monotonic counter,
 * never a version string), it names this board, and its size is plausible. The image is
 * later accepted only if its SHA-256 equals the manifest's digest. Pure except for hashing.
 */

export const MANIFEST_FORMAT = 1
/** Largest image a manifest may announce (the boards' program flash is far smaller). */
export const MAX_IMAGE_SIZE = 4194304
const FIXED_SIZE = 42

/** Decodes manifest arguments: format ‖ sequence (u32 BE) ‖ size (u32 BE) ‖ digest (32) ‖ board length ‖ board. */
export function decodeManifest(args: Buffer): FirmwareManifest {
    if (!args || args.length < FIXED_SIZE + 1) return undefined
    if (args[0] !== MANIFEST_FORMAT) return undefined
    const boardLen = args[41]
    if (boardLen < 1 || boardLen > 32 || args.length !== FIXED_SIZE + boardLen) return undefined
    for (let i = 0; i < boardLen; i++) {
        const c = args[FIXED_SIZE + i]
        if (c < 0x21 || c > 0x7e) return undefined
    }
    return {
        sequence: getU32BE(args, 1),
        imageSize: getU32BE(args, 5),
        digest: args.slice(9, 41),
        board: args.slice(FIXED_SIZE, FIXED_SIZE + boardLen).toString(),
    }
}

/** Accepted, or FirmwareRejected (rollback, wrong board, bad size), for this board at `currentSequence`. */
export function decideManifest(m: FirmwareManifest, currentSequence: number, boardId: string): number {
    if (!m) return Verdict.FirmwareRejected
    if (m.sequence <= currentSequence) return Verdict.FirmwareRejected
    if (m.board !== boardId) return Verdict.FirmwareRejected
    if (m.imageSize < 1 || m.imageSize > MAX_IMAGE_SIZE) return Verdict.FirmwareRejected
    return Verdict.Accepted
}

/** true when `image` is exactly the image the manifest describes (size and SHA-256). */
export function imageMatches(m: FirmwareManifest, image: Buffer): boolean {
    if (!image || image.length !== m.imageSize) return false
    const h = digest("sha256", image)
    let diff = 0
    for (let i = 0; i < 32; i++) diff |= h[i] ^ m.digest[i]
    return diff === 0
}
