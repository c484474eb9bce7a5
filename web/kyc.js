// @ts-check
/**
 * The person's page of a kyc session: consent, the ID card captured by itself once the
 * server's live quality checks pass, the selfie video with the liveness challenge as prompts,
 * progress from the session's WebSocket, the outcome, and recovery after a refresh or a
 * dropped network. No framework, no third-party request: everything comes from this server.
 *
 * Used two ways: the page `/kyc/{sessionId}#token=…` mounts it by itself, and a tenant's own
 * page loads `/kyc/sdk.js` and calls `Kyc.mount(element, {sessionId, token, locale,
 * onDecision})`. The tenant's back end learns the result from its webhook or API, never from
 * here: `onDecision` only says the person is done.
 */
(function () {
  'use strict';

  /** @typedef {'en' | 'ko'} Locale */
  /** @typedef {{en: string, ko: string}} Text */
  /**
   * @typedef {{sessionId: string, seq: number, atMs: number, stage: string, state: string,
   *   progress?: {stage: number, overall: number}, message?: Text, result?: any,
   *   decision?: string, transient?: boolean}} KycEvent
   */
  /**
   * @typedef {{sessionId: string, token?: string, locale?: Locale, base?: string,
   *   onDecision?: (d: {sessionId: string, decision: string}) => void}} MountOptions
   */

  /** Where this script came from: the kyc server, whatever page loaded it. */
  const SCRIPT_ORIGIN = (() => {
    const s = /** @type {HTMLScriptElement | null} */ (document.currentScript);
    return s && s.src ? new URL(s.src).origin : location.origin;
  })();
  /** The consent text's version: the server records it with the purposes. */
  const CONSENT_VERSION = 'kyc-web-2026-12';
  const PURPOSES = ['identity_verification', 'biometric_processing'];
  /** Live frames: their longer side, how often, and how many passing in a row capture. */
  const LIVE_SIDE = 640;
  const LIVE_EVERY_MS = 250;
  const PASSES_TO_CAPTURE = 3;
  /** The selfie video: lead-in, seconds per action, tail. */
  const LEAD_S = 2;
  const ACTION_S = 2.5;
  const TAIL_S = 1;

  /** @type {Record<Locale, Record<string, string>>} */
  const STRINGS = {
    en: {
      title: 'Identity verification',
      lang: '한국어',
      langLabel: 'Switch to Korean',
      consentTitle: 'Before we start',
      consentBody:
        'To verify your identity we read your ID card and compare its photo with a short video of your face. ' +
        'The images are encrypted and kept only as long as the service you are signing up for needs them; ' +
        'you can ask it to erase them.',
      consentId: 'I agree that my ID card is read to verify my identity.',
      consentBio: 'I agree that my face is compared with the photo on my ID card (biometric data).',
      consentGo: 'Agree and continue',
      consentNeeded: 'Please tick both boxes to continue.',
      cardTitle: 'Your ID card',
      cardHelp: 'Hold your ID card inside the frame. The photo is taken by itself when the picture is good.',
      cardStarting: 'Starting the camera…',
      cardChecking: 'Checking your card…',
      cardTaken: 'Photo taken — reading your card…',
      lowRes: 'Your camera gives less than 720p: the card may be hard to read. Use a better camera if you can.',
      dark: 'The picture is very dark: find more light.',
      noCamera: 'We cannot use a camera on this device.',
      denied: 'Camera access was refused. Allow the camera for this page in your browser settings and reload, or upload a photo of your card instead.',
      upload: 'Upload a photo of your card',
      retry: 'Try again',
      confirmTitle: 'Is this your card?',
      confirmHelp: 'We read these details (partly hidden for your privacy).',
      confirmYes: 'Yes, continue',
      confirmNo: 'Retake the photo',
      videoTitle: 'A short video of your face',
      videoHelp: 'Hold the phone at eye level with your face inside the oval. When you start, follow the prompts.',
      videoStart: 'Start recording',
      videoReady: 'Get ready…',
      videoDone: 'Done — uploading your video…',
      videoChecking: 'Checking your video…',
      uploading: 'Uploading',
      uploadFailed: 'The upload did not go through. We will try again.',
      uploadRetry: 'Upload again',
      noRecorder: 'This browser cannot record video. Please use a recent Chrome, Safari or Firefox.',
      turn_left: 'Turn your head to your left',
      turn_right: 'Turn your head to your right',
      look_up: 'Look up',
      blink: 'Blink',
      stageCard: 'ID card',
      stageVideo: 'Video',
      stageComparing: 'Comparing',
      stageDecision: 'Decision',
      progressTitle: 'Checking',
      missed: 'While you were away',
      verified: 'You are verified. Thank you!',
      rejected: 'We could not verify you.',
      review: 'Thank you. A person will review your verification.',
      failed: 'Something went wrong on our side. Please start again from the service you came from.',
      expired: 'This verification has expired. Please start again from the service you came from.',
      erased: 'This verification was erased.',
      notFound: 'We cannot find this verification. The link may be wrong or expired.',
      noToken: 'This link is incomplete: open the link the service gave you again.',
      offline: 'Connection lost — reconnecting…',
      sharpness: 'Sharp',
      lighting: 'Lighting',
      angle: 'Straight',
      completeness: 'Whole card',
      busy: 'Many people are verifying right now — please wait a moment.',
    },
    ko: {
      title: '본인 확인',
      lang: 'English',
      langLabel: '영어로 보기',
      consentTitle: '시작하기 전에',
      consentBody:
        '본인 확인을 위해 신분증을 읽고, 신분증 사진을 짧은 얼굴 영상과 비교합니다. ' +
        '이미지는 암호화되며 가입하시는 서비스에 필요한 기간 동안만 보관되고, 삭제를 요청하실 수 있습니다.',
      consentId: '본인 확인을 위해 신분증을 읽는 데 동의합니다.',
      consentBio: '얼굴을 신분증 사진과 비교하는 데 동의합니다(생체정보).',
      consentGo: '동의하고 계속',
      consentNeeded: '계속하려면 두 항목에 모두 동의해 주세요.',
      cardTitle: '신분증',
      cardHelp: '신분증을 테두리 안에 맞춰 주세요. 사진이 선명하면 자동으로 촬영됩니다.',
      cardStarting: '카메라를 켜는 중…',
      cardChecking: '신분증을 확인하는 중…',
      cardTaken: '촬영했습니다 — 신분증을 읽는 중…',
      lowRes: '카메라 해상도가 720p보다 낮아 신분증을 읽기 어려울 수 있습니다.',
      dark: '화면이 너무 어둡습니다. 밝은 곳으로 이동해 주세요.',
      noCamera: '이 기기에서는 카메라를 사용할 수 없습니다.',
      denied: '카메라 권한이 거부되었습니다. 브라우저 설정에서 이 페이지의 카메라를 허용한 뒤 새로고침하거나, 신분증 사진을 올려 주세요.',
      upload: '신분증 사진 올리기',
      retry: '다시 시도',
      confirmTitle: '본인의 신분증이 맞습니까?',
      confirmHelp: '읽은 정보입니다(개인정보 보호를 위해 일부 가림).',
      confirmYes: '네, 계속',
      confirmNo: '다시 촬영',
      videoTitle: '짧은 얼굴 영상',
      videoHelp: '휴대폰을 눈높이에 두고 얼굴을 타원 안에 맞춰 주세요. 시작하면 안내에 따라 움직여 주세요.',
      videoStart: '녹화 시작',
      videoReady: '준비하세요…',
      videoDone: '완료 — 영상을 올리는 중…',
      videoChecking: '영상을 확인하는 중…',
      uploading: '올리는 중',
      uploadFailed: '업로드에 실패했습니다. 다시 시도합니다.',
      uploadRetry: '다시 올리기',
      noRecorder: '이 브라우저는 영상을 녹화할 수 없습니다. 최신 Chrome, Safari 또는 Firefox를 사용해 주세요.',
      turn_left: '고개를 왼쪽으로 돌려 주세요',
      turn_right: '고개를 오른쪽으로 돌려 주세요',
      look_up: '위를 봐 주세요',
      blink: '눈을 깜빡여 주세요',
      stageCard: '신분증',
      stageVideo: '영상',
      stageComparing: '비교',
      stageDecision: '결과',
      progressTitle: '확인 중',
      missed: '자리를 비운 동안',
      verified: '본인 확인이 완료되었습니다. 감사합니다!',
      rejected: '본인 확인을 완료하지 못했습니다.',
      review: '감사합니다. 담당자가 확인할 예정입니다.',
      failed: '처리 중 문제가 발생했습니다. 이용하시던 서비스에서 다시 시작해 주세요.',
      expired: '본인 확인 시간이 만료되었습니다. 이용하시던 서비스에서 다시 시작해 주세요.',
      erased: '이 본인 확인 기록은 삭제되었습니다.',
      notFound: '본인 확인을 찾을 수 없습니다. 링크가 잘못되었거나 만료되었습니다.',
      noToken: '링크가 완전하지 않습니다. 서비스에서 받은 링크를 다시 열어 주세요.',
      offline: '연결이 끊겼습니다 — 다시 연결하는 중…',
      sharpness: '선명도',
      lighting: '조명',
      angle: '각도',
      completeness: '카드 전체',
      busy: '지금 이용자가 많습니다 — 잠시만 기다려 주세요.',
    },
  };

  /** The card's fields as the confirm screen names them: [English, Korean]. */
  /** @type {Record<string, [string, string]>} */
  const FIELDS = {
    title: ['Document', '신분증 종류'],
    document_type: ['Document', '신분증 종류'],
    name: ['Name', '성명'],
    name_hanja: ['Name (Hanja)', '성명(한자)'],
    rrn: ['Resident registration number', '주민등록번호'],
    resident_number: ['Resident registration number', '주민등록번호'],
    address: ['Address', '주소'],
    issue_date: ['Issued', '발급일'],
    issuer: ['Issued by', '발급기관'],
    licence_number: ['Licence number', '면허번호'],
    licence_type: ['Licence class', '면허 종류'],
    renewal_period: ['Renewal period', '갱신기간'],
    document_code: ['Document code', '문서 코드'],
    issuing_state: ['Issuing country', '발급국'],
    document_number: ['Document number', '문서 번호'],
    nationality: ['Nationality', '국적'],
    birth_date: ['Date of birth', '생년월일'],
    expiry_date: ['Expires', '만료일'],
    sex: ['Sex', '성별'],
  };

  /** The four steps of the bar, and the session states each covers. */
  /** @type {[string, string[]][]} */
  const STAGES = [
    ['stageCard', ['created', 'id_capture']],
    ['stageVideo', ['id_accepted', 'video']],
    ['stageComparing', ['video_accepted', 'comparing']],
    ['stageDecision', ['decided', 'failed', 'expired', 'erased']],
  ];
  /** Icons of the challenge's actions (text, so no image is fetched). */
  const ICONS = { turn_left: '←', turn_right: '→', look_up: '↑', blink: '◉' };

  /**
   * A DOM element with attributes and children.
   * @param {string} tag
   * @param {Record<string, any>} [attrs]
   * @param {...(Node | string | null | undefined | false)} children
   * @returns {HTMLElement}
   */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = String(v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c) el.append(c);
    return el;
  }

  /** @param {number} ms */
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /** @param {string} [lang] @returns {Locale} */
  function pickLocale(lang) {
    return (lang || navigator.language || 'en').toLowerCase().startsWith('ko') ? 'ko' : 'en';
  }

  class Flow {
    /** @param {HTMLElement} root @param {MountOptions} opts */
    constructor(root, opts) {
      this.root = root;
      this.opts = opts;
      this.id = opts.sessionId;
      this.base = (opts.base || location.origin).replace(/\/$/, '');
      this.key = 'kyc:' + this.id;
      /** @type {{token?: string, seq?: number, locale?: Locale}} */
      const saved = JSON.parse(sessionStorage.getItem(this.key) || '{}');
      this.token = opts.token || saved.token || '';
      this.seq = saved.seq || 0;
      /** @type {Locale} */
      this.locale = opts.locale || saved.locale || pickLocale();
      this.state = '';
      /** @type {HTMLElement | null} the events missed while the page was away */
      this.missedList = null;
      /** @type {WebSocket | null} */
      this.ws = null;
      this.wsTries = 0;
      this.closed = false;
      /** @type {MediaStream | null} */
      this.stream = null;
      /** @type {string} the screen shown */
      this.screen = '';
      /** Live frames in flight: captureId → the time its frame left. */
      /** @type {Map<string, number>} */
      this.sentAt = new Map();
      /** @type {Map<string, number>} guidance that arrived before its upload's answer */
      this.earlyGuidance = new Map();
      /** Frame → guidance on screen, ms (for the benchmark). */
      /** @type {number[]} */
      this.liveLatencies = [];
      this.passes = 0;
      this.capturing = false;
      /** @type {any} */
      this.challenge = null;
      /** @type {Blob | null} */
      this.video = null;
      this.comparing = false;
      this.statusSeq = 0;
      this.render();
    }

    /** @param {string} k */
    t(k) {
      return STRINGS[this.locale][k] || STRINGS.en[k] || k;
    }

    /** @param {Text | undefined} m */
    msg(m) {
      return m ? m[this.locale] || m.en : '';
    }

    save() {
      sessionStorage.setItem(
        this.key,
        JSON.stringify({ token: this.token, seq: this.seq, locale: this.locale }),
      );
    }

    // ---- the frame: header, progress bar, screen, event log ----

    render() {
      // The flow's own language; the whole document's only on kyc's own page (an embedding
      // page keeps its own).
      this.root.lang = this.locale;
      if (this.root.hasAttribute('data-kyc-page')) document.documentElement.lang = this.locale;
      this.root.replaceChildren();
      this.root.classList.add('kyc');
      this.langButton = h('button', {
        class: 'kyc-lang',
        type: 'button',
        'aria-label': this.t('langLabel'),
        onclick: () => this.switchLocale(),
        text: this.t('lang'),
      });
      this.bar = h('ol', { class: 'kyc-steps', 'aria-label': this.t('progressTitle') });
      this.fill = h('div', { class: 'kyc-fill' });
      this.meter = h(
        'div',
        { class: 'kyc-meter', role: 'progressbar', 'aria-label': this.t('progressTitle'), 'aria-valuemin': 0, 'aria-valuemax': 100 },
        this.fill,
      );
      this.status = h('p', { class: 'kyc-status', role: 'status', 'aria-live': 'polite' });
      this.main = h('section', { class: 'kyc-screen' });
      this.log = h('ul', { class: 'kyc-log', 'aria-label': 'events' });
      this.missedList = null;
      this.root.append(
        h('header', { class: 'kyc-head' }, h('h1', { text: this.t('title') }), this.langButton),
        this.bar,
        this.meter,
        this.status,
        this.main,
        this.log,
      );
      this.drawBar(0);
    }

    switchLocale() {
      this.locale = this.locale === 'ko' ? 'en' : 'ko';
      this.save();
      const screen = this.screen;
      this.render();
      this.screen = '';
      this.route(this.state, screen);
    }

    /** @param {number} overall */
    drawBar(overall) {
      const at = STAGES.findIndex(([, states]) => states.includes(this.state || 'created'));
      this.bar.replaceChildren(
        ...STAGES.map(([k], i) =>
          h(
            'li',
            {
              class: i < at ? 'done' : i === at ? 'now' : '',
              'aria-current': i === at ? 'step' : undefined,
            },
            this.t(k),
          ),
        ),
      );
      const pct = this.state === 'decided' ? 100 : Math.max(0, Math.min(100, overall));
      this.fill.style.width = pct + '%';
      this.meter.setAttribute('aria-valuenow', String(pct));
    }

    /** @param {string} text @param {boolean} [warn] */
    say(text, warn) {
      this.status.textContent = text;
      this.status.classList.toggle('warn', !!warn);
    }

    /**
     * Shows a screen: its title, then its content; the title takes focus (screen readers
     * announce the step).
     * @param {string} name @param {string} title @param {...(Node | null | false)} content
     */
    show(name, title, ...content) {
      this.screen = name;
      const heading = h('h2', { tabindex: '-1', text: title });
      this.main.replaceChildren(heading, .../** @type {Node[]} */ (content.filter((c) => !!c)));
      this.main.dataset.screen = name;
      heading.focus();
    }

    // ---- the server ----

    /**
     * @param {string} method @param {string} path @param {any} [body]
     * @returns {Promise<{status: number, data?: any, error?: {code: string, message: string}}>}
     */
    async api(method, path, body) {
      /** @type {Record<string, string>} */
      const headers = { Authorization: 'Bearer ' + this.token };
      let payload;
      if (body instanceof FormData) payload = body;
      else if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        payload = JSON.stringify(body);
      }
      const r = await fetch(this.base + path, { method, headers, body: payload });
      const json = await r.json().catch(() => ({}));
      return { status: r.status, data: json.data, error: json.error };
    }

    async start() {
      if (!this.token) return this.end('noToken');
      this.save();
      let r;
      try {
        r = await this.api('GET', '/api/v1/sessions/' + this.id);
      } catch (e) {
        this.say(this.t('offline'), true);
        await sleep(2000);
        return this.start();
      }
      if (r.status === 404 || r.status === 401 || r.status === 403) return this.end('notFound');
      if (!r.data) return this.end('failed');
      this.consented = !!r.data.consent;
      this.statusSeq = r.data.seq || 0;
      this.state = r.data.state;
      this.decision = r.data.decision;
      this.connect();
      this.route(this.state);
    }

    /** Opens the session's WebSocket, replaying what came after the last event seen. */
    connect() {
      if (this.closed) return;
      const url = new URL(this.base + '/ws/kyc/' + this.id);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.searchParams.set('token', this.token);
      url.searchParams.set('since', String(this.seq));
      const ws = new WebSocket(url.toString());
      this.ws = ws;
      // Events from before this connection that this page had not seen: missed while it was
      // away (a refresh, a dropped network). A first visit's history is not "missed".
      const resumed = this.seq > 0;
      const openedAt = Date.now();
      ws.onopen = () => {
        this.wsTries = 0;
        if (this.status.textContent === this.t('offline')) this.say('');
      };
      ws.onmessage = (m) => {
        /** @type {KycEvent} */
        let ev;
        try {
          ev = JSON.parse(String(m.data));
        } catch {
          return;
        }
        this.onEvent(ev, resumed && ev.atMs <= openedAt);
      };
      ws.onclose = (c) => {
        if (this.closed || this.ws !== ws) return;
        // 1013: the server asks for a reconnect at once; otherwise back off up to 10 s.
        const wait = c.code === 1013 ? 0 : Math.min(10000, 500 * 2 ** this.wsTries++);
        if (c.code !== 1013) this.say(this.t('offline'), true);
        setTimeout(() => this.connect(), wait);
      };
    }

    /** @param {KycEvent} ev @param {boolean} replayed */
    onEvent(ev, replayed) {
      const now = performance.now();
      if (ev.transient) return this.onLive(ev, now);
      if (ev.seq <= this.seq && !replayed) return;
      this.seq = Math.max(this.seq, ev.seq);
      this.save();
      this.addLog(ev, replayed);
      if (ev.progress) this.drawBar(ev.progress.overall);
      // What the status read at the start already showed: history, not a change to act on.
      if (ev.seq <= this.statusSeq) return;
      const changed = ev.state !== this.state;
      this.state = ev.state;
      if (ev.decision) this.decision = ev.decision;
      if (ev.state === 'id_accepted' && ev.result && ev.result.challenge) {
        this.challenge = ev.result.challenge;
      }
      if (!replayed && ev.message && !['id_capture', 'video'].includes(this.screen)) {
        this.say(this.msg(ev.message));
      }
      this.react(ev, changed);
    }

    /**
     * The event under the bar: newest first; a progress event of the same step replaces the
     * one before it; events missed while the page was away get a list of their own.
     * @param {KycEvent} ev @param {boolean} replayed
     */
    addLog(ev, replayed) {
      if (!ev.message) return;
      let list = this.log;
      if (replayed) {
        if (!this.missedList) {
          this.missedList = h('ul', { class: 'kyc-missed' });
          this.log.before(h('div', { class: 'kyc-missed-box' }, h('h3', { text: this.t('missed') }), this.missedList));
        }
        list = this.missedList;
      }
      const key = ev.state + '/' + ev.stage;
      const top = /** @type {HTMLElement | null} */ (list.firstElementChild);
      const item = top && top.dataset.key === key ? top : h('li', {});
      item.className = replayed ? 'missed' : '';
      item.dataset.key = key;
      item.dataset.seq = String(ev.seq);
      item.dataset.en = ev.message.en;
      item.textContent = this.msg(ev.message);
      if (item !== top) list.prepend(item);
      while (list.children.length > 12) list.lastElementChild?.remove();
    }

    /**
     * What an event means for the screen shown.
     * @param {KycEvent} ev @param {boolean} changed
     */
    react(ev, changed) {
      const s = ev.state;
      if (s === 'id_capture' && this.screen === 'checking-card') {
        // The card photo was refused (or is still being read): the capture goes on.
        if (ev.result && (ev.result.status === 'retake' || ev.result.guidance)) {
          this.say(this.msg(ev.message), true);
          this.cardCapture();
        } else if (ev.message && ev.stage === 'id_capture' && ev.progress?.stage === 0) {
          this.refreshCard();
        }
        return;
      }
      if (s === 'video' && this.screen === 'checking-video' && !changed) {
        // A video refused for its quality: record again.
        if (ev.result && ev.result.status === 'retake') this.videoScreen(this.msg(ev.message));
        return;
      }
      if (changed) this.route(s);
    }

    /**
     * The screen for state `s` (after a refresh too).
     * @param {string} s @param {string} [prefer] the screen shown before a language switch
     */
    route(s, prefer) {
      this.drawBar(this.fill.style.width ? parseFloat(this.fill.style.width) : 0);
      switch (s) {
        case 'created':
        case 'id_capture':
          if (!this.consented) return this.consentScreen();
          if (prefer === 'checking-card') return this.checkingCard();
          return this.cardCapture();
        case 'id_accepted':
          return this.confirmScreen();
        case 'video':
          return this.checkingVideo();
        case 'video_accepted':
        case 'comparing':
          return this.comparingScreen();
        case 'decided':
          return this.outcome(this.decision || 'review');
        case 'failed':
        case 'expired':
        case 'erased':
          return this.end(s);
      }
    }

    // ---- consent ----

    consentScreen() {
      this.stopCamera();
      const id = h('input', { type: 'checkbox', id: 'kyc-c1' });
      const bio = h('input', { type: 'checkbox', id: 'kyc-c2' });
      const err = h('p', { class: 'kyc-error', role: 'alert' });
      const go = h('button', {
        class: 'kyc-primary',
        type: 'button',
        text: this.t('consentGo'),
        onclick: async () => {
          if (!(/** @type {HTMLInputElement} */ (id).checked && /** @type {HTMLInputElement} */ (bio).checked)) {
            err.textContent = this.t('consentNeeded');
            return;
          }
          go.setAttribute('disabled', '');
          const r = await this.api('POST', '/api/v1/sessions/' + this.id + '/consent', {
            version: CONSENT_VERSION,
            purposes: PURPOSES,
          });
          go.removeAttribute('disabled');
          if (r.status >= 300 && r.error?.code !== 'CONFLICT') {
            err.textContent = r.error ? r.error.message : this.t('failed');
            return;
          }
          this.consented = true;
          this.route(this.state);
        },
      });
      this.show(
        'consent',
        this.t('consentTitle'),
        h('p', { text: this.t('consentBody') }),
        h('p', { class: 'kyc-version', text: CONSENT_VERSION }),
        h('label', { class: 'kyc-check', for: 'kyc-c1' }, id, this.t('consentId')),
        h('label', { class: 'kyc-check', for: 'kyc-c2' }, bio, this.t('consentBio')),
        err,
        go,
      );
    }

    // ---- the camera ----

    /**
     * @param {'environment' | 'user'} facing
     * @returns {Promise<MediaStream | string>} the stream, or the reason there is none
     */
    async camera(facing) {
      this.stopCamera();
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return 'noCamera';
      try {
        this.stream = await navigator.mediaDevices.getUserMedia({
          audio: false,
          video: {
            facingMode: { ideal: facing },
            width: { ideal: facing === 'environment' ? 1920 : 1280 },
            height: { ideal: facing === 'environment' ? 1080 : 720 },
          },
        });
        return this.stream;
      } catch (e) {
        const name = e && /** @type {any} */ (e).name;
        return name === 'NotAllowedError' || name === 'SecurityError' ? 'denied' : 'noCamera';
      }
    }

    stopCamera() {
      if (this.liveTimer) clearTimeout(this.liveTimer);
      this.liveTimer = 0;
      if (this.recorder && this.recorder.state !== 'inactive') this.recorder.stop();
      for (const t of this.stream ? this.stream.getTracks() : []) t.stop();
      this.stream = null;
    }

    /** @param {MediaStream} stream @param {string} cls */
    preview(stream, cls) {
      const v = /** @type {HTMLVideoElement} */ (
        h('video', { autoplay: true, muted: true, playsinline: true, 'aria-hidden': 'true' })
      );
      v.muted = true;
      v.srcObject = stream;
      v.play().catch(() => {});
      const frame = h('div', { class: 'kyc-camera ' + cls }, v, h('div', { class: 'kyc-guide' }));
      return { v, frame };
    }

    // ---- the ID card ----

    async cardCapture() {
      this.passes = 0;
      this.capturing = false;
      this.show('id_capture', this.t('cardTitle'), h('p', { text: this.t('cardStarting') }));
      const got = await this.camera('environment');
      if (typeof got === 'string') return this.cardFallback(got);
      const { v, frame } = this.preview(got, 'kyc-card');
      this.checks = h('ul', { class: 'kyc-checks' });
      this.guidance = h('p', { class: 'kyc-guidance', role: 'status', 'aria-live': 'polite' });
      this.warning = h('p', { class: 'kyc-warning' });
      this.show(
        'id_capture',
        this.t('cardTitle'),
        h('p', { text: this.t('cardHelp') }),
        frame,
        this.guidance,
        this.checks,
        this.warning,
      );
      await new Promise((r) => (v.readyState >= 2 ? r(0) : v.addEventListener('loadeddata', r, { once: true })));
      const s = got.getVideoTracks()[0]?.getSettings() || {};
      const low = Math.min(s.width || v.videoWidth, s.height || v.videoHeight) < 720;
      if (low) this.warning.textContent = this.t('lowRes');
      this.liveLoop(v, low);
    }

    /**
     * Sends a downscaled frame to the live quality lane whenever none is in flight (at most
     * every LIVE_EVERY_MS); the guidance comes back over the WebSocket.
     * @param {HTMLVideoElement} v @param {boolean} low
     */
    async liveLoop(v, low) {
      if (this.screen !== 'id_capture' || this.capturing || !this.stream) return;
      const started = performance.now();
      const canvas = grab(v, LIVE_SIDE);
      const dark = meanLuma(canvas) < 40;
      if (this.warning) this.warning.textContent = [low ? this.t('lowRes') : '', dark ? this.t('dark') : ''].join(' ').trim();
      const blob = await toBlob(canvas, 0.85);
      if (blob) {
        const form = new FormData();
        form.append('sessionId', this.id);
        form.append('mode', 'live');
        form.append('file', blob, 'frame.jpg');
        try {
          const r = await this.api('POST', '/api/v1/id-capture', form);
          if (r.status === 202 && r.data?.captureId) {
            const id = r.data.captureId;
            const early = this.earlyGuidance.get(id);
            if (early !== undefined) {
              this.liveLatencies.push(early - started);
              this.earlyGuidance.delete(id);
            } else this.sentAt.set(id, started);
          } else if (r.status === 503) {
            this.say(this.t('busy'));
            await sleep(1000);
          } else if (r.status === 409) {
            // The state moved on (another tab, or the card was accepted): follow it.
            return this.start();
          }
        } catch {
          this.say(this.t('offline'), true);
          await sleep(1000);
        }
      }
      const wait = Math.max(0, LIVE_EVERY_MS - (performance.now() - started));
      this.liveTimer = window.setTimeout(() => this.liveLoop(v, low), wait);
      this.liveVideo = v;
    }

    /** The live lane's answer: guidance, the four checks; a run of passes captures. */
    /** @param {KycEvent} ev @param {number} now */
    onLive(ev, now) {
      const r = ev.result || {};
      if (!r.live || this.screen !== 'id_capture') return;
      const sent = this.sentAt.get(r.captureId);
      if (sent !== undefined) {
        this.sentAt.delete(r.captureId);
        this.liveLatencies.push(now - sent);
      } else this.earlyGuidance.set(r.captureId, now);
      if (this.guidance) {
        this.guidance.textContent = this.msg(ev.message);
        this.guidance.classList.toggle('ok', !!r.passed);
      }
      if (this.checks && r.quality) {
        this.checks.replaceChildren(
          ...Object.entries(r.quality).map(([name, c]) =>
            h('li', { class: c.passed ? 'pass' : 'fail', 'data-check': name }, (c.passed ? '✓ ' : '✗ ') + this.t(name)),
          ),
        );
      }
      this.passes = r.passed ? this.passes + 1 : 0;
      if (this.passes >= PASSES_TO_CAPTURE && !this.capturing && this.liveVideo) this.takeCard(this.liveVideo);
    }

    /** The full-resolution still, uploaded by itself. @param {HTMLVideoElement} v */
    async takeCard(v) {
      this.capturing = true;
      if (this.liveTimer) clearTimeout(this.liveTimer);
      const blob = await toBlob(grab(v, 4096), 0.92);
      this.stopCamera();
      if (blob) await this.uploadCard(blob);
    }

    /** @param {Blob} blob */
    async uploadCard(blob) {
      this.checkingCard();
      const form = new FormData();
      form.append('sessionId', this.id);
      form.append('file', blob, 'card.jpg');
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await this.api('POST', '/api/v1/id-capture', form);
          if (r.status === 202) return;
          this.say(r.error ? r.error.message : this.t('failed'), true);
          if (r.status === 503 || r.status === 429) {
            await sleep(2000);
            continue;
          }
          return this.cardCapture();
        } catch {
          this.say(this.t('uploadFailed'), true);
          await sleep(Math.min(8000, 1000 * 2 ** attempt));
        }
      }
    }

    checkingCard() {
      this.show('checking-card', this.t('cardTitle'), h('p', { class: 'kyc-wait', text: this.t('cardTaken') }));
    }

    /** After an event of the card's stage: is the photo refused? */
    async refreshCard() {
      const r = await this.api('GET', '/api/v1/id-capture/' + this.id);
      if (r.data && r.data.status === 'retake' && this.screen === 'checking-card') {
        this.say(r.data.guidance.map((/** @type {Text} */ g) => this.msg(g)).join(' '), true);
        this.cardCapture();
      }
    }

    /** No camera: say why, and take a photo of the card from a file. @param {string} why */
    cardFallback(why) {
      const input = /** @type {HTMLInputElement} */ (
        h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp', capture: 'environment', id: 'kyc-file' })
      );
      input.addEventListener('change', () => {
        const f = input.files && input.files[0];
        if (f) this.uploadCard(f);
      });
      this.show(
        'no-camera',
        this.t('cardTitle'),
        h('p', { class: 'kyc-error', role: 'alert', text: this.t(why) }),
        h('label', { class: 'kyc-primary kyc-file', for: 'kyc-file' }, this.t('upload'), input),
        h('button', { type: 'button', class: 'kyc-secondary', text: this.t('retry'), onclick: () => this.cardCapture() }),
      );
    }

    /**
     * A field's name in the page's language; on a Korean card the document number is the
     * resident registration number.
     * @param {string} key @param {string} [doc]
     */
    fieldName(key, doc) {
      const korean = doc === 'resident_registration_card' || doc === 'driver_licence';
      const names = FIELDS[korean && key === 'document_number' ? 'rrn' : key];
      return names ? names[this.locale === 'ko' ? 1 : 0] : key.replace(/_/g, ' ');
    }

    async confirmScreen() {
      this.stopCamera();
      const r = await this.api('GET', '/api/v1/id-capture/' + this.id);
      const d = r.data || {};
      if (d.challenge) this.challenge = d.challenge;
      const rows = Object.entries(d.fields || {}).map(([k, f]) =>
        h('div', { class: 'kyc-field', 'data-field': k }, h('dt', { text: this.fieldName(k, d.documentType) }), h('dd', { text: f.value })),
      );
      this.show(
        'confirm',
        this.t('confirmTitle'),
        h('p', { text: this.t('confirmHelp') }),
        h('dl', { class: 'kyc-fields' }, ...rows),
        h('button', { type: 'button', class: 'kyc-primary', text: this.t('confirmYes'), onclick: () => this.videoScreen() }),
        h('button', { type: 'button', class: 'kyc-secondary', text: this.t('confirmNo'), onclick: () => this.cardCapture() }),
      );
    }

    // ---- the selfie video ----

    /** @param {string} [note] why the last video was refused */
    async videoScreen(note) {
      if (!this.challenge) {
        const r = await this.api('GET', '/api/v1/id-capture/' + this.id);
        this.challenge = r.data && r.data.challenge;
      }
      if (typeof MediaRecorder === 'undefined') {
        return this.show('video', this.t('videoTitle'), h('p', { class: 'kyc-error', role: 'alert', text: this.t('noRecorder') }));
      }
      this.show('video', this.t('videoTitle'), h('p', { text: this.t('cardStarting') }));
      const got = await this.camera('user');
      if (typeof got === 'string') {
        return this.show('video', this.t('videoTitle'), h('p', { class: 'kyc-error', role: 'alert', text: this.t(got) }));
      }
      const { frame } = this.preview(got, 'kyc-selfie');
      const actions = (this.challenge && this.challenge.actions) || [];
      this.prompt = h('div', { class: 'kyc-prompt', role: 'status', 'aria-live': 'assertive' });
      const list = h(
        'ol',
        { class: 'kyc-actions' },
        ...actions.map((/** @type {string} */ a) => h('li', {}, h('span', { class: 'kyc-icon', 'aria-hidden': 'true', text: ICONS[/** @type {keyof ICONS} */ (a)] || '•' }), this.t(a))),
      );
      const start = h('button', {
        type: 'button',
        class: 'kyc-primary',
        text: this.t('videoStart'),
        onclick: () => {
          start.remove();
          this.record(got, actions);
        },
      });
      this.show(
        'video',
        this.t('videoTitle'),
        note ? h('p', { class: 'kyc-error', role: 'alert', text: note }) : null,
        h('p', { text: this.t('videoHelp') }),
        frame,
        this.prompt,
        list,
        start,
      );
    }

    /**
     * Records the video while the prompts run: a lead-in, each action in turn with its
     * countdown, a tail; then uploads it.
     * @param {MediaStream} stream @param {string[]} actions
     */
    async record(stream, actions) {
      const type = ['video/webm;codecs=vp8', 'video/webm', 'video/mp4'].find((t) => MediaRecorder.isTypeSupported(t)) || '';
      const rec = new MediaRecorder(stream, type ? { mimeType: type, videoBitsPerSecond: 2500000 } : {});
      this.recorder = rec;
      /** @type {Blob[]} */
      const parts = [];
      rec.ondataavailable = (e) => e.data.size && parts.push(e.data);
      const stopped = new Promise((r) => (rec.onstop = r));
      rec.start(1000);
      const prompt = /** @type {HTMLElement} */ (this.prompt);
      /** @param {string} icon @param {string} text @param {number} secs */
      const step = async (icon, text, secs) => {
        for (let left = Math.ceil(secs); left > 0; left--) {
          prompt.replaceChildren(
            h('span', { class: 'kyc-icon big', 'aria-hidden': 'true', text: icon }),
            h('span', { class: 'kyc-say', text }),
            h('span', { class: 'kyc-count', text: String(left) }),
          );
          prompt.dataset.action = icon;
          await sleep((secs / Math.ceil(secs)) * 1000);
        }
      };
      await step('●', this.t('videoReady'), LEAD_S);
      for (const a of actions) await step(ICONS[/** @type {keyof ICONS} */ (a)] || '•', this.t(a), ACTION_S);
      await step('●', '', TAIL_S);
      rec.stop();
      await stopped;
      this.stopCamera();
      this.video = new Blob(parts, { type: (rec.mimeType || type || 'video/webm').split(';')[0] });
      this.uploadVideo();
    }

    /** Uploads the recorded video with a progress bar; a network failure retries it. */
    async uploadVideo() {
      const blob = this.video;
      if (!blob) return this.videoScreen();
      const bar = h('progress', { max: 100, value: 0, 'aria-label': this.t('uploading') });
      const note = h('p', { role: 'status' });
      this.show('uploading', this.t('videoTitle'), h('p', { text: this.t('videoDone') }), bar, note);
      for (let attempt = 0; attempt < 6; attempt++) {
        const r = await this.send(blob, /** @type {HTMLProgressElement} */ (bar));
        if (r.status === 202) return this.checkingVideo();
        if (r.status === 0 || r.status === 503 || r.status === 429) {
          note.textContent = this.t('uploadFailed');
          await sleep(Math.min(8000, 1000 * 2 ** attempt));
          continue;
        }
        if (r.error && r.error.code === 'CHALLENGE_EXPIRED') {
          this.challenge = null;
          return this.videoScreen(r.error.message);
        }
        return this.videoScreen(r.error ? r.error.message : this.t('failed'));
      }
      note.replaceChildren(
        this.t('uploadFailed'),
        h('button', { type: 'button', class: 'kyc-primary', text: this.t('uploadRetry'), onclick: () => this.uploadVideo() }),
      );
    }

    /**
     * @param {Blob} blob @param {HTMLProgressElement} bar
     * @returns {Promise<{status: number, error?: {code: string, message: string}}>}
     */
    send(blob, bar) {
      return new Promise((resolve) => {
        const form = new FormData();
        form.append('sessionId', this.id);
        form.append('file', blob, blob.type === 'video/mp4' ? 'selfie.mp4' : 'selfie.webm');
        const x = new XMLHttpRequest();
        x.open('POST', this.base + '/api/v1/face-video');
        x.setRequestHeader('Authorization', 'Bearer ' + this.token);
        x.upload.onprogress = (e) => {
          if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
        };
        x.onload = () => {
          let body = {};
          try {
            body = JSON.parse(x.responseText);
          } catch {}
          resolve({ status: x.status, error: /** @type {any} */ (body).error });
        };
        x.onerror = () => resolve({ status: 0 });
        x.send(form);
      });
    }

    checkingVideo() {
      this.stopCamera();
      this.show('checking-video', this.t('progressTitle'), h('p', { class: 'kyc-wait', text: this.t('videoChecking') }), h('div', { class: 'kyc-spinner', 'aria-hidden': 'true' }));
    }

    /** The video is accepted: ask for the comparison (once), then wait for the decision. */
    async comparingScreen() {
      this.stopCamera();
      this.show('comparing', this.t('progressTitle'), h('div', { class: 'kyc-spinner', 'aria-hidden': 'true' }));
      if (this.state === 'video_accepted' && !this.comparing) {
        this.comparing = true;
        const r = await this.api('POST', '/api/v1/face-similarity', { sessionId: this.id });
        if (r.status !== 202 && r.status !== 409) this.say(r.error ? r.error.message : this.t('failed'), true);
        this.comparing = false;
      }
    }

    /** @param {string} decision */
    outcome(decision) {
      this.stopCamera();
      const key = ['verified', 'rejected', 'review'].includes(decision) ? decision : 'failed';
      this.drawBar(100);
      this.show('outcome', this.t(key), h('div', { class: 'kyc-outcome ' + key, 'aria-hidden': 'true', text: key === 'verified' ? '✓' : key === 'review' ? '…' : '✗' }));
      this.main.dataset.decision = key;
      this.closed = true;
      if (this.ws) this.ws.close();
      if (this.opts.onDecision) this.opts.onDecision({ sessionId: this.id, decision: key });
    }

    /** @param {string} why */
    end(why) {
      this.stopCamera();
      this.closed = true;
      if (this.ws) this.ws.close();
      this.show('end', this.t(why), h('p', { class: 'kyc-error', role: 'alert', text: '' }));
      this.main.dataset.end = why;
    }
  }

  /** The video's frame on a canvas, its longer side at most `side`. */
  /** @param {HTMLVideoElement} v @param {number} side */
  function grab(v, side) {
    const scale = Math.min(1, side / Math.max(v.videoWidth || 1, v.videoHeight || 1));
    const c = document.createElement('canvas');
    c.width = Math.max(1, Math.round((v.videoWidth || 1) * scale));
    c.height = Math.max(1, Math.round((v.videoHeight || 1) * scale));
    c.getContext('2d')?.drawImage(v, 0, 0, c.width, c.height);
    return c;
  }

  /** The mean brightness (0–255) of a canvas, on a sparse grid. @param {HTMLCanvasElement} c */
  function meanLuma(c) {
    const ctx = c.getContext('2d', { willReadFrequently: true });
    if (!ctx) return 128;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let sum = 0;
    let n = 0;
    for (let i = 0; i < d.length; i += 4 * 37) {
      sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      n++;
    }
    return n ? sum / n : 128;
  }

  /** @param {HTMLCanvasElement} c @param {number} q @returns {Promise<Blob | null>} */
  function toBlob(c, q) {
    return new Promise((r) => c.toBlob(r, 'image/jpeg', q));
  }

  /** Adds the stylesheet once (the SDK on a tenant's page). @param {string} base */
  function style(base) {
    if (document.querySelector('link[data-kyc]')) return;
    document.head.append(h('link', { rel: 'stylesheet', href: base + '/kyc/assets/kyc.css', 'data-kyc': true }));
  }

  const Kyc = {
    /**
     * Mounts the flow in `element`.
     * @param {HTMLElement} element @param {MountOptions} opts
     */
    mount(element, opts) {
      const base = (opts.base || SCRIPT_ORIGIN).replace(/\/$/, '');
      style(base);
      const flow = new Flow(element, { ...opts, base });
      flow.start();
      return flow;
    },
    pickLocale,
  };
  /** @type {any} */ (window).Kyc = Kyc;

  // The page /kyc/{sessionId}#token=…: mount by itself. The token leaves the address bar (it
  // stays in this tab's sessionStorage for a refresh).
  const root = /** @type {HTMLElement | null} */ (document.querySelector('[data-kyc-page]'));
  const m = location.pathname.match(/^\/kyc\/([0-9a-f-]{36})\/?$/i);
  if (root && m) {
    const hash = new URLSearchParams(location.hash.slice(1));
    const token = hash.get('token') || undefined;
    if (token) history.replaceState(null, '', location.pathname + location.search);
    /** @type {any} */ (window).kycFlow = Kyc.mount(root, {
      sessionId: m[1],
      token,
      locale: /** @type {Locale | undefined} */ (hash.get('locale') || undefined),
      base: location.origin,
    });
  }
})();
