// The CSP admits inline <style> only with this response's nonce. xterm.js builds its renderer's
// <style> elements with document.createElement, so every <style> created on this page gets the
// nonce this script was loaded with. Loaded first, without defer, before any other script runs.
"use strict";
(() => {
  const nonce = document.currentScript && document.currentScript.nonce;
  if (!nonce) return;
  const create = Document.prototype.createElement;
  Document.prototype.createElement = function (tagName, options) {
    const element = create.call(this, tagName, options);
    if (String(tagName).toLowerCase() === "style") element.nonce = nonce;
    return element;
  };
})();
