import type { Page } from 'playwright-core';

/** Reaching the chat widget (in its shadow root) from a Playwright page, as the browser tests do. */

declare global {
  interface Window {
    Switchboard: {
      open(): void;
      close(): void;
      send(text: string): Promise<unknown>;
      readonly conversationId: string | null;
    };
  }
}

export async function waitForOnline(page: Page): Promise<void> {
  await page.locator('[data-testid="switchboard-panel"][data-connection="online"]').waitFor({ state: 'attached', timeout: 10_000 });
}

export async function sendThroughUi(page: Page, text: string): Promise<void> {
  await page.getByTestId('switchboard-input').fill(text);
  await page.getByTestId('switchboard-send').click();
}

/** Waits until the widget's screen-reader announcer says exactly `text`. */
export async function expectAnnounced(page: Page, text: string): Promise<void> {
  await page.waitForFunction(
    (expected) =>
      document.getElementById('switchboard-widget')!.shadowRoot!.querySelector('[data-testid="switchboard-announcer"]')!.textContent ===
      expected,
    text,
    { timeout: 5_000 },
  );
}
