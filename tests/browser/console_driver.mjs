// Drives the nib console in Debian's chromium, one command at a time: each stdin line is one JSON
// command, answered by one JSON line on stdout (console_browser.ConsoleBrowser). Commands:
//   {"goto": url}                          -> {url, status, title}
//   {"fill": selector, "value": text}      {"select": selector, "value": v}   {"check": selector, "on": bool}
//   {"click": selector, "navigate": bool}  clicks (waits for the page it loads when "navigate")
//   {"press": selector, "key": "Enter"}    {"upload": selector, "files": [paths]}
//   {"text": selector}                     -> its text       {"count": selector} -> how many
//   {"attr": selector, "name": attr}       -> the attribute  {"eval": "expression"} -> its value
//   {"wait": selector, "state": "visible", "timeout": ms}
//   {"waitFor": "expression", "timeout": ms}  until the expression is truthy in the page
//   {"viewport": [width, height]}          {"screenshot": path, "full": bool}
//   {"offline": bool}                      the network off or back on
//   {"log": true}                          -> {console, errors, dialogs, failed}
// Confirmation dialogs are accepted (and recorded). A failing command answers {"error": message}.
// Usage: node console_driver.mjs '{"chromium": path}'
import {createInterface} from 'node:readline';
import {chromium} from 'playwright-core';

const config = JSON.parse(process.argv[2]);
const log = {console: [], errors: [], dialogs: [], failed: []};
const browser = await chromium.launch({executablePath: config.chromium, args: ['--no-sandbox', '--disable-dev-shm-usage']});
const context = await browser.newContext({viewport: {width: 1280, height: 860}});
const page = await context.newPage();
page.setDefaultTimeout(config.timeout || 15000);
page.on('console', (message) => log.console.push(`${message.type()}: ${message.text()}`));
page.on('pageerror', (error) => log.errors.push(error.message));
page.on('requestfailed', (request) => log.failed.push(`${request.method()} ${request.url()}: ${request.failure()?.errorText}`));
page.on('dialog', async (dialog) => {
  log.dialogs.push(dialog.message());
  await dialog.accept();
});

async function run(command) {
  if ('goto' in command) {
    const response = await page.goto(command.goto);
    return {url: page.url(), status: response?.status(), title: await page.title()};
  }
  if ('fill' in command) return page.fill(command.fill, command.value);
  if ('select' in command) return page.selectOption(command.select, command.value);
  if ('check' in command) return page.setChecked(command.check, command.on !== false);
  if ('click' in command) {
    if (command.navigate) {
      await Promise.all([page.waitForNavigation(), page.click(command.click)]);
      return {url: page.url(), title: await page.title()};
    }
    return page.click(command.click);
  }
  if ('press' in command) return page.press(command.press, command.key);
  if ('upload' in command) return page.setInputFiles(command.upload, command.files);
  if ('text' in command) return page.textContent(command.text);
  if ('count' in command) return page.locator(command.count).count();
  if ('attr' in command) return page.getAttribute(command.attr, command.name);
  if ('eval' in command) return page.evaluate(command.eval);
  if ('wait' in command) {
    await page.waitForSelector(command.wait, {state: command.state || 'visible', timeout: command.timeout});
    return true;
  }
  if ('waitFor' in command) {
    // Polled from here: waitForFunction evaluates its string inside the page, which the
    // console's CSP (no 'unsafe-eval') refuses; page.evaluate is not subject to it.
    const deadline = Date.now() + (command.timeout || 15000);
    while (!(await page.evaluate(command.waitFor))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${command.waitFor}`);
      await page.waitForTimeout(100);
    }
    return true;
  }
  if ('viewport' in command) return page.setViewportSize({width: command.viewport[0], height: command.viewport[1]});
  if ('screenshot' in command) return (await page.screenshot({path: command.screenshot, fullPage: command.full !== false}), command.screenshot);
  if ('offline' in command) return context.setOffline(command.offline);
  if ('log' in command) return {...log, url: page.url()};
  throw new Error(`unknown command ${JSON.stringify(command)}`);
}

const lines = createInterface({input: process.stdin});
for await (const line of lines) {
  let answer;
  try {
    const value = await run(JSON.parse(line));
    answer = {value: value === undefined ? null : value};
  } catch (error) {
    answer = {error: String(error.message || error).split('\n').slice(0, 6).join('\n')};
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}
await browser.close();
