/* Starts the vendored Swagger UI on the API docs page (no inline script, no CDN).
   In a staff session, requests made from the page carry the CSRF token. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("swagger-settings").textContent);
  var csrfToken = document.body.dataset.csrfToken;
  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis];
  if (csrfToken) {
    config.requestInterceptor = function (request) {
      request.headers["X-CSRFToken"] = csrfToken;
      return request;
    };
  }
  window.swaggerUi = SwaggerUIBundle(config);
})();
