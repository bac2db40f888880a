/** A mistake in a config, password or ACL file, with where it is: `broker.yaml:3: listeners[0].port ...`. */
export class ConfigError extends Error {
  readonly file: string | undefined
  readonly line: number | undefined

  constructor(message: string, where: { file?: string | undefined; line?: number | undefined } = {}) {
    const at =
      where.file === undefined
        ? ''
        : where.line === undefined
          ? `${where.file}: `
          : `${where.file}:${where.line}: `
    super(`${at}${message}`)
    this.name = 'ConfigError'
    this.file = where.file
    this.line = where.line
  }
}
