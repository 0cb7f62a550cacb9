// Headless Chromium (Debian's, through playwright-core) clicks through the test page.
//
//   node browser.mjs '{"page": "http://127.0.0.1:9000/index.html?...", "chromium": "/usr/bin/chromium", "expect": 3}'
//
// Clicks Sign in, Build a report, Open the dashboard, waits until the SDK's posts to the
// gateway (`/v1/...`, not the settings) have answered `expect` times, and prints one JSON line
// per post: method, url, status, request headers and body.
import { chromium } from 'playwright-core'

const { page: pageUrl, chromium: executablePath, expect } = JSON.parse(process.argv[2])
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] })
try {
  const page = await browser.newPage()
  const posts = []
  let resolveAll
  const all = new Promise((resolve) => (resolveAll = resolve))
  page.on('console', (message) => process.stderr.write(`console: ${message.text()}\n`))
  page.on('response', async (response) => {
    const request = response.request()
    if (request.method() !== 'POST' || !new URL(request.url()).pathname.startsWith('/v1/')) return
    posts.push({
      method: request.method(),
      url: request.url(),
      status: response.status(),
      headers: await request.allHeaders(),
      body: request.postData(),
    })
    if (posts.length >= expect) resolveAll()
  })
  await page.goto(pageUrl)
  for (const button of ['#identify', '#track', '#page']) await page.click(button)
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`saw only ${posts.length} posts`)), 30_000)
  })
  await Promise.race([all, timeout]).finally(() => clearTimeout(timer))
  for (const post of posts) process.stdout.write(JSON.stringify(post) + '\n')
} finally {
  await browser.close()
}
