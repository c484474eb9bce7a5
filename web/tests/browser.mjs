// The person's page in a real Chromium (Debian's, driven by playwright-core; no browser is
// downloaded) with a fake camera fed from a .y4m file. Run by `tests/sessions/browser.rs`,
// which starts the server and makes the sessions and the camera files; each scenario prints
// one JSON line with what it saw and exits non-zero when the page did not do what it should.
//
//   node web/tests/browser.mjs SCENARIO '{"base": …, "session": …, "token": …, …}'
//
// Scenarios: card (consent, then the card captured by itself and confirmed), video (the
// selfie stage to the outcome), blurred (guidance, never a capture), denied (no camera
// permission: guidance and the file upload), latency (frame → guidance over N frames),
// conditions (a dark camera below 720p: the warnings, and axe's accessibility rules on each
// screen), embed (the flow mounted by /kyc/sdk.js on a page of another origin).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { createRequire } from 'node:module';

const [scenario, json] = process.argv.slice(2);
const a = JSON.parse(json || '{}');
const out = a.out || '.';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(executablePath)) {
  console.error(`Chromium not found at ${executablePath} (apt-get install chromium)`);
  process.exit(2);
}

/** What the pages logged as errors (reported when a scenario fails). */
const console_ = [];
/** A browser whose camera plays `camera` (none: the permission is refused). */
async function open(camera, { phone = true, grant = true, bypassCSP = false } = {}) {
  const args = ['--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required'];
  if (camera) args.push(`--use-file-for-fake-video-capture=${camera}`);
  if (grant) args.push('--use-fake-ui-for-media-stream');
  const browser = await chromium.launch({ executablePath, headless: true, args });
  const context = await browser.newContext(
    phone
      ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1,
          locale: a.locale || 'en-US', permissions: grant ? ['camera'] : [], bypassCSP }
      : { locale: a.locale || 'en-US', permissions: grant ? ['camera'] : [], bypassCSP },
  );
  const page = await context.newPage();
  const errors = console_;
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  return { browser, page, errors };
}

const screen = (page) => page.locator('.kyc-screen').getAttribute('data-screen');
async function waitScreen(page, names, timeout = 30000) {
  const want = [].concat(names);
  await page.waitForFunction(
    (w) => w.includes(document.querySelector('.kyc-screen')?.getAttribute('data-screen')),
    want,
    { timeout, polling: 100 },
  );
  return screen(page);
}
async function shot(page, name) {
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  return { file, overflow };
}
/** axe-core's rules (WCAG 2 A/AA) on the page as it is: the violations, by rule. */
async function axe(page, name) {
  const require = createRequire(import.meta.url);
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const r = await page.evaluate(() =>
    // @ts-ignore axe is the script just added
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa'] } }),
  );
  return {
    screen: name,
    violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length })),
    passes: r.passes.length,
  };
}
const url = () => `${a.base}/kyc/${a.session}#token=${a.token}`;
const result = { scenario, shots: [], errors: [] };
function done(ok, extra = {}) {
  console.log(JSON.stringify({ ok, ...result, ...extra }));
  process.exit(ok ? 0 : 1);
}

async function consent(page) {
  await waitScreen(page, 'consent');
  result.shots.push(await shot(page, `${a.prefix || ''}consent`));
  await page.locator('#kyc-c1').check();
  await page.locator('#kyc-c2').check();
  await page.locator('.kyc-primary').tap().catch(() => page.locator('.kyc-primary').click());
}

try {
  if (scenario === 'card') {
    const { browser, page, errors } = await open(a.camera);
    await page.goto(url());
    await consent(page);
    await waitScreen(page, 'id_capture');
    // The guidance of the first frames (the capture may already be under way: it needs only
    // three good frames in a row).
    await page.waitForFunction(
      () => document.querySelector('.kyc-checks li') || document.querySelector('.kyc-screen')?.dataset.screen !== 'id_capture',
      null,
      { timeout: 30000, polling: 50 },
    );
    if ((await screen(page)) === 'id_capture') result.shots.push(await shot(page, `${a.prefix || ''}capture`));
    // No click: the page takes the photo by itself once the checks pass.
    await waitScreen(page, ['checking-card', 'confirm'], 60000);
    await waitScreen(page, 'confirm', 60000);
    result.shots.push(await shot(page, `${a.prefix || ''}confirm`));
    result.fields = await page.locator('.kyc-field').count();
    result.fieldNames = await page.locator('.kyc-field dt').allTextContents();
    result.liveFrames = await page.evaluate(() => window.kycFlow.liveLatencies.length);
    if (a.retake) {
      // "No, retake": back to the camera, and the card is taken again by itself.
      await page.locator('.kyc-secondary').click();
      await waitScreen(page, 'id_capture');
      await waitScreen(page, 'confirm', 60000);
      result.retaken = true;
    }
    await page.locator('.kyc-primary').click();
    await waitScreen(page, 'video');
    result.errors = errors;
    await browser.close();
    done(result.fields > 0 && result.liveFrames >= 3);
  } else if (scenario === 'video') {
    const { browser, page, errors } = await open(a.camera);
    await page.goto(url());
    await waitScreen(page, ['confirm', 'video']);
    if ((await screen(page)) === 'confirm') await page.locator('.kyc-primary').click();
    await waitScreen(page, 'video');
    await page.waitForSelector('.kyc-camera video');
    result.prompts = await page.locator('.kyc-actions li').allTextContents();
    if (a.failFirstUpload) {
      // The network drops the first upload: the page sends the same recording again.
      result.uploads = 0;
      await page.route('**/api/v1/face-video', (route) =>
        result.uploads++ === 0 ? route.abort('connectionreset') : route.continue(),
      );
    }
    await page.locator('.kyc-primary').click();
    await page.waitForSelector('.kyc-prompt .kyc-say', { timeout: 10000 });
    await page.waitForTimeout(2600);
    result.shots.push(await shot(page, `${a.prefix || ''}challenge`));
    await waitScreen(page, ['checking-video', 'comparing', 'outcome'], 60000);
    result.shots.push(await shot(page, `${a.prefix || ''}progress`));
    if (a.refresh) {
      // Reloaded while the video is checked: the page comes back at the stage the session is
      // in and shows the events it missed meanwhile.
      // Away for 2.5 s (a refresh on a slow network, a phone switching apps): the session
      // goes on meanwhile. Back without the token in the address: the tab kept it.
      await page.goto('about:blank');
      await page.waitForTimeout(2500);
      await page.goto(`${a.base}/kyc/${a.session}`);
      await page.waitForFunction(() => document.querySelector('.kyc-screen')?.dataset.screen, null, { timeout: 15000 });
      result.resumedAt = await screen(page);
      await page.waitForSelector('.kyc-missed li', { timeout: 30000 }).catch(() => {});
      result.missed = await page.locator('.kyc-missed li').count();
      result.shots.push(await shot(page, `${a.prefix || ''}resumed`));
    }
    await waitScreen(page, 'outcome', 120000);
    result.decision = await page.locator('.kyc-screen').getAttribute('data-decision');
    result.shots.push(await shot(page, `${a.prefix || ''}outcome`));
    result.log = await page.locator('.kyc-log li').evaluateAll((l) => l.map((x) => x.dataset.en || x.textContent));
    // The upload dropped on purpose is the one error the console may show.
    result.errors = errors.filter((e) => !(a.failFirstUpload && /ERR_CONNECTION_RESET/.test(e)));
    await browser.close();
    done(!!result.decision);
  } else if (scenario === 'blurred' || scenario === 'latency') {
    const { browser, page, errors } = await open(a.camera);
    await page.goto(url());
    await consent(page);
    await waitScreen(page, 'id_capture');
    const frames = a.frames || 12;
    await page.waitForFunction((n) => window.kycFlow.liveLatencies.length >= n, frames, {
      timeout: 15000 + frames * 1000,
      polling: 200,
    });
    result.guidance = await page.locator('.kyc-guidance').textContent();
    result.checks = await page.locator('.kyc-checks li').evaluateAll((l) =>
      Object.fromEntries(l.map((x) => [x.dataset.check, x.className])),
    );
    result.shots.push(await shot(page, `${a.prefix || ''}blurred`));
    result.screen = await screen(page);
    const lat = await page.evaluate(() => window.kycFlow.liveLatencies.slice().sort((x, y) => x - y));
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    result.latency = { frames: lat.length, p50: q(0.5), p95: q(0.95), max: lat[lat.length - 1] };
    result.errors = errors;
    await browser.close();
    done(scenario === 'latency' || result.screen === 'id_capture');
  } else if (scenario === 'denied') {
    const { browser, page, errors } = await open(a.camera, { grant: false });
    await page.goto(url());
    await consent(page);
    await waitScreen(page, 'no-camera');
    result.message = await page.locator('.kyc-error').textContent();
    result.shots.push(await shot(page, `${a.prefix || ''}denied`));
    await page.locator('#kyc-file').setInputFiles(a.cardFile);
    await waitScreen(page, 'confirm', 60000);
    result.errors = errors;
    await browser.close();
    done(true);
  } else if (scenario === 'conditions') {
    // A dark camera below 720p: both warnings before any capture. Every screen on the way
    // is checked against axe's WCAG rules.
    const { browser, page, errors } = await open(a.camera, { bypassCSP: true });
    result.axe = [];
    await page.goto(url());
    await waitScreen(page, 'consent');
    result.axe.push(await axe(page, 'consent'));
    await page.locator('#kyc-c1').check();
    await page.locator('#kyc-c2').check();
    await page.locator('.kyc-primary').click();
    await waitScreen(page, 'id_capture');
    await page.waitForFunction(() => /720p/.test(document.querySelector('.kyc-warning')?.textContent || ''), null, {
      timeout: 15000,
    });
    await page.waitForFunction(() => window.kycFlow.liveLatencies.length >= 3, null, { timeout: 20000 });
    result.warning = await page.locator('.kyc-warning').textContent();
    result.shots.push(await shot(page, `${a.prefix || ''}dark`));
    result.axe.push(await axe(page, 'id_capture'));
    result.screen = await screen(page);
    // The language switch, and the same screen in Korean.
    await page.locator('.kyc-lang').click();
    await page.waitForFunction(() => document.documentElement.lang === 'ko', null, { timeout: 5000 });
    await page.waitForFunction(() => /720p/.test(document.querySelector('.kyc-warning')?.textContent || ''), null, {
      timeout: 15000,
    });
    result.warningKo = await page.locator('.kyc-warning').textContent();
    result.axe.push(await axe(page, 'id_capture-ko'));
    result.errors = errors;
    await browser.close();
    done(result.screen === 'id_capture');
  } else if (scenario === 'embed') {
    // The tenant's own page (another origin: another port, served here) loads /kyc/sdk.js
    // and mounts the flow; its calls to the API are cross-origin.
    const { browser, page, errors } = await open(a.camera);
    const shop = `<!doctype html><meta name="viewport" content="width=device-width">
<title>Shop</title><h1>Shop checkout</h1><div id="kyc"></div>
<script src="${a.base}/kyc/sdk.js"></script>
<script>window.decisions = []; window.kycFlow = Kyc.mount(document.getElementById('kyc'),
  { sessionId: ${JSON.stringify(a.session)}, token: ${JSON.stringify(a.token)}, locale: 'en',
    onDecision: (d) => window.decisions.push(d) });</script>`;
    const server = http.createServer((_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(shop));
    await new Promise((r) => server.listen(a.hostPort, '127.0.0.1', r));
    const host = `http://127.0.0.1:${a.hostPort}/shop/checkout.html`;
    await page.goto(host);
    if (a.expectRefused) {
      // The origin is not the tenant's: the API keeps the page out.
      await page.waitForTimeout(4000);
      result.screen = await page.evaluate(() => document.querySelector('.kyc-screen')?.getAttribute('data-screen') || null);
      result.errors = [];
      await browser.close();
      server.close();
      done(result.screen !== 'consent');
    }
    await consent(page);
    await waitScreen(page, 'id_capture');
    await waitScreen(page, 'confirm', 60000);
    result.fields = await page.locator('.kyc-field').count();
    result.liveFrames = await page.evaluate(() => window.kycFlow.liveLatencies.length);
    result.shots.push(await shot(page, `${a.prefix || ''}embedded`));
    // The console reports the refused preflights of the first attempt; nothing else.
    result.errors = errors;
    await browser.close();
    server.close();
    done(result.fields > 0 && result.liveFrames >= 3);
  } else if (scenario === 'docs') {
    // The API docs render their Markdown: no backtick left, code set as code.
    const { browser, page, errors } = await open(null, { phone: false });
    await page.goto(`${a.base}/api/v1/docs`);
    await page.waitForSelector('#ops h2, #ops h3, #ops section', { timeout: 15000 });
    const text = await page.locator('#ops').innerText();
    result.backticks = (text.match(/`/g) || []).length;
    result.code = await page.locator('#ops p code, #ops td code').count();
    result.errors = errors;
    await browser.close();
    done(result.backticks === 0 && result.code > 0);
  } else {
    console.error(`unknown scenario ${scenario}`);
    process.exit(2);
  }
} catch (e) {
  done(false, { error: String(e && e.stack ? e.stack : e), console: console_ });
}
