/**
 * What a head-end worker of an MQTT 5 shared subscription puts in front of the ingestion
 * service (headend/src/service.ts): the broker hands each uplink frame to one worker of the
 * group (mosquitto in turn), so consecutive frames of one meter reach different workers, and
 * the service decides a frame in memory against the meter's state (replay window, chain head
 * and key), which another worker may have moved on since. The router:
 * - passes a meter's frames to the service one at a time (the next when the previous is
 *   committed and answered: a meter has one frame in flight anyway);
 * - before passing one, compares its header's counter with the state in memory: a counter
 *   that is not the next one (frames went to another worker since, or the epoch changed)
 *   drops the meter's state, which the service then reloads from the database in one
 *   statement (db/meter_state.ts loadMeterState), dropping what is left of its downlink
 *   counter block too. The header is not trusted for anything else: a forged counter costs
 *   a reload, nothing more.
 */
import { HeadEndService, ServiceVerdict } from "../../headend/src/service.ts"
import { claimedMeterId, readHeader } from "../../src/wire/frame"

export class MeterRouter {
    reloads = 0
    passed = 0
    private busy = new Set<string>()
    private waiting = new Map<string, (() => void)[]>()

    constructor(private service: HeadEndService) {}

    /** Runs `job` for `meterId` once no earlier job of that meter is in the service. */
    run<T>(meterId: string, job: () => Promise<T>): Promise<T> {
        return new Promise<T>((resolve, reject) => {
            const go = () => {
                this.busy.add(meterId)
                job()
                    .then(resolve, reject)
                    .finally(() => {
                        const q = this.waiting.get(meterId)
                        const next = q?.shift()
                        if (q && !q.length) this.waiting.delete(meterId)
                        if (next) next()
                        else this.busy.delete(meterId)
                    })
            }
            if (!this.busy.has(meterId)) go()
            else {
                const q = this.waiting.get(meterId) ?? []
                q.push(go)
                this.waiting.set(meterId, q)
            }
        })
    }

    /** One uplink frame: in order per meter, the meter's state dropped first when another worker moved it on. */
    frame(topic: string, payload: Buffer): Promise<ServiceVerdict> {
        let id: string
        try {
            id = claimedMeterId(payload)
        } catch {
            id = ""
        }
        if (!id) return this.service.receive(topic, payload)
        return this.run(id, () => {
            this.refresh(id, payload)
            this.passed++
            return this.service.receive(topic, payload)
        })
    }

    private refresh(id: string, payload: Buffer) {
        const st = this.service.headEnd.meters.get(id)
        if (!st) return
        let h
        try {
            h = readHeader(payload)
        } catch {
            return
        }
        if (h.epoch !== st.epoch || h.counter > st.lastCounter + 1) {
            this.service.headEnd.forget(id)
            this.reloads++
        }
    }
}
