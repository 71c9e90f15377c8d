// The Audit page: a refused filter (a bad time, a project that is not yours) comes back as one
// row saying why, with a 4xx status; htmx drops error responses unless told to show them.
"use strict";
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (event.detail.target.id === "audit-rows" && (status === 403 || status === 404 || status === 422)) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
