// Headless Chromium as the operator in the pulsegate console's setup pages.
//
//   node console_setup.mjs '{"url": "...", "adminToken": "...", "workspace": "<id>",
//     "chromium": "/usr/bin/chromium", "connector": "crm-export", "destination": "<id>",
//     "delivery": 42, "source": "web", "shots": "/tmp/shots"}'
//
// Signs in with the admin token and switches to the workspace; presses "Run <connector> now"
// and watches the run page until the run has finished; retries the dead delivery from the
// deliveries page; rotates the source's key. Prints JSON lines: {"run": status}, {"delivery":
// status}, {"writeKey": key}, then {"axe": page, "violations"} for each page, {"consoleErrors"}.
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'

const require = createRequire(import.meta.url)
const o = JSON.parse(process.argv[2])
const out = (line) => process.stdout.write(JSON.stringify(line) + '\n')

const browser = await chromium.launch({ executablePath: o.chromium, args: ['--no-sandbox'] })
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const consoleErrors = []
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text())
  })
  await page.goto(`${o.url}/console/sign-in`)
  await page.fill('#key', o.adminToken)
  await page.click('button[type=submit]')
  await page.waitForURL('**/console/debugger')
  await page.selectOption('#workspace-switch', o.workspace)
  await page.click('form[action="/console/workspace"] button')
  await page.waitForURL('**/console/debugger')

  await page.goto(`${o.url}/console/setup`)
  await page.fill('#dest-name', 'crm-from-the-page')
  await page.fill('#dest-domain', 'acme.myfreshworks.com')
  await page.fill('#dest-key', 'a-freshsales-key')
  await page.click('text=Add the destination')
  await page.waitForURL('**/console/setup')
  const destinations = await page.$$eval('#destinations-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent))
  out({ destinations })
  await page.click('text=Add the connector')  // the example the form holds: a CSV connector
  await page.waitForURL('**/console/connectors/*')
  await page.click(`text=Run ${o.connector} now`)
  await page.waitForURL('**/console/connectors/**/runs/**')
  const runUrl = page.url()
  await page.waitForFunction(() => ['succeeded', 'failed'].includes(
    document.getElementById('run-status')?.textContent), null, { timeout: 30_000 })
  out({ run: await page.textContent('#run-status') })
  if (o.shots) await page.screenshot({ path: `${o.shots}/connector-run.png`, fullPage: true })

  await page.goto(`${o.url}/console/destinations/${o.destination}?status=dead`)
  await page.click(`text=Retry delivery ${o.delivery}`)
  await page.waitForURL(`**/console/destinations/${o.destination}`)
  const status = await page.getAttribute(`#deliveries-table tr:has(td:text-is("${o.delivery}"))`, 'data-status')
  out({ delivery: status })

  await page.goto(`${o.url}/console/setup`)
  if (o.shots) await page.screenshot({ path: `${o.shots}/setup.png`, fullPage: true })
  await page.fill('input[name=grace_hours]', '0')
  await page.click(`text=Rotate the key of ${o.source}`)
  out({ writeKey: await page.textContent('#new-write-key') })

  const audit = await browser.newContext({ bypassCSP: true, storageState: await context.storageState() })
  const auditPage = await audit.newPage()
  for (const path of ['/console/setup', `/console/destinations/${o.destination}`, new URL(runUrl).pathname, '/console/operations']) {
    await auditPage.goto(`${o.url}${path}`)
    await auditPage.addScriptTag({ path: require.resolve('axe-core/axe.min.js') })
    const result = await auditPage.evaluate(async () => await window.axe.run(document))
    out({ axe: path, violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })) })
  }
  out({ consoleErrors })
} finally {
  await browser.close()
}
