// Segment's Node SDK (@segment/analytics-node), unmodified, pointed at pulsegate.
//
//   node node-sdk.mjs '{"host": "http://127.0.0.1:8000", "writeKey": "...", "count": 200}'
//
// Sends `count` messages of every type (identify, group, track, page, screen, alias) with
// message ids `${prefix}-${n}`, `pace` ms apart, and prints one JSON line per message when the
// SDK settles it: {"ack": id} once the gateway answered 2xx, {"failed": id, "error": ...} once
// the SDK gave up. The tests read these lines: an acknowledged message must be stored.
import { Analytics } from '@segment/analytics-node'

const options = JSON.parse(process.argv[2])
const { host, writeKey, count, prefix = 'node', pace = 0, maxRetries = 3, flushAt = 15 } = options

const analytics = new Analytics({ writeKey, host, maxRetries, flushAt, flushInterval: 200 })

const print = (line) => process.stdout.write(JSON.stringify(line) + '\n')
const settled = (messageId) => (error) =>
  print(error ? { failed: messageId, error: String(error.reason ?? error) } : { ack: messageId })

function send(n) {
  const messageId = `${prefix}-${n}`
  const userId = `${prefix}-user-${n % 7}`
  const groupId = `${prefix}-account-${n % 3}`
  const done = settled(messageId)
  switch (n % 6) {
    case 0:
      return analytics.identify({ messageId, userId, traits: { email: `${userId}@example.com`, plan: 'pro' } }, done)
    case 1:
      return analytics.group({ messageId, userId, groupId, traits: { name: `Account ${groupId}`, createdAt: '2024-01-01' } }, done)
    case 2:
      return analytics.track({ messageId, userId, event: 'Report Built', properties: { module: 'Reports', n } }, done)
    case 3:
      return analytics.page({ messageId, userId, name: 'Dashboard', category: 'Dashboards' }, done)
    case 4:
      return analytics.screen({ messageId, anonymousId: `${prefix}-anon-${n % 5}`, name: 'Home' }, done)
    default:
      return analytics.alias({ messageId, userId, previousId: `${prefix}-anon-${n % 5}` }, done)
  }
}

for (let n = 0; n < count; n++) {
  send(n)
  if (pace) await new Promise((resolve) => setTimeout(resolve, pace))
}
await analytics.closeAndFlush({ timeout: 120_000 })
print({ done: true })
