import { equalBytes } from "../wire/bytes"
import { FirmwareManifest } from "../wire/envelope"
import { nativeCrypto } from "../crypto/native"

/**
 * The image half of a firmware update (RFC 9019/9124; docs/commands.md §7). The manifest
 * (a SUIT envelope in a FirmwareManifest command) is read by the wire core's
 * `decodeManifest`, its root signature checked by the action (src/commands/actions.ts),
 * and it is decided by the wire core's `decideManifest` (shared with the head-end's
 * protocol twin of the meter): a sequence number above the meter's, at most
 * MAX_SEQUENCE_STEP above, trustmeter's vendor id, this board's class id, a plausible
 * size. The image is later accepted only if its SHA-256 equals the manifest's digest (who
 * checks it: docs/commands.md §7).
 */

/** true when `image` is exactly the image the manifest describes (size and SHA-256). */
export function imageMatches(m: FirmwareManifest, image: Buffer): boolean {
    if (!image || image.length !== m.imageSize) return false
    return equalBytes(nativeCrypto.sha256([image]), m.digest)
}
