// @timeout 60000
// SHA-512 (FIPS 180-4) on the NIST example messages and on lengths around the padding
// boundaries (a block holds 111 message bytes plus padding; 112..128 spill into a second
// padding block). Boundary digests computed with Node's crypto.createHash("sha512") over
// the bytes (i * 7 + 3) & 255.
import { describe, test, expect } from "@devicescript/test"
import { sha512 } from "../../src/crypto/sha512"

function pattern(n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 255
    return b
}

const BOUNDARY: [number, string][] = [
    [110, "a915c6b13dc3bcb70211a6b7913896b606740d7e2341257db7db9b4a5aa3f0e650116aa3f56ad7e97c218da1a9c74043331631d747036d88cdcdb5c21fffcdb5"],
    [111, "68cffa6d0d76f309c9ce0d35280939f8e25990c43b7b086ccdf709be35b07d4ddba599541ff2b1c19d34ea49aeafb9659adb7ac3c0b078bb30a22d57fc6687ef"],
    [112, "d0865c524d1dddf7c23b799c413f5adcd7caefd3f66a9b49750ec81066012c25a8bcf94ddea6dc525691673097ca40e0101e897fc97218cfdb0704084e2bef4b"],
    [113, "606314353bd419f9f7720e8297f2af8a9ed5f0bb0bed29b716bf18e34577623ae7effa46f496bd4282134e7e895284a4760a910d2ad8ec11e9dd75863058cd9c"],
    [127, "e0b6a20f1c0c88970a9340152cd5a1c1ecf3d3b8de55102741879438079473540133b812706e5dbec322c8c9523b6fc8c6d16ee626e87ad5fe3d2916afedc369"],
    [128, "99b16f17aa0b969a5b8f08f367719d516e330ccd2660b6f0688ec031dbc783de50a1cd185a2568dba75070a2403d17d4741d163578515dfd2ff756ddfe4d47b1"],
    [129, "a1556e29185778aa5991e34b8884c840d589f0fbb4b8ed590e51e9ac4eb03a008125000db2671f8fe7f485b59a77b518670078ecb41a54b4cd02a7f1d2ca4c6d"],
    [239, "18ee83f30261c3c645d52aee6a209105b25bba39d33845ef48984cc238e4f21661fb7bd7dd4336f71c40fe87d95e5115d6c7be52e0d3e7e7877d24500b5b58df"],
    [240, "9d60ee60d29ec4fa0b9690c04c1c29413bbe3ed345639182d9d53dcc05926b77b04f4fec1562fb85182954c96b7cbb5d5e4410251ff4f352d09a2da90419fb13"],
    [256, "e49c208e41556e859d1a52d14784a061c2d5ae2c8690a5360e9f9344f60861c1362a9ec05a9f08a4167b3da41bdd122a387413dd06976470e4beff5053f2ac71"],
]

describe("sha512", () => {
    test("NIST: empty message", async () => {
        expect((await sha512(Buffer.alloc(0))).toString("hex")).toBe(
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        )
    })
    test('NIST: "abc"', async () => {
        expect((await sha512(Buffer.from("abc"))).toString("hex")).toBe(
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        )
    })
    test("NIST: 448-bit message", async () => {
        const m = Buffer.from("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        expect((await sha512(m)).toString("hex")).toBe(
            "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"
        )
    })
    test("NIST: 896-bit message", async () => {
        const m = Buffer.from(
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        )
        expect((await sha512(m)).toString("hex")).toBe(
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"
        )
    })
    test("lengths around the padding boundaries (110..129, 239, 240, 256)", async () => {
        for (let i = 0; i < BOUNDARY.length; i++) {
            const n = BOUNDARY[i][0] as number
            const got = (await sha512(pattern(n))).toString("hex")
            expect(`${n}:${got}`).toBe(`${n}:${BOUNDARY[i][1]}`)
        }
    })
    test("the input is not modified and equal inputs give equal digests", async () => {
        const m = pattern(200)
        const a = await sha512(m)
        expect(m.toString("hex")).toBe(pattern(200).toString("hex"))
        expect((await sha512(m)).toString("hex")).toBe(a.toString("hex"))
    })
})
