/**
 * @packageDocumentation
 * Real redis-server processes for tests of a broker on Redis: one on a free loopback port with its data in
 * a temporary directory, restartable on the same directory, or a Redis Cluster of three masters; a TCP
 * proxy in front of one, to cut the broker off from Redis for a while.
 */
export { hasRedis, RedisCluster, RedisServer, type RedisServerOptions } from './redis-server.js'
export { TcpProxy } from './tcp-proxy.js'
