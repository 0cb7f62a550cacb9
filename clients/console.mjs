// Headless Chromium (Debian's, through playwright-core) uses the pulsegate console as a person
// would, while @segment/analytics-node sends messages.
//
//   node console.mjs '{"url": "http://127.0.0.1:8000", "key": "<api key>", "writeKey": "...",
//                      "chromium": "/usr/bin/chromium", "account": "acme", "shots": "/tmp/shots"}'
//
// Signs in with the key, opens the live debugger, sends a track call with the SDK and a refused
// one, waits for both rows, opens the stored one; opens the account page and reads its charts;
// saves screenshots of the main pages; runs axe-core on every page. Prints JSON lines:
// {"debugger": rows, "detail": text}, {"account": {charts, userCount}}, {"axe": page, "violations"},
// {"consoleErrors": [...]}.
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'
import { Analytics } from '@segment/analytics-node'

const require = createRequire(import.meta.url)
const options = JSON.parse(process.argv[2])
const { url, key, writeKey, chromium: executablePath, account, shots } = options
const out = (line) => process.stdout.write(JSON.stringify(line) + '\n')

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] })
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const consoleErrors = []
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text())
  })

  await page.goto(`${url}/console/sign-in`)
  await page.fill('#key', key)
  await page.click('button[type=submit]')
  await page.waitForURL('**/console/debugger')
  await page.waitForFunction(() => document.getElementById('debugger-status').textContent === 'Live')

  const analytics = new Analytics({ writeKey, host: url, flushAt: 1 })
  analytics.track({ userId: 'browser-user', event: 'Console Event', properties: { module: 'Reports' } })
  await analytics.closeAndFlush()
  const refused = await fetch(`${url}/v1/track`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Basic ' + btoa(`${writeKey}:`) },
    body: JSON.stringify({ userId: 'browser-user' }),
  })
  if (refused.status !== 400) throw new Error(`the refused call got ${refused.status}`)

  await page.waitForFunction(() => {
    const text = document.getElementById('debugger-rows').textContent
    return text.includes('Console Event') && text.includes('missing')
  }, null, { timeout: 10_000 })
  const rows = await page.$$eval('#debugger-rows tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)))
  await page.click('#debugger-rows tr.accepted a')
  await page.waitForFunction(() => document.querySelector('#detail pre')?.textContent.includes('projection'))
  const detail = await page.textContent('#detail pre')
  if (shots) await page.screenshot({ path: `${shots}/debugger.png`, fullPage: true })
  out({ debugger: rows, detail })

  await page.goto(`${url}/console/accounts`)
  if (shots) await page.screenshot({ path: `${shots}/accounts.png`, fullPage: true })
  await page.goto(`${url}/console/accounts/${encodeURIComponent(account)}`)
  await page.waitForFunction(() =>
    [...document.querySelectorAll('figure[data-chart]')].every((f) => f.dataset.drawn === 'true'))
  const charts = await page.$$eval('figure[data-chart]', (figures) => figures.map((f) => ({
    title: f.querySelector('figcaption').textContent,
    points: Number(f.dataset.points),
    canvas: Boolean(f.querySelector('canvas')),
  })))
  const fields = await page.textContent('#account-fields')
  const healthScores = await page.$$eval('#health-table tbody tr', (rows) =>
    rows.map((row) => row.children[1].textContent))
  if (shots) await page.screenshot({ path: `${shots}/account.png`, fullPage: true })
  out({ account: { charts, fields, healthScores } })

  // axe-core is injected as a script, which the console's CSP rightly refuses: this context
  // bypasses it, with the same session.
  const audit = await browser.newContext({ bypassCSP: true, storageState: await context.storageState() })
  const auditPage = await audit.newPage()
  const pages = ['/console/debugger', '/console/accounts', `/console/accounts/${encodeURIComponent(account)}`,
    '/console/users', '/console/users/browser-user', '/console/fields', '/console/health-scores']
  for (const path of pages) {
    await auditPage.goto(`${url}${path}`)
    await auditPage.addScriptTag({ path: require.resolve('axe-core/axe.min.js') })
    const result = await auditPage.evaluate(async () => await window.axe.run(document))
    out({ axe: path, violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })) })
  }
  await page.context().clearCookies()
  await page.goto(`${url}/console/sign-in`)
  await auditPage.goto(`${url}/console/sign-in`)
  await auditPage.context().clearCookies()
  await auditPage.goto(`${url}/console/sign-in`)
  await auditPage.addScriptTag({ path: require.resolve('axe-core/axe.min.js') })
  const signIn = await auditPage.evaluate(async () => await window.axe.run(document))
  out({ axe: '/console/sign-in', violations: signIn.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })) })
  out({ consoleErrors })
} finally {
  await browser.close()
}
