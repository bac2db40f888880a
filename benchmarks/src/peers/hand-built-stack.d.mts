import type { MiddlewareLike, Stack, StackOptions } from '@mqtt-stack/core'

export interface HandBuiltOptions {
  backend: MiddlewareLike
  metrics?: MiddlewareLike
  ops?: boolean
  stackOptions?: StackOptions
}

export function handBuiltStack(options: HandBuiltOptions): Stack
