// The WAN uplink (docs/uplink.md). Wiring: see docs/uplink.md §10.
export * from "./frame"
export * from "./report"
export * from "./counter"
export * from "./flash"
export * from "./uplink"
export * from "./mqtt_link"
export * from "./config"
export * from "./store_source"
