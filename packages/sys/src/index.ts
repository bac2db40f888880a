/**
 * @packageDocumentation
 * `$SYS` topics for mqtt-stack: mosquitto's `$SYS/broker/...` status topics (version, uptime, clients,
 * messages, bytes, load averages, subscriptions, retained messages, heap), retained and published every
 * `interval` seconds through the normal relay, so the ACL decides who reads them; clients may not publish
 * to `$SYS/...`.
 */
export { SysErrorCode } from './errors.js'
export { LOAD_WINDOWS, LoadAverage } from './load.js'
export { checkSysOptions, SYS_DEFAULTS, type SysTopicsOptions, sysOptionsFromConfig } from './options.js'
export { isSysTopic, SysTopics } from './sys-topics.js'
