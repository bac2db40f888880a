/**
 * Whether a topic name or filter has more than `maxLevels` levels or more than `maxLength` bytes of UTF-8.
 * It stops counting levels at the limit, so a topic of 65,535 levels costs no more than one of 129; the
 * byte length is computed only for a topic long enough to be over it (a character is at most 3 bytes).
 */
export function topicOverLimit(topic: string, maxLength: number, maxLevels: number): boolean {
  if (topic.length * 3 > maxLength && Buffer.byteLength(topic) > maxLength) return true
  if (topic.length < maxLevels) return false
  let levels = 1
  for (let at = topic.indexOf('/'); at >= 0; at = topic.indexOf('/', at + 1)) {
    if (++levels > maxLevels) return true
  }
  return false
}
