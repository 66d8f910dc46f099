import { ArmButtonPort, RelayPort, U32 } from "../board/board"
import { DurableRecord } from "../crypto/durable"
import { Storage } from "../storage/storage"
import { TimerPort } from "./ports"

/**
 * Disconnect control as DLMS/COSEM interface class 70 (IEC 62056-6-2, "Disconnect
 * control", attribute control_state) with GB "Arm" semantics: a remote reconnect only
 * arms the meter, and the consumer's button press closes the relay, so nobody's supply
 * comes back while an appliance is left on unattended. A remote disconnect executes after
 * a random offset in [0, limit] seconds (DCUSA DCP 204) so that a stolen key cannot
 * switch a whole fleet off in the same second. The transition rule is the pure
 * `disconnectTransition`; `DisconnectControl` persists and drives the relay.
 */

/** DLMS class 70 control_state values. */
export const enum DisconnectState {
    Disconnected = 0,
    Connected = 1,
    ReadyForReconnection = 2,
}

/** What happens to the disconnect control. */
export const enum DisconnectEvent {
    /** a remote disconnect's random offset has elapsed */
    RemoteDisconnectDue = 1,
    /** a remote reconnect (arm) command */
    RemoteReconnect = 2,
    /** the consumer pressed the arm button */
    ButtonPress = 3,
}

/** The next control_state (pure). Events that make no sense in a state leave it unchanged. */
export function disconnectTransition(state: number, event: number): number {
    if (event === DisconnectEvent.RemoteDisconnectDue) return DisconnectState.Disconnected
    if (event === DisconnectEvent.RemoteReconnect) {
        if (state === DisconnectState.Disconnected) return DisconnectState.ReadyForReconnection
        return state
    }
    if (event === DisconnectEvent.ButtonPress) {
        if (state === DisconnectState.ReadyForReconnection) return DisconnectState.Connected
        return state
    }
    return state
}

/** true when the relay is closed in `state`. */
export function relayClosedIn(state: number): boolean {
    return state === DisconnectState.Connected
}

/** A uniform offset in [0, limitSeconds] from a random u32 (bias < 2^-20 for limits ≤ 3600). */
export function randomOffset(limitSeconds: number, randomU32: number): number {
    return Math.floor((randomU32 / U32) * (limitSeconds + 1))
}

const RECORD = "disc"

export class DisconnectControl {
    private relay: RelayPort
    private timer: TimerPort
    private random: () => number
    private record: DurableRecord
    private current = DisconnectState.Connected
    private pending = false
    private handle = -1

    /** `random` returns a uniform u32 (the firmware passes one from `randomBuffer(4)`). */
    constructor(relay: RelayPort, button: ArmButtonPort, storage: Storage, timer: TimerPort, random: () => number, prefix = "cv.") {
        this.relay = relay
        this.timer = timer
        this.random = random
        this.record = new DurableRecord(storage, prefix + RECORD)
        const self = this
        const pressed = async () => {
            // disconnectTransition(current, ButtonPress): only an armed meter reconnects
            if (self.current !== DisconnectState.ReadyForReconnection) return
            self.current = DisconnectState.Connected
            await self.save()
            await self.relay.setClosed(true)
        }
        // the button's handler is synchronous: the flash write and relay run in their own fiber
        button.onPress(() => {
            pressed.start()
        })
    }

    /** control_state now. */
    state(): number {
        return this.current
    }

    /** true while a remote disconnect waits for its offset (also across a reboot). */
    disconnectPending(): boolean {
        return this.pending
    }

    /**
     * After boot: restores the persisted state and drives the relay to match. A disconnect
     * that was pending when power went is rescheduled with a fresh offset, `limitSeconds`.
     */
    async restore(limitSeconds: number): Promise<void> {
        const b = await this.record.load()
        if (b && b.length === 2 && b[0] <= DisconnectState.ReadyForReconnection) {
            this.current = b[0]
            this.pending = b[1] === 1
        }
        // relayClosedIn, written out (firmware code is counted per function)
        await this.relay.setClosed(this.current === DisconnectState.Connected)
        if (this.pending) this.schedule(limitSeconds)
    }

    /**
     * A verified remote disconnect: persisted as pending, executed after a random offset
     * in [0, limitSeconds]. Returns the offset in seconds.
     */
    async remoteDisconnect(limitSeconds: number): Promise<number> {
        this.pending = true
        await this.save()
        return this.schedule(limitSeconds)
    }

    /** A verified remote reconnect: cancels a pending disconnect, arms a disconnected meter. */
    async remoteReconnect(): Promise<void> {
        if (this.handle >= 0) this.timer.cancel(this.handle)
        this.handle = -1
        this.pending = false
        // disconnectTransition(current, RemoteReconnect)
        if (this.current === DisconnectState.Disconnected) this.current = DisconnectState.ReadyForReconnection
        await this.save()
    }

    private schedule(limitSeconds: number): number {
        if (this.handle >= 0) this.timer.cancel(this.handle)
        // randomOffset(limitSeconds, random())
        const offset = Math.floor((this.random() / U32) * (limitSeconds + 1))
        const self = this
        this.handle = this.timer.after(offset * 1000, async () => {
            self.handle = -1
            // the disconnect executes: disconnectTransition(current, RemoteDisconnectDue)
            self.current = DisconnectState.Disconnected
            self.pending = false
            // persist before acting: after a power cut here the relay starts open and restore() keeps it open
            await self.save()
            await self.relay.setClosed(false)
        })
        return offset
    }

    private async save() {
        const b = Buffer.alloc(2)
        b[0] = this.current
        b[1] = this.pending ? 1 : 0
        await this.record.save(b)
    }
}
