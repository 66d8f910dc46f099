/**
 * The wire core's cryptography (src/wire/crypto.ts) on the DeviceScript runtime's native
 * primitives: SHA-256, HMAC-SHA-256 and AES-256-CCM (jacdac-c `jd_crypto`). The calls go
 * straight to the runtime's builtins that `@devicescript/crypto` wraps, which saves that
 * package's argument checks in the image (the wire core checks its own inputs).
 */
import { WireCrypto } from "../wire/crypto"

const B: any = Buffer

function sha256(parts: Buffer[]): Buffer {
    return B.digest(undefined, "sha256", parts)
}

function hmacSha256(key: Buffer, data: Buffer): Buffer {
    return B.digest(key, "sha256", [data])
}

// RFC 5869 with L = 32: one expand block, T(1) = HMAC(PRK, info ‖ 0x01)
const ONE = Buffer.from([1])
function hkdfSha256(ikm: Buffer, salt: Buffer, info: Buffer): Buffer {
    const prk = B.digest(salt, "sha256", [ikm])
    return B.digest(prk, "sha256", [info, ONE])
}

function ccmSeal(key: Buffer, nonce: Buffer, plaintext: Buffer): Buffer {
    return (plaintext as any).encrypt("aes-256-ccm", key, nonce, 16)
}

function ccmOpen(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer {
    // 0x1000 + tag length selects decryption; a bad tag throws in the runtime
    return (sealed as any).encrypt("aes-256-ccm", key, nonce, 0x1000 + 16)
}

export const nativeCrypto: WireCrypto = {
    sha256: sha256,
    hmacSha256: hmacSha256,
    hkdfSha256: hkdfSha256,
    ccmSeal: ccmSeal,
    ccmOpen: ccmOpen,
}
