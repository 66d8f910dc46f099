// @timeout 120000
// Ed25519 vectors, part 1 of 8 (vector ids with id % 8 === 0): RFC 8032 section 7.1,
// random keys and messages, corrupted copies and edge cases, each checked against
// @noble/curves' strict answer (test/vectors/ed25519.json). Split in eight to keep each
// file under a minute under the test mode's GC stress.
import { describeVectorPart } from "./ed25519_rig"
import { ED25519_VECTORS } from "./vectors/ed25519_1"

describeVectorPart(1, ED25519_VECTORS)
