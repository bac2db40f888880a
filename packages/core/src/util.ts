/** Defaults first, then every option the caller set; an option set to `undefined` keeps its default. */
export function withDefaults<T extends object>(defaults: T | undefined, options: Partial<T> | undefined): T {
  const merged: Record<string, unknown> = { ...defaults }
  if (options) {
    for (const [key, value] of Object.entries(options)) {
      if (value !== undefined) merged[key] = value
    }
  }
  return merged as T
}
