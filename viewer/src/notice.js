// The one place the page tells a person what went wrong (or what to do next). Expected failures
// go here, not to the console.

/**
 * @param {HTMLElement} root #notice
 */
export function createNotice(root) {
  const text = /** @type {HTMLElement} */ (root.querySelector("#notice-text"));
  const retry = /** @type {HTMLButtonElement} */ (root.querySelector("#notice-retry"));
  const dismiss = /** @type {HTMLButtonElement} */ (root.querySelector("#notice-dismiss"));
  /** @type {(() => void) | null} */
  let onRetry = null;

  function hide() {
    root.hidden = true;
    text.textContent = "";
    onRetry = null;
    retry.hidden = true;
    delete root.dataset.kind;
  }

  /**
   * @param {string} message
   * @param {{kind?: "error" | "info", retry?: () => void}} [options]
   */
  function show(message, { kind = "error", retry: retryWith } = {}) {
    // An alert is announced at once; an info waits its turn.
    root.setAttribute("role", kind === "error" ? "alert" : "status");
    root.setAttribute("aria-live", kind === "error" ? "assertive" : "polite");
    root.dataset.kind = kind;
    text.textContent = message;
    onRetry = retryWith ?? null;
    retry.hidden = !retryWith;
    root.hidden = false;
  }

  retry.addEventListener("click", () => {
    const again = onRetry;
    hide();
    again?.();
  });
  dismiss.addEventListener("click", hide);

  return { show, hide, get message() { return root.hidden ? "" : text.textContent || ""; } };
}

/** @typedef {ReturnType<typeof createNotice>} Notice */
