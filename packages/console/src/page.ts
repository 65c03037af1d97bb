/** What every page gets from the shell, and what it gives back: a function that stops its timers and streams. */
export interface PageContext {
  params: URLSearchParams;
  /** Shows an error message in the live region at the top (empty string clears it). */
  notify(message: string): void;
  go(hash: string): void;
}

export type Page = (main: HTMLElement, ctx: PageContext) => (() => void) | void;

export interface DeviceView {
  productKey: string;
  deviceName: string;
  status: string;
  enabled?: boolean;
  createdAt?: string;
  connectedAt?: string;
  disconnectedAt?: string;
  lastDisconnectReason?: string;
  subscriptions?: string[];
  [field: string]: unknown;
}

/** The status a person reads: disabled devices show "disabled" whatever their presence. */
export function shownStatus(device: DeviceView): string {
  return device.enabled === false ? 'disabled' : device.status;
}

export const lastProduct = {
  get: () => sessionStorage.getItem('rrpc.product') ?? '',
  set: (pk: string) => sessionStorage.setItem('rrpc.product', pk),
};
