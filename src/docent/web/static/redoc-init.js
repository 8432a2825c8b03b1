// ReDoc for /redoc, vendored from the npm registry: started here, since the page allows no inline script.
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("api-docs");
  window.Redoc.init(root.dataset.openapi, { disableSearch: false, hideDownloadButton: false }, root);
});
