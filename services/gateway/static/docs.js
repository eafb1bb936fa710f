// The API's interactive docs: Swagger UI from the gateway itself (no CDN), started here rather
// than in an inline script, so the page keeps the same strict CSP as the main page.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
  });
});
