// Copy buttons, one behaviour for every page: a button with data-copy="#id" copies that element's
// text, and a pre.copyable copies itself when clicked. The clipboard API exists only in a secure
// context (https or localhost); on a plain-http hub the text is selected and copied the old way,
// or left selected with a hint to press Ctrl-C.
"use strict";

(() => {
  let announcer = null;

  // Screen readers hear the outcome too: a button's changed label alone is not announced.
  function announce(text) {
    if (!announcer) {
      announcer = document.createElement("span");
      announcer.className = "sr-only";
      announcer.setAttribute("role", "status");
      document.body.appendChild(announcer);
    }
    announcer.textContent = text;
  }

  function selectContents(el) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // Without the clipboard API: select the element's text and ask the browser to copy it.
  function legacyCopy(source) {
    selectContents(source);
    try {
      return document.execCommand("copy");
    } catch (_) {
      return false;
    }
  }

  async function copyFrom(source) {
    const text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (_) {
        // permission refused: try the selection below
      }
    }
    return legacyCopy(source);
  }

  function confirm(trigger, copied) {
    const message = copied ? "Copied" : "Selected: press Ctrl-C to copy";
    announce(message);
    if (trigger.matches("pre")) {
      trigger.dataset.copied = copied ? "copied" : "press Ctrl-C";
      setTimeout(() => delete trigger.dataset.copied, 1500);
      return;
    }
    if (!trigger.dataset.label) trigger.dataset.label = trigger.textContent;
    trigger.textContent = copied ? "Copied" : "Press Ctrl-C";
    clearTimeout(Number(trigger.dataset.timer));
    trigger.dataset.timer = String(setTimeout(() => (trigger.textContent = trigger.dataset.label), 1500));
  }

  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("[data-copy]");
    const pre = button ? null : ev.target.closest("pre.copyable");
    const trigger = button || pre;
    if (!trigger) return;
    const source = button ? document.querySelector(button.dataset.copy) : pre;
    if (!source || !source.textContent.trim()) return;
    confirm(trigger, await copyFrom(source));
  });
})();
