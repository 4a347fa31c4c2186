// Drives index.html (the Web SDK app) in Debian's chromium through one account's life:
// sign up, sign in, read the account, create a team and list it, reload the page (the cookie
// alone must keep the session), sign out. Prints one JSON object; test_web_sdk.py asserts on it.
// With "scenario": "passkeys" the account registers a passkey on DevTools' virtual authenticator
// instead, signs out, signs in with it and replays that sign-in's assertion.
// Usage: node run.mjs '{"chromium", "page", "sdk", "endpoint", "project", "userId", "email", "password", "name", "teamId", "scenario"?}'
import {chromium} from 'playwright-core';

const config = JSON.parse(process.argv[2]);
const result = {steps: {}, requests: [], console: [], cookies: {}};

function sessionCookies(cookies) {
  return cookies.map(({name, domain, path, httpOnly, secure, sameSite}) => ({name, domain, path, httpOnly, secure, sameSite}));
}

async function openApp(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const apiPath = (request) => request.url().slice(config.endpoint.length);
  page.on('console', (message) => result.console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => result.console.push(`pageerror: ${error.message}`));
  page.on('response', (response) => {
    if (response.url().startsWith(config.endpoint)) {
      const request = response.request();
      result.requests.push({method: request.method(), path: apiPath(request), status: response.status()});
    }
  });
  page.on('requestfailed', (request) => {
    if (request.url().startsWith(config.endpoint)) {
      result.requests.push({method: request.method(), path: apiPath(request), failure: request.failure()?.errorText});
    }
  });
  const step = async (name, action, ...args) => {
    result.steps[name] = await page.evaluate(([action, args]) => window.app[action](...args), [action, args]);
  };
  const open = async (load) => {
    await load();
    result.sdkVersion = await page.evaluate(() => window.appReady);
    result.origin = await page.evaluate(() => location.origin);
  };

  const query = new URLSearchParams({sdk: config.sdk, endpoint: config.endpoint, project: config.project});
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

let browser;
try {
  browser = await chromium.launch({executablePath: config.chromium, args: ['--no-sandbox', '--disable-dev-shm-usage']});
  result.browserVersion = browser.version();
  await (config.scenario === 'passkeys' ? passkeyScenario : scenario)(browser);
} catch (error) {
  result.fatal = String(error.stack || error);
} finally {
  await browser?.close();
}
console.log(JSON.stringify(result));
