// The WAN uplink (docs/uplink.md). Wiring: see docs/uplink.md §10. The wire formats are in
// src/wire/frame.ts and src/wire/report.ts, shared with the head-end.
export * from "../wire/frame"
export * from "../wire/report"
export * from "./counter"
export * from "./uplink"
export * from "./mqtt_link"
export * from "./config"
export * from "./store_source"
