// The console's only script: keyboard-usable tabs, the Monthly/Yearly toggle, the payment
// provider choice, and "Load More" through the history cursor. Everything works as links and
// forms without it, except Load More.
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

function focusConfirmation() {
  const confirm = document.getElementById("cancel-confirm");
  if (confirm) confirm.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  setupTabs();
  setupIntervalToggle();
  setupLoadMore();
  focusConfirmation();
});
