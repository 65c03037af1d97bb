/**
 * Starts the vendored Swagger UI on /docs/openapi.json; "Try it out" requests carry the console's signed-in
 * key (sessionStorage of this origin) as a bearer token.
 */
interface SwaggerRequest {
  headers: Record<string, string>;
}
declare const SwaggerUIBundle: (options: Record<string, unknown>) => unknown;

const key = sessionStorage.getItem('rrpc.apiKey');
const note = document.getElementById('docs-key');
if (note) note.textContent = key ? '· "Try it out" uses your signed-in key' : '· sign in to the console to try requests';
SwaggerUIBundle({
  url: 'openapi.json',
  dom_id: '#swagger',
  deepLinking: true,
  tryItOutEnabled: false,
  requestInterceptor: (request: SwaggerRequest) => {
    if (key) request.headers['Authorization'] = `Bearer ${key}`;
    return request;
  },
});
