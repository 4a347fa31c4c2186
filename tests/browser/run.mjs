// Drives index.html (the Web SDK app) in Debian's chromium through one account's life:
// sign up, sign in, read the account, create a team and list it, reload the page (the cookie
// alone must keep the session), sign out. Prints one JSON object; test_web_sdk.py asserts on it.
// With "scenario": "passkeys" the account registers a passkey on DevTools' virtual authenticator
// instead, signs out, signs in with it and replays that sign-in's assertion.
// With "scenario": "live" it takes commands on stdin, one JSON line each, and answers each with
// one JSON line on stdout (browser_support.BrowserSession), so that the test can write through
// the API between the pages' steps:
//   {"open": "<name>", "sdk", "endpoint", "project"}  a new page (own context)  -> {sdkVersion, origin}
//   {"page": "<name>", "action", "args"}              window.app[action](...args) -> {ok, value | error}
//   {"log": "<name>"}                                 -> {requests, console, realtime: {messages, sockets}}
// Usage: node run.mjs '{"chromium", "page", "sdk", "endpoint", "project", "userId", "email", "password", "name", "teamId", "scenario"?}'
import {createInterface} from 'node:readline';
import {chromium} from 'playwright-core';

const config = JSON.parse(process.argv[2]);
const result = {steps: {}, requests: [], console: [], cookies: {}};

function sessionCookies(cookies) {
  return cookies.map(({name, domain, path, httpOnly, secure, sameSite}) => ({name, domain, path, httpOnly, secure, sameSite}));
}

// A page of the app in a context of its own; `log` collects its API requests and console.
async function openApp(browser, {sdk, endpoint, project} = config, log = result) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const apiPath = (request) => request.url().slice(endpoint.length);
  page.on('console', (message) => log.console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => log.console.push(`pageerror: ${error.message}`));
  page.on('response', (response) => {
    if (response.url().startsWith(endpoint)) {
      const request = response.request();
      log.requests.push({method: request.method(), path: apiPath(request), status: response.status()});
    }
  });
  page.on('requestfailed', (request) => {
    if (request.url().startsWith(endpoint)) {
      log.requests.push({method: request.method(), path: apiPath(request), failure: request.failure()?.errorText});
    }
  });
  const step = async (name, action, ...args) => {
    result.steps[name] = await page.evaluate(([action, args]) => window.app[action](...args), [action, args]);
  };
  const open = async (load) => {
    await load();
    log.sdkVersion = await page.evaluate(() => window.appReady);
    log.origin = await page.evaluate(() => location.origin);
  };

  const query = new URLSearchParams({sdk, endpoint, project});
  await open(() => page.goto(`${config.page}?${query}`));
  return {context, page, step, open};
}

async function scenario(browser) {
  const {context, page, step, open} = await openApp(browser);
  await step('health', 'health');
  await step('signUp', 'signUp', config.userId, config.email, config.password, config.name);
  await step('signIn', 'signIn', config.email, config.password);
  await step('getAccount', 'getAccount');
  await step('createTeam', 'createTeam', config.teamId, 'Browser Team');
  await step('listTeams', 'listTeams');
  result.cookies.afterSignIn = sessionCookies(await context.cookies(config.endpoint));

  // The SDK also keeps a localStorage copy of the session (X-Fallback-Cookies); drop it so
  // that only the browser's cookie can keep the user signed in across the reload.
  result.fallbackStored = await page.evaluate(() => {
    const stored = localStorage.getItem('cookieFallback');
    localStorage.removeItem('cookieFallback');
    return stored !== null;
  });
  await open(() => page.reload());
  await step('getAccountAfterReload', 'getAccount');

  await step('signOut', 'signOut');
  await step('getAccountAfterSignOut', 'getAccount');
  result.cookies.afterSignOut = sessionCookies(await context.cookies(config.endpoint));
}

// A platform authenticator with user verification (a fingerprint reader that always says yes),
// through the DevTools protocol: navigator.credentials talks to it like to a real one.
async function passkeyScenario(browser) {
  const {context, page, step} = await openApp(browser);
  const devtools = await context.newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  const {authenticatorId} = await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  await step('signUp', 'signUp', config.userId, config.email, config.password, config.name);
  await step('signIn', 'signIn', config.email, config.password);
  await step('registerPasskey', 'registerPasskey', 'Virtual authenticator');
  await step('listPasskeys', 'listPasskeys');
  await step('signOut', 'signOut');
  await step('getAccountAfterSignOut', 'getAccount');
  await step('signInWithPasskey', 'signInWithPasskey');
  await step('getAccount', 'getAccount');
  await step('replayAssertion', 'replayAssertion');
  const {credentials} = await devtools.send('WebAuthn.getCredentials', {authenticatorId});
  result.authenticator = credentials.map(({credentialId, isResidentCredential, rpId, signCount}) => ({credentialId, isResidentCredential, rpId, signCount}));
}

// Pages opened and driven by the commands on stdin (see the top of this file).
async function liveScenario(browser) {
  const pages = {};
  const answer = (value) => console.log(JSON.stringify(value));
  answer({browserVersion: result.browserVersion});
  for await (const line of createInterface({input: process.stdin})) {
    const command = JSON.parse(line);
    try {
      if (command.open) {
        const log = {requests: [], console: []};
        const {page} = await openApp(browser, command, log);
        pages[command.open] = {page, log};
        answer({sdkVersion: log.sdkVersion, origin: log.origin});
      } else if (command.log) {
        const {page, log} = pages[command.log];
        answer({...log, realtime: await page.evaluate(() => window.app.realtimeRecord())});
      } else {
        const {page} = pages[command.page];
        answer(await page.evaluate(([action, args]) => window.app[action](...args), [command.action, command.args]));
      }
    } catch (error) {
      answer({fatal: String(error.stack || error)});
    }
  }
}

const scenarios = {passkeys: passkeyScenario, live: liveScenario};
let browser;
try {
  browser = await chromium.launch({executablePath: config.chromium, args: ['--no-sandbox', '--disable-dev-shm-usage']});
  result.browserVersion = browser.version();
  await (scenarios[config.scenario] ?? scenario)(browser);
} catch (error) {
  result.fatal = String(error.stack || error);
} finally {
  await browser?.close();
}
if (config.scenario !== 'live' || result.fatal) {
  console.log(JSON.stringify(result));
}
