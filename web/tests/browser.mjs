// The person's page in a real Chromium (Debian's, driven by playwright-core; no browser is
// downloaded) with a fake camera fed from a .y4m file. Run by `tests/sessions/browser.rs`,
// which starts the server and makes the sessions and the camera files; each scenario prints
// one JSON line with what it saw and exits non-zero when the page did not do what it should.
//
//   node web/tests/browser.mjs SCENARIO '{"base": …, "session": …, "token": …, …}'
//
// Scenarios: card (consent, then the card captured by itself and confirmed), video (the
// selfie stage to the outcome), blurred (guidance, never a capture), denied (no camera
// permission: guidance and the file upload), latency (frame → guidance over N frames).
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [scenario, json] = process.argv.slice(2);
const a = JSON.parse(json || '{}');
const out = a.out || '.';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(executablePath)) {
  console.error(`Chromium not found at ${executablePath} (apt-get install chromium)`);
  process.exit(2);
}

/** A browser whose camera plays `camera` (none: the permission is refused). */
async function open(camera, { phone = true, grant = true } = {}) {
  const args = ['--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required'];
  if (camera) args.push(`--use-file-for-fake-video-capture=${camera}`);
  if (grant) args.push('--use-fake-ui-for-media-stream');
  const browser = await chromium.launch({ executablePath, headless: true, args });
  const context = await browser.newContext(
    phone
      ? { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1,
          locale: a.locale || 'en-US', permissions: grant ? ['camera'] : [] }
      : { locale: a.locale || 'en-US', permissions: grant ? ['camera'] : [] },
  );
  const page = await context.newPage();
  const errors = [];
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
    result.liveFrames = await page.evaluate(() => window.kycFlow.liveLatencies.length);
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
    result.errors = errors;
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
  done(false, { error: String(e && e.stack ? e.stack : e) });
}
