// A tab list as ARIA describes it: arrow keys, Home and End move between tabs (roving tabindex),
// and only the selected tab's panel is shown.

/**
 * @param {HTMLElement} tablist
 * @param {(tab: HTMLElement) => void} [onSelect]
 */
export function setUpTabs(tablist, onSelect = () => {}) {
  const tabs = /** @type {HTMLElement[]} */ ([...tablist.querySelectorAll('[role="tab"]')]);

  /** @param {HTMLElement} chosen @param {boolean} [focus] */
  function select(chosen, focus = false) {
    for (const tab of tabs) {
      const selected = tab === chosen;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      const panel = document.getElementById(tab.getAttribute("aria-controls") || "");
      if (panel) panel.hidden = !selected;
    }
    if (focus) chosen.focus();
    onSelect(chosen);
  }

  for (const tab of tabs) tab.addEventListener("click", () => select(tab));
  tablist.addEventListener("keydown", (event) => {
    const current = tabs.indexOf(/** @type {HTMLElement} */ (event.target));
    if (current < 0) return;
    const last = tabs.length - 1;
    const next = { ArrowRight: current === last ? 0 : current + 1, ArrowLeft: current === 0 ? last : current - 1, Home: 0, End: last }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    select(tabs[next], true);
  });
  return { select };
}
