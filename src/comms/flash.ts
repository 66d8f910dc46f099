import { readSetting, writeSetting } from "@devicescript/settings"

/**
 * The small persistent state of the uplink (frame-counter reservation, acknowledged
 * sequence, downlink counter). Settings keys all start with `up.` (docs/uplink.md §6).
 * Tests pass an in-memory twin that survives simulated reboots.
 */
export interface UplinkFlash {
    read(key: string): Promise<any>
    write(key: string, value: any): Promise<void>
}

/** UplinkFlash on `@devicescript/settings` (JSON values). */
export class SettingsFlash implements UplinkFlash {
    async read(key: string) {
        return await readSetting(key, undefined)
    }
    async write(key: string, value: any) {
        await writeSetting(key, value)
    }
}

/** In-memory twin: keep the object and hand it to a new Uplink to simulate a reboot. */
export class MemoryFlash implements UplinkFlash {
    data: any = {}
    writes = 0
    async read(key: string) {
        return this.data[key]
    }
    async write(key: string, value: any) {
        this.writes++
        this.data[key] = value
    }
}
