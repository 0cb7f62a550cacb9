// The page's code: analytics.js from @segment/analytics-next, loaded with pulsegate as its CDN
// (settings) host, so the SDK learns its API host from pulsegate and posts there. Bundled by
// esbuild into analytics.js next to index.html.
//
// ?writeKey=...&cdn=http://gateway&user=...&mode=standard|batching
import { AnalyticsBrowser } from '@segment/analytics-next'

const params = new URLSearchParams(location.search)
const user = params.get('user')
const batching = params.get('mode') === 'batching'
const options = batching
  ? { integrations: { 'Segment.io': { deliveryStrategy: { strategy: 'batching', config: { size: 3, timeout: 500 } } } } }
  : {}
const analytics = AnalyticsBrowser.load({ writeKey: params.get('writeKey'), cdnURL: params.get('cdn') }, options)

document.getElementById('identify').onclick = () =>
  analytics.identify(user, { email: `${user}@example.com`, firstName: 'Ada' })
document.getElementById('track').onclick = () =>
  analytics.track('Report Built', { module: 'Reports' })
document.getElementById('page').onclick = () =>
  analytics.page('Dashboards', 'Overview')
