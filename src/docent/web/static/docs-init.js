// Swagger UI for /docs, from the swagger-ui-bundle wheel: started here, since the page allows no inline script.
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("api-docs");
  window.SwaggerUIBundle({
    url: root.dataset.openapi,
    domNode: root,
    deepLinking: true,
    validatorUrl: null, // the default would send the spec to validator.swagger.io
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
