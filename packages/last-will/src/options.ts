/** LastWill has no options yet (will storage and the MQTT 5.0 will delay come with a later release). */
export type LastWillOptions = Record<never, never>

export const DEFAULTS: Readonly<LastWillOptions> = Object.freeze({})
