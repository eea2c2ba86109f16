// The console's only script: keyboard-usable tabs, the Monthly/Yearly toggle, the payment
// provider choice, "Load More" through the history cursor, and the balance's Refresh (also every
// 30 s while the Credits tab shows). Everything works as links and forms without it, except those.
"use strict";

function setupTabs() {
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  if (!tabs.length) return;
  function select(tab, focus) {
    for (const other of tabs) {
      const chosen = other === tab;
      other.setAttribute("aria-selected", chosen ? "true" : "false");
      other.tabIndex = chosen ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !chosen;
    }
    if (focus) tab.focus();
    const url = new URL(window.location.href);
    url.searchParams.set("tab", tab.id.replace("tab-", ""));
    url.searchParams.delete("confirm");
    url.searchParams.delete("notice");
    history.replaceState(null, "", url);
  }
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", (event) => { event.preventDefault(); select(tab, false); });
    tab.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 };
      if (event.key in moves) {
        event.preventDefault();
        select(tabs[(moves[event.key] + tabs.length) % tabs.length], true);
      } else if (event.key === " ") {
        event.preventDefault();
        select(tab, false);
      }
    });
  });
}

function setupIntervalToggle() {
  const plans = document.getElementById("plans");
  if (!plans) return;
  for (const radio of document.querySelectorAll('input[name="interval-choice"]')) {
    radio.addEventListener("change", () => {
      if (!radio.checked) return;
      plans.dataset.interval = radio.value;
      for (const input of plans.querySelectorAll(".interval-input")) input.value = radio.value;
      const url = new URL(window.location.href);
      url.searchParams.set("interval", radio.value);
      history.replaceState(null, "", url);
    });
  }
  const provider = document.getElementById("provider-choice");
  if (provider) {
    provider.addEventListener("change", () => {
      for (const input of plans.querySelectorAll(".provider-input")) input.value = provider.value;
    });
  }
}

function setupLoadMore() {
  const button = document.getElementById("load-more");
  const rows = document.getElementById("history-rows");
  const status = document.getElementById("history-status");
  if (!button || !rows) return;
  button.addEventListener("click", async () => {
    const cursor = button.dataset.nextCursor;
    if (!cursor) return;
    button.disabled = true;
    status.textContent = "Loading…";
    try {
      const url = new URL(button.dataset.url, window.location.href);
      url.searchParams.set("cursor", cursor);
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      const body = await response.json();
      if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
      rows.insertAdjacentHTML("beforeend", body.rows_html);
      button.dataset.nextCursor = body.next_cursor || "";
      button.hidden = !body.has_more;
      status.textContent = body.has_more ? `${body.rows} more loaded.` : "That is the whole history.";
    } catch (error) {
      status.textContent = `Could not load more: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
}

function setupBalanceRefresh() {
  const button = document.getElementById("refresh-balance");
  const summary = document.getElementById("balance-summary");
  const status = document.getElementById("refresh-status");
  if (!button || !summary) return;
  async function refresh() {
    button.disabled = true;
    try {
      const response = await fetch(button.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      const body = await response.json();
      if (!response.ok) throw new Error((body.error && body.error.message) || response.statusText);
      summary.innerHTML = body.html;
      status.textContent = `Updated at ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      status.textContent = `Could not refresh: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("click", refresh);
  // While the Credits tab is on screen, the balance follows the ledger on its own.
  const every = Number(button.dataset.everySeconds) * 1000;
  if (every > 0) {
    setInterval(() => {
      if (!document.hidden && !document.getElementById("panel-credits").hidden) refresh();
    }, every);
  }
}

function focusConfirmation() {
  const confirm = document.getElementById("cancel-confirm");
  if (confirm) confirm.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  setupTabs();
  setupIntervalToggle();
  setupLoadMore();
  setupBalanceRefresh();
  focusConfirmation();
});
