/**
 * @packageDocumentation
 * __DESCRIPTION__
 */
export { __CLASS__, type __CLASS__Options } from './__NAME__.js'
